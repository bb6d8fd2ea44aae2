// The production store: one DynamoDB item per record, in a table with a string partition key `id` and TTL on
// `expiration`. Every operation is one request: claim = one conditional PutItem that returns the item it
// found on conflict (ReturnValuesOnConditionCheckFailure: ALL_OLD), so a repeat costs that single call;
// complete = one UpdateItem and release = one DeleteItem, both conditional on still owning the claim, so a
// rejected duplicate can never free or overwrite the owner's record.
// The AWS SDK is imported on first use: applications that never use this store do not pay its load time.
import type { AttributeValue, ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { AwsClient, AwsClientOptions } from '../aws-client.js'
import { promisify, zlib } from '../builtins.js'
import { uuidV4 } from '../uuid.js'
import { DYNAMODB_MAX_ITEM_BYTES, dynamoDBClient, dynamoDBTableChecks, type DynamoDBModule } from '../dynamodb.js'
import { HALO_ERR_IDEMPOTENCY_STORE, errorMessage } from '../errors.js'
import { integerBetween, validateOptions } from '../options.js'
import {
  COMPLETED, IN_PROGRESS, epochSeconds,
  type ClaimResult, type CompleteResult, type IdempotencyRecord, type IdempotencyStore, type StoredResponse
} from './record.js'

type Item = Record<string, AttributeValue>
type Operation<Output> = (sdk: DynamoDBModule, client: DynamoDBClient) => Promise<Output>

/** The table's partition key and its TTL attribute, which `ensureTable` declares and every call names. */
const KEY_ATTRIBUTE = 'id'
const TTL_ATTRIBUTE = 'expiration'
// What `complete` does not know of the item it completes, at its largest: a sha256 fingerprint in hex, and an
// in-progress expiry in epoch milliseconds.
const LONGEST_FINGERPRINT = '0'.repeat(64)
const LATEST_EPOCH_MS = String(Number.MAX_SAFE_INTEGER)

// A claim's condition: no record, or one past its expiration (DynamoDB TTL deletes late), or one whose owner
// is past its deadline without completing.
const CLAIMABLE = 'attribute_not_exists(#id) OR #expiration < :now OR (#status = :inProgress AND #inProgressExpiry < :nowMs)'

async function gzip (bytes: Buffer): Promise<Buffer> {
  return await promisify(zlib().gzip)(bytes)
}

async function gunzip (bytes: Buffer): Promise<Buffer> {
  return await promisify(zlib().gunzip)(bytes)
}

export interface DynamoDBIdempotencyStoreOptions extends AwsClientOptions<DynamoDBClient> {
  /** The table: string partition key `id`, TTL attribute `expiration` (see `ensureTable`). */
  table: string
  /**
   * Bodies larger than this many bytes are stored gzipped when that makes them smaller (default 1024: below
   * 1 KiB a write costs one unit anyway). Compression also lets answers of several hundred KiB fit an item.
   */
  compressAboveBytes?: number
}

export class DynamoDBIdempotencyStore implements IdempotencyStore {
  readonly table: string
  readonly #aws: AwsClient<DynamoDBModule, DynamoDBClient>
  readonly #compressAboveBytes: number

  constructor (options: DynamoDBIdempotencyStoreOptions) {
    validateOptions('DynamoDBIdempotencyStore', options ?? {}, {
      ...dynamoDBTableChecks,
      compressAboveBytes: integerBetween(0)
    }, { required: ['table'] })
    this.table = options.table
    this.#aws = dynamoDBClient(options)
    this.#compressAboveBytes = options.compressAboveBytes ?? 1024
  }

  /**
   * Creates the table where it is missing (DynamoDB Local, first runs): partition key `id` (string), on-demand
   * billing, TTL on `expiration`, and waits until it is ACTIVE. Does nothing to a table that exists. Needs
   * `dynamodb:CreateTable` even then, as it asks to create first; production tables are better declared in
   * CloudFormation (README). dynalite knows no TTL: there, records past `expiration` are simply never deleted.
   */
  async ensureTable (): Promise<void> {
    const TableName = this.table
    const created = await this.#call(async (sdk, client) => await client.send(new sdk.CreateTableCommand({
      TableName,
      AttributeDefinitions: [{ AttributeName: KEY_ATTRIBUTE, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: KEY_ATTRIBUTE, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST'
    }))).then(() => true, (error: unknown) => {
      expectedCause(error, 'ResourceInUseException')
      return false
    })
    await this.#call(async (sdk, client) =>
      await sdk.waitUntilTableExists({ client, minDelay: 0.1, maxDelay: 2, maxWaitTime: 120 }, { TableName }))
    if (created) {
      await this.#call(async (sdk, client) => await client.send(new sdk.UpdateTimeToLiveCommand({
        TableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: TTL_ATTRIBUTE }
      }))).catch((error: unknown) => expectedCause(error, 'UnknownOperationException'))
    }
  }

  async claim (id: string, fingerprint: string, inProgressExpiry: number, ttlSeconds: number, signal?: AbortSignal): Promise<ClaimResult> {
    const now = Date.now()
    const owner = uuidV4()
    try {
      await this.#call(async (sdk, client) => await client.send(new sdk.PutItemCommand({
        TableName: this.table,
        Item: {
          [KEY_ATTRIBUTE]: { S: id },
          status: { S: IN_PROGRESS },
          fingerprint: { S: fingerprint },
          [TTL_ATTRIBUTE]: { N: String(epochSeconds(now) + ttlSeconds) },
          inProgressExpiry: { N: String(inProgressExpiry) },
          owner: { S: owner }
        },
        ConditionExpression: CLAIMABLE,
        ExpressionAttributeNames: { '#id': KEY_ATTRIBUTE, '#expiration': TTL_ATTRIBUTE, '#status': 'status', '#inProgressExpiry': 'inProgressExpiry' },
        ExpressionAttributeValues: {
          ':now': { N: String(epochSeconds(now)) },
          ':nowMs': { N: String(now) },
          ':inProgress': { S: IN_PROGRESS }
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD'
      }), { abortSignal: signal }))
      return { claimed: true, owner }
    } catch (error) {
      const conflict = expectedCause<ConditionalCheckFailedException>(error, 'ConditionalCheckFailedException')
      // dynalite ignores ReturnValuesOnConditionCheckFailure: read the record instead. Released in between, it
      // is gone, and the claim is tried again.
      const item = conflict.Item ?? await this.#read(id, signal)
      if (item === undefined) return await this.claim(id, fingerprint, inProgressExpiry, ttlSeconds, signal)
      return { claimed: false, existing: await toRecord(item) }
    }
  }

  /**
   * Stores the answer with one conditional UpdateItem. The body is gzipped above `compressAboveBytes` when
   * that helps; an item that would still exceed DynamoDB's 400 KiB is not written: the claim is released
   * instead and the result is 'too-large' (with the item's size as `bytes`).
   */
  async complete (id: string, owner: string, response: StoredResponse, ttlSeconds: number, signal?: AbortSignal): Promise<CompleteResult> {
    const body = await this.#encode(response.body)
    const written: Item = {
      status: { S: COMPLETED },
      [TTL_ATTRIBUTE]: { N: String(epochSeconds(Date.now()) + ttlSeconds) },
      statusCode: { N: String(response.statusCode) },
      headers: { S: JSON.stringify(response.headers) },
      body: { B: body.bytes },
      bodyEncoding: { S: body.encoding }
    }
    const bytes = itemBytes({ ...written, [KEY_ATTRIBUTE]: { S: id }, owner: { S: owner }, fingerprint: { S: LONGEST_FINGERPRINT }, inProgressExpiry: { N: LATEST_EPOCH_MS } })
    // Counted with the fingerprint and expiry at their longest, the size is never under the item's own.
    if (bytes > DYNAMODB_MAX_ITEM_BYTES) {
      await this.release(id, owner, signal)
      return { stored: false, reason: 'too-large', bytes, limit: DYNAMODB_MAX_ITEM_BYTES }
    }
    const names = Object.keys(written)
    try {
      await this.#call(async (sdk, client) => await client.send(new sdk.UpdateItemCommand({
        TableName: this.table,
        Key: { [KEY_ATTRIBUTE]: { S: id } },
        UpdateExpression: `SET ${names.map((name) => `#${name} = :${name}`).join(', ')}`,
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: Object.fromEntries([...names, 'owner'].map((name) => [`#${name}`, name])),
        ExpressionAttributeValues: Object.fromEntries([...names.map((name) => [`:${name}`, written[name]!]), [':owner', { S: owner }]])
      }), { abortSignal: signal }))
      return { stored: true }
    } catch (error) {
      expectedCause(error, 'ConditionalCheckFailedException')
      return { stored: false, reason: 'claim-lost' }
    }
  }

  async release (id: string, owner: string, signal?: AbortSignal): Promise<void> {
    await this.#call(async (sdk, client) => await client.send(new sdk.DeleteItemCommand({
      TableName: this.table,
      Key: { [KEY_ATTRIBUTE]: { S: id } },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': { S: owner } }
    }), { abortSignal: signal })).catch((error: unknown) => expectedCause(error, 'ConditionalCheckFailedException'))
  }

  async #read (id: string, signal?: AbortSignal): Promise<Item | undefined> {
    const { Item } = await this.#call(async (sdk, client) => await client.send(new sdk.GetItemCommand({
      TableName: this.table,
      Key: { [KEY_ATTRIBUTE]: { S: id } },
      ConsistentRead: true
    }), { abortSignal: signal }))
    return Item
  }

  async #encode (body: Buffer): Promise<{ bytes: Buffer, encoding: 'gzip' | 'identity' }> {
    if (body.byteLength > this.#compressAboveBytes) {
      const compressed = await gzip(body)
      if (compressed.byteLength < body.byteLength) return { bytes: compressed, encoding: 'gzip' }
    }
    return { bytes: body, encoding: 'identity' }
  }

  /** Destroys the client the store made for itself (one it was given is the giver's to destroy). */
  async destroy (): Promise<void> {
    await this.#aws.destroy()
  }

  /** Runs one SDK call; any failure is thrown as HALO_ERR_IDEMPOTENCY_STORE, with the SDK's error as `cause`. */
  async #call<Output> (operation: Operation<Output>): Promise<Output> {
    try {
      const { sdk, client } = await this.#aws.connect()
      return await operation(sdk, client)
    } catch (error) {
      throw Object.assign(new HALO_ERR_IDEMPOTENCY_STORE(describeFailure(error)), { cause: error })
    }
  }
}

