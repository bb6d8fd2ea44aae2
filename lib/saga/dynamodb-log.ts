// The saga log in DynamoDB, for production: one item per saga, one call per transition (an UpdateItem
// conditional on the owner, which fences off a run that a recoverer took over). Open sagas carry an
// `open` attribute that a sparse index is keyed on, so finding them reads only those, never the table.
// The AWS SDK is imported on first use, so that loading Halo without this log does not load the SDK.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { HALO_ERR_SAGA_CONFLICT } from '../errors.js'
import { integerBetween, isDynamoDBTableName, isNonEmptyString, isObject, validateOptions } from '../options.js'
import { OPEN_STATUSES, type NewSaga, type OpenSaga, type SagaChanges, type SagaEvent, type SagaLog, type SagaRecord, type SagaStatus } from './log.js'

type Sdk = typeof import('@aws-sdk/client-dynamodb')
type Item = Record<string, AttributeValue>

export interface DynamoDBSagaLogOptions {
  /** The table: see `DynamoDBSagaLog` for its shape, or let `ensureTable()` create it. */
  table: string
  /** Default: a client for `region` and `endpoint`, with the SDK's usual credentials. */
  client?: DynamoDBClient
  region?: string
  endpoint?: string
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

  constructor (event: SagaEvent, changes: SagaChanges, retentionSeconds: number) {
    this.values[':event'] = { L: [json(event)] }
    this.values[':updatedAt'] = N(event.at)
    if (changes.started !== undefined) this.#append('started', changes.started)
    if (changes.compensated !== undefined) this.#append('compensated', changes.compensated)
    if (changes.failure !== undefined) this.set('failure', json(changes.failure))
    if (changes.pending !== undefined) this.set('pending', strings(changes.pending))
    if (changes.result !== undefined) {
      this.names['#results'] = 'results'
      this.names['#resultKey'] = changes.result.key
      this.values[':result'] = json(changes.result.value)
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
    this.#sets.push(`#${attribute} = :${attribute}`)
  }

  #append (attribute: string, value: string): void {
    this.names[`#${attribute}`] = attribute
    this.values[`:${attribute}`] = strings([value])
    this.#sets.push(`#${attribute} = list_append(#${attribute}, :${attribute})`)
  }

  get expression (): string {
    const remove = this.#removes.length === 0 ? '' : ` REMOVE ${this.#removes.join(', ')}`
    return `SET ${this.#sets.join(', ')} ADD #version :one${remove}`
  }
}

function isConditionFailure (error: unknown): boolean {
  return (error as Error).name === 'ConditionalCheckFailedException'
}

/**
 * A saga log in a DynamoDB table with a string partition key `sagaId`, and a global secondary index
 * `open-sagas` (partition key `open`, string; sort key `updatedAt`, number; projecting `name`, `status`
 * and `version`). Enable TTL on `expiration` to have finished sagas deleted after `retentionSeconds`.
 * Payloads, results and events are stored as JSON text.
 */
export class DynamoDBSagaLog implements SagaLog {
  readonly table: string
  readonly #options: DynamoDBSagaLogOptions
  readonly #retentionSeconds: number
  #connection: Promise<{ sdk: Sdk, client: DynamoDBClient }> | undefined

  constructor (options: DynamoDBSagaLogOptions) {
    validateOptions('DynamoDBSagaLog', options, {
      table: isDynamoDBTableName,
      client: isObject,
      region: isNonEmptyString,
      endpoint: isNonEmptyString,
      retentionSeconds: integerBetween(1)
    }, ['table'])
    this.table = options.table
    this.#options = options
    this.#retentionSeconds = options.retentionSeconds ?? 7 * 24 * 3600
  }

  /** Creates the table and its index where they are missing (DynamoDB Local, first runs), and waits for them. */
  async ensureTable (): Promise<void> {
    const { sdk, client } = await this.#connect()
    try {
      await client.send(new sdk.CreateTableCommand({
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
      }))
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error
    }
    await sdk.waitUntilTableExists({ client, minDelay: 1, maxWaitTime: 60 }, { TableName: this.table })
  }

  async create (saga: NewSaga, event: SagaEvent): Promise<void> {
    const { sdk, client } = await this.#connect()
    try {
      await client.send(new sdk.PutItemCommand({
        TableName: this.table,
        Item: {
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
        },
        ConditionExpression: 'attribute_not_exists(sagaId)'
      }))
    } catch (error) {
      if (isConditionFailure(error)) throw new HALO_ERR_SAGA_CONFLICT(saga.sagaId)
      throw error
    }
  }

  async update (sagaId: string, owner: string, event: SagaEvent, changes: SagaChanges = {}): Promise<void> {
    const { sdk, client } = await this.#connect()
    const update = new Update(event, changes, this.#retentionSeconds)
    update.names['#owner'] = 'owner'
    update.values[':owner'] = S(owner)
    try {
      await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: update.expression,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values
      }))
    } catch (error) {
      if (isConditionFailure(error)) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
      throw error
    }
  }

  async claim (sagaId: string, owner: string, version: number, event: SagaEvent, leaseUntil: number): Promise<SagaRecord | undefined> {
    const { sdk, client } = await this.#connect()
    const update = new Update(event, { status: 'recovering' }, this.#retentionSeconds)
    update.set('owner', S(owner))
    update.set(LEASE_UNTIL, N(leaseUntil))
    update.names[`#${OPEN}`] = OPEN
    update.values[':seenVersion'] = N(version)
    update.values[':now'] = N(event.at)
    try {
      const { Attributes } = await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: update.expression,
        ConditionExpression: `#version = :seenVersion AND attribute_exists(#${OPEN}) AND (attribute_not_exists(#${LEASE_UNTIL}) OR #${LEASE_UNTIL} < :now)`,
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values,
        ReturnValues: 'ALL_NEW'
      }))
      return toRecord(Attributes as Item)
    } catch (error) {
      if (isConditionFailure(error)) return undefined
      throw error
    }
  }

  async renew (sagaId: string, owner: string, leaseUntil: number): Promise<void> {
    const { sdk, client } = await this.#connect()
    try {
      await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { sagaId: S(sagaId) },
        UpdateExpression: `SET #${LEASE_UNTIL} = :leaseUntil`,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { [`#${LEASE_UNTIL}`]: LEASE_UNTIL, '#owner': 'owner' },
        ExpressionAttributeValues: { ':leaseUntil': N(leaseUntil), ':owner': S(owner) }
      }))
    } catch (error) {
      if (isConditionFailure(error)) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
      throw error
    }
  }

  async get (sagaId: string): Promise<SagaRecord | undefined> {
    const { sdk, client } = await this.#connect()
    const { Item } = await client.send(new sdk.GetItemCommand({ TableName: this.table, Key: { sagaId: S(sagaId) }, ConsistentRead: true }))
    return Item === undefined ? undefined : toRecord(Item)
  }

  async listOpen (notUpdatedSince: number): Promise<OpenSaga[]> {
    const { sdk, client } = await this.#connect()
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
    if (this.#connection === undefined || this.#options.client !== undefined) return
    const { client } = await this.#connection
    client.destroy()
  }

  async #connect (): Promise<{ sdk: Sdk, client: DynamoDBClient }> {
    this.#connection ??= import('@aws-sdk/client-dynamodb').then((sdk) => ({
      sdk,
      client: this.#options.client ?? new sdk.DynamoDBClient({ region: this.#options.region, endpoint: this.#options.endpoint })
    }))
    return await this.#connection
  }
}
