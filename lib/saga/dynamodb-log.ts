// The saga log in DynamoDB, for production: one item per saga, one call per transition (an UpdateItem
// conditional on the owner, which fences off a run that a recoverer took over). Open sagas carry an
// `open` attribute that a sparse index is keyed on, so finding them reads only those, never the table.
// The AWS SDK is imported on first use, so that loading Halo without this log does not load the SDK.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { AwsClient, AwsClientOptions, AwsConnection } from '../aws-client.js'
import { DYNAMODB_MAX_ITEM_BYTES, dynamoDBClient, dynamoDBTableChecks, type DynamoDBModule } from '../dynamodb.js'
import { errorMessage, HALO_ERR_SAGA_CONFLICT, HALO_ERR_SAGA_LOG, HALO_ERR_SAGA_RECORD_TOO_LARGE } from '../errors.js'
import { integerBetween, validateOptions } from '../options.js'
import { OPEN_STATUSES, type NewSaga, type OpenSaga, type SagaChanges, type SagaEvent, type SagaLog, type SagaRecord, type SagaStatus } from './log.js'

type Item = Record<string, AttributeValue>

export interface DynamoDBSagaLogOptions extends AwsClientOptions<DynamoDBClient> {
  /** The table: see `DynamoDBSagaLog` for its shape, or let `ensureTable()` create it. */
  table: string
  /**
   * How long a committed or rolled-back saga's record is kept, through the TTL attribute `expiration`
   * (default 7 days). Failed sagas are kept until an operator deletes them.
   */
  retentionSeconds?: number
}

/** The sparse index of open sagas: partition key `open`, sort key `updatedAt`. */
export const OPEN_SAGAS_INDEX = 'open-sagas'
const OPEN = 'open'
const LEASE_UNTIL = 'leaseUntil'
/** The item's size as far as the log has counted it, every write's growth added (never less than the real size). */
const BYTES = 'bytes'
/**
 * What a write carrying a result must leave free in the item: the room for the transitions of the
 * compensations and of recoveries (claims, leases), so that a saga whose results filled its record can
 * still be finished.
 */
export const SAGA_RECOVERY_HEADROOM_BYTES = 64 * 1024
/** The size a Number takes at most (38 digits of precision). */
const NUMBER_BYTES = 21

/** The size DynamoDB counts for a value: UTF-8 text, 3 bytes per list or map and 1 per element. */
function valueBytes (value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S)
  if (value.N !== undefined) return NUMBER_BYTES
  if (value.L !== undefined) return value.L.reduce((sum, element) => sum + 1 + valueBytes(element), 3)
  return itemBytes(value.M as Item) + 3
}

function itemBytes (item: Item): number {
  let bytes = 0
  for (const [name, value] of Object.entries(item)) bytes += 1 + Buffer.byteLength(name) + valueBytes(value)
  return bytes
}

const S = (value: string): AttributeValue => ({ S: value })
const N = (value: number): AttributeValue => ({ N: String(value) })
const json = (value: unknown): AttributeValue => ({ S: JSON.stringify(value) ?? 'null' })
const strings = (values: readonly string[]): AttributeValue => ({ L: values.map(S) })

const text = (item: Item, attribute: string): string => item[attribute].S as string
const number = (item: Item, attribute: string): number => Number(item[attribute].N)
const parsed = (item: Item, attribute: string): unknown => JSON.parse(text(item, attribute))
const list = (item: Item, attribute: string): AttributeValue[] => item[attribute].L as AttributeValue[]

function toRecord (item: Item): SagaRecord {
  const record: SagaRecord = {
    sagaId: text(item, 'sagaId'),
    name: text(item, 'name'),
    status: text(item, 'status') as SagaStatus,
    owner: text(item, 'owner'),
    payloads: parsed(item, 'payloads') as Record<string, unknown>,
    results: Object.fromEntries(Object.entries(item.results.M as Item).map(([key, value]) => [key, JSON.parse(value.S as string)])),
    started: list(item, 'started').map((value) => value.S as string),
    compensated: list(item, 'compensated').map((value) => value.S as string),
    pending: list(item, 'pending').map((value) => value.S as string),
    events: list(item, 'events').map((value) => JSON.parse(value.S as string)),
    createdAt: number(item, 'createdAt'),
    updatedAt: number(item, 'updatedAt'),
    version: number(item, 'version')
  }
  if (item.failure !== undefined) record.failure = parsed(item, 'failure') as SagaRecord['failure']
  if (item[LEASE_UNTIL] !== undefined) record.leaseUntil = number(item, LEASE_UNTIL)
  return record
}