/**
 * What the endpoint answered, for the 503's message and log line: an answer the SDK cannot parse (a proxy's
 * or a wrong endpoint's 404) reaches us as a bare `UnknownError`, and only its HTTP status tells why.
 */
function describeFailure (error: unknown): string {
  const message = errorMessage(error)
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
  if (status === undefined) return message
  return `${(error as Error).name}: ${message} (the endpoint answered HTTP ${status})`
}

/**
 * The SDK error behind a store error when it is the named one, which the caller expects as an answer (a
 * condition that did not hold, a table that exists); any other error is rethrown.
 */
function expectedCause<Cause extends Error = Error> (storeError: unknown, name: string): Cause {
  const { cause } = storeError as { cause: Error }
  if (cause.name !== name) throw storeError
  return cause as Cause
}

/**
 * An item's size as DynamoDB counts it: each attribute's name in UTF-8 plus its value: a string's UTF-8
 * bytes, a binary's bytes, a number's 1 byte per two significant digits plus 1.
 */
export function itemBytes (item: Item): number {
  let bytes = 0
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name)
    if (value.S !== undefined) bytes += Buffer.byteLength(value.S)
    else if (value.B !== undefined) bytes += value.B.byteLength
    else if (value.N !== undefined) bytes += Math.ceil(value.N.replace(/^[-+]?0*|\.|0*$/g, '').length / 2) + 1
  }
  return bytes
}

async function toRecord (item: Item): Promise<IdempotencyRecord> {
  const record = {
    id: item[KEY_ATTRIBUTE].S as string,
    fingerprint: item.fingerprint.S as string,
    expiration: Number(item[TTL_ATTRIBUTE].N),
    inProgressExpiry: Number(item.inProgressExpiry.N),
    owner: item.owner.S as string
  }
  if (item.status.S === IN_PROGRESS) return { ...record, status: IN_PROGRESS }
  const stored = item.body.B as Uint8Array
  const body = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength)
  return {
    ...record,
    status: COMPLETED,
    response: {
      statusCode: Number(item.statusCode.N),
      headers: JSON.parse(item.headers.S as string) as StoredResponse['headers'],
      body: item.bodyEncoding.S === 'gzip' ? await gunzip(body) : body
    }
  }
}