/** One UpdateItem's expression: the event appended, `updatedAt` and `version` moved on, the changes applied. */
class Update {
  readonly names: Record<string, string> = { '#events': 'events', '#updatedAt': 'updatedAt', '#version': 'version' }
  readonly values: Record<string, AttributeValue> = { ':one': N(1) }
  readonly #sets = ['#events = list_append(#events, :event)', '#updatedAt = :updatedAt']
  readonly #removes: string[] = []
  /** How much the item may grow: every value set is counted whole, as if nothing it replaces were freed. */
  bytes: number

  constructor (event: SagaEvent, changes: SagaChanges, retentionSeconds: number) {
    this.values[':event'] = { L: [json(event)] }
    this.values[':updatedAt'] = N(event.at)
    this.bytes = 1 + valueBytes(this.values[':event'].L?.[0] as AttributeValue) + NUMBER_BYTES * 2
    if (changes.started !== undefined) this.#append('started', changes.started)
    if (changes.compensated !== undefined) this.#append('compensated', changes.compensated)
    if (changes.failure !== undefined) this.set('failure', json(changes.failure))
    if (changes.pending !== undefined) this.set('pending', strings(changes.pending))
    if (changes.result !== undefined) {
      this.names['#results'] = 'results'
      this.names['#resultKey'] = changes.result.key
      this.values[':result'] = json(changes.result.value)
      this.bytes += 1 + Buffer.byteLength(changes.result.key) + valueBytes(this.values[':result'])
      this.#sets.push('#results.#resultKey = :result')
    }
    if (changes.status !== undefined) {
      this.set('status', S(changes.status))
      if (!OPEN_STATUSES.includes(changes.status)) {
        this.names[`#${OPEN}`] = OPEN
        this.#removes.push(`#${OPEN}`)
        if (changes.status !== 'failed') this.set('expiration', N(Math.floor(event.at / 1000) + retentionSeconds))
      }
    }
  }

  set (attribute: string, value: AttributeValue): void {
    this.names[`#${attribute}`] = attribute
    this.values[`:${attribute}`] = value
    this.bytes += 1 + Buffer.byteLength(attribute) + valueBytes(value)
    this.#sets.push(`#${attribute} = :${attribute}`)
  }

  #append (attribute: string, value: string): void {
    this.names[`#${attribute}`] = attribute
    this.values[`:${attribute}`] = strings([value])
    this.bytes += 1 + Buffer.byteLength(value)
    this.#sets.push(`#${attribute} = list_append(#${attribute}, :${attribute})`)
  }

  get expression (): string {
    this.names[`#${BYTES}`] = BYTES
    this.values[':bytes'] = N(this.bytes)
    const remove = this.#removes.length === 0 ? '' : ` REMOVE ${this.#removes.join(', ')}`
    return `SET ${this.#sets.join(', ')} ADD #version :one, #${BYTES} :bytes${remove}`
  }
}

/** Whether a saga log error is DynamoDB refusing a write's condition. */
function isConditionFailure (error: unknown): boolean {
  return (error as { cause?: Error }).cause?.name === 'ConditionalCheckFailedException'
}

/**
 * A saga log in a DynamoDB table with a string partition key `sagaId`, and a global secondary index
 * `open-sagas` (partition key `open`, string; sort key `updatedAt`, number; projecting `name`, `status`
 * and `version`). Enable TTL on `expiration` to have finished sagas deleted after `retentionSeconds`.
 * Payloads, results and events are stored as JSON text.
 */
export class DynamoDBSagaLog implements SagaLog {
  readonly table: string
  readonly #aws: AwsClient<DynamoDBModule, DynamoDBClient>
  readonly #retentionSeconds: number

  constructor (options: DynamoDBSagaLogOptions) {
    validateOptions('DynamoDBSagaLog', options, {
      ...dynamoDBTableChecks,
      retentionSeconds: integerBetween(1)
    }, { required: ['table'] })
    this.table = options.table
    this.#aws = dynamoDBClient(options)
    this.#retentionSeconds = options.retentionSeconds ?? 7 * 24 * 3600
  }

  /**
   * Creates the table and its index where they are missing (DynamoDB Local, first runs), with TTL on
   * `expiration`, and waits for them. dynalite knows no TTL: there, finished sagas are never deleted.
   */
  async ensureTable (): Promise<void> {
    const { sdk } = await this.#connect()
    const created = await this.#call(async (client) => await client.send(new sdk.CreateTableCommand({
      TableName: this.table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'sagaId', AttributeType: 'S' },
        { AttributeName: OPEN, AttributeType: 'S' },
        { AttributeName: 'updatedAt', AttributeType: 'N' }
      ],
      KeySchema: [{ AttributeName: 'sagaId', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [{
        IndexName: OPEN_SAGAS_INDEX,
        KeySchema: [{ AttributeName: OPEN, KeyType: 'HASH' }, { AttributeName: 'updatedAt', KeyType: 'RANGE' }],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['name', 'status', 'version'] }
      }]
    }))).then(() => true, (error: unknown) => {
      if ((error as { cause: Error }).cause.name !== 'ResourceInUseException') throw error
      return false
    })
    await this.#call(async (client) => await sdk.waitUntilTableExists({ client, minDelay: 1, maxWaitTime: 60 }, { TableName: this.table }))
    if (!created) return
    await this.#call(async (client) => await client.send(new sdk.UpdateTimeToLiveCommand({ TableName: this.table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expiration' } })))
      .catch((error: unknown) => { if ((error as { cause: Error }).cause.name !== 'UnknownOperationException') throw error })
  }

  async create (saga: NewSaga, event: SagaEvent): Promise<void> {
    const { sdk } = await this.#connect()
    const item: Item = {
      sagaId: S(saga.sagaId),
      name: S(saga.name),
      status: S('running'),
      owner: S(saga.owner),
      [OPEN]: S(OPEN),
      payloads: json(saga.payloads),
      results: { M: {} },
      started: strings([]),
      compensated: strings([]),
      pending: strings([]),
      events: { L: [json(event)] },
      createdAt: N(event.at),
      updatedAt: N(event.at),
      version: N(1)
    }
    const bytes = itemBytes(item) + 1 + BYTES.length + NUMBER_BYTES
    const room = DYNAMODB_MAX_ITEM_BYTES - SAGA_RECOVERY_HEADROOM_BYTES
    if (bytes > room) throw new HALO_ERR_SAGA_RECORD_TOO_LARGE(`the payloads make a record of ${bytes} bytes, past ${room}`)
    item[BYTES] = N(bytes)
    try {
      await this.#call(async (client) => await client.send(new sdk.PutItemCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(sagaId)' })))
    } catch (error) {
      if (isConditionFailure(error)) throw new HALO_ERR_SAGA_CONFLICT(saga.sagaId)
      throw error
    }
  }

  async update (sagaId: string, owner: string, event: SagaEvent, changes: SagaChanges = {}): Promise<void> {
    const { sdk } = await this.#connect()
    const update = new Update(event, changes, this.#retentionSeconds)
    const expression = update.expression
    // A result must leave the headroom free; the transitions after it may use it.
    const room = DYNAMODB_MAX_ITEM_BYTES - update.bytes - (changes.result === undefined ? 0 : SAGA_RECOVERY_HEADROOM_BYTES)
    if (room < 0) throw this.#tooLarge(sagaId, changes, update.bytes)
    update.names['#owner'] = 'owner'
    update.values[':owner'] = S(owner)
    update.values[':room'] = N(room)
    try {
      await this.#call(async (client) => await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: expression,
        ConditionExpression: `#owner = :owner AND (attribute_not_exists(#${BYTES}) OR #${BYTES} <= :room)`,
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values
      })))
    } catch (error) {
      if (!isConditionFailure(error)) throw error
      const { Item } = await this.#call(async (client) => await client.send(new sdk.GetItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        ProjectionExpression: '#owner, #bytes',
        ExpressionAttributeNames: { '#owner': 'owner', '#bytes': BYTES },
        ConsistentRead: true
      })))
      if (Item?.owner.S !== owner) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
      throw this.#tooLarge(sagaId, changes, update.bytes + number(Item, BYTES))
    }
  }

  #tooLarge (sagaId: string, changes: SagaChanges, bytes: number): Error {
    const what = changes.result === undefined ? `saga ${sagaId}` : `the result ${changes.result.key} of saga ${sagaId}`
    return new HALO_ERR_SAGA_RECORD_TOO_LARGE(`${what} would make a record of ${bytes} bytes, past ${DYNAMODB_MAX_ITEM_BYTES} less ${SAGA_RECOVERY_HEADROOM_BYTES} kept for compensating`)
  }

  async claim (sagaId: string, owner: string, version: number, event: SagaEvent, leaseUntil: number): Promise<SagaRecord | undefined> {
    const { sdk } = await this.#connect()
    const update = new Update(event, { status: 'recovering' }, this.#retentionSeconds)
    update.set('owner', S(owner))
    update.set(LEASE_UNTIL, N(leaseUntil))
    update.names[`#${OPEN}`] = OPEN
    update.values[':seenVersion'] = N(version)
    update.values[':now'] = N(event.at)
    try {
      const { Attributes } = await this.#call(async (client) => await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: update.expression,
        ConditionExpression: `#version = :seenVersion AND attribute_exists(#${OPEN}) AND (attribute_not_exists(#${LEASE_UNTIL}) OR #${LEASE_UNTIL} < :now)`,
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values,
        ReturnValues: 'ALL_NEW'
      })))
      return toRecord(Attributes as Item)
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }

  async renew (sagaId: string, owner: string, leaseUntil: number): Promise<void> {
    const { sdk } = await this.#connect()
    try {
      await this.#call(async (client) => await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: `SET #${LEASE_UNTIL} = :leaseUntil`,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { [`#${LEASE_UNTIL}`]: LEASE_UNTIL, '#owner': 'owner' },
        ExpressionAttributeValues: { ':leaseUntil': N(leaseUntil), ':owner': S(owner) }
      })))
    } catch (error) {
      if (isConditionFailure(error)) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
      throw error
    }
  }

  async get (sagaId: string): Promise<SagaRecord | undefined> {
    const { sdk } = await this.#connect()
    const { Item } = await this.#call(async (client) => await client.send(new sdk.GetItemCommand({ TableName: this.table, Key: { sagaId: S(sagaId) }, ConsistentRead: true })))
    return Item === undefined ? undefined : toRecord(Item)
  }

  async listOpen (notUpdatedSince: number): Promise<OpenSaga[]> {
    const { sdk } = await this.#connect()
    return await this.#call(async (client) => await this.#readOpen(sdk, client, notUpdatedSince))
  }

  async #readOpen (sdk: DynamoDBModule, client: DynamoDBClient, notUpdatedSince: number): Promise<OpenSaga[]> {
    const open: OpenSaga[] = []
    const pages = sdk.paginateQuery({ client }, {
      TableName: this.table,
      IndexName: OPEN_SAGAS_INDEX,
      KeyConditionExpression: '#open = :open AND #updatedAt <= :since',
      ExpressionAttributeNames: { '#open': OPEN, '#updatedAt': 'updatedAt' },
      ExpressionAttributeValues: { ':open': S(OPEN), ':since': N(notUpdatedSince) }
    })
    for await (const page of pages) {
      for (const item of page.Items as Item[]) {
        open.push({
          sagaId: text(item, 'sagaId'),
          name: text(item, 'name'),
          status: text(item, 'status') as SagaStatus,
          updatedAt: number(item, 'updatedAt'),
          version: number(item, 'version')
        })
      }
    }
    return open
  }

  /** Destroys the client the log made for itself (one it was given is the giver's to destroy). */
  async destroy (): Promise<void> {
    await this.#aws.destroy()
  }

  /** Runs one call to DynamoDB; any failure is thrown as HALO_ERR_SAGA_LOG, with the SDK's error as `cause`. */
  async #call<Output> (operation: (client: DynamoDBClient) => Promise<Output>): Promise<Output> {
    try {
      const { client } = await this.#connect()
      return await operation(client)
    } catch (error) {
      throw Object.assign(new HALO_ERR_SAGA_LOG(errorMessage(error)), { cause: error })
    }
  }

  async #connect (): Promise<AwsConnection<DynamoDBModule, DynamoDBClient>> {
    return await this.#aws.connect()
  }
}
