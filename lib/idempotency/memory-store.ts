// The local default: records in a Map, bounded by count and evicted least recently used first (Map keeps
// insertion order, and a record used again is moved to the end). Claims are atomic because each call runs
// without awaiting anything. Per process only: on Lambda each instance has its own, so use DynamoDB there.
import { randomUUID } from 'node:crypto'
import { DYNAMODB_MAX_ITEM_BYTES } from '../dynamodb.js'
import { integerBetween, validateOptions } from '../options.js'
import {
  COMPLETED, IN_PROGRESS, epochSeconds, isLive,
  type ClaimResult, type CompleteResult, type IdempotencyRecord, type IdempotencyStore, type IdempotencyStoreCapabilities, type StoredResponse
} from './record.js'

export interface MemoryIdempotencyStoreOptions {
  /** Records kept at most; the least recently used goes first (default 10 000). */
  maxEntries?: number
  /** Largest answer body stored, in bytes (default 400 KiB, DynamoDB's item limit); larger ones are 'too-large'. */
  maxBodyBytes?: number
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  /** Every call answers at once: a deadline's signal would bound nothing. */
  readonly capabilities: IdempotencyStoreCapabilities = { signal: false }
  readonly #records = new Map<string, IdempotencyRecord>()
  readonly #maxEntries: number
  readonly #maxBodyBytes: number

  constructor (options: MemoryIdempotencyStoreOptions = {}) {
    validateOptions('MemoryIdempotencyStore', options, {
      maxEntries: integerBetween(1),
      maxBodyBytes: integerBetween(0)
    })
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxBodyBytes = options.maxBodyBytes ?? DYNAMODB_MAX_ITEM_BYTES
  }

  /** How many records are held, live or expired. */
  get size (): number {
    return this.#records.size
  }

  async claim (id: string, fingerprint: string, inProgressExpiry: number, ttlSeconds: number): Promise<ClaimResult> {
    const now = Date.now()
    const existing = this.#records.get(id)
    if (existing !== undefined && isLive(existing, now)) {
      this.#keep(existing)
      return { claimed: false, existing }
    }
    const owner = randomUUID()
    this.#keep({ id, status: IN_PROGRESS, fingerprint, expiration: epochSeconds(now) + ttlSeconds, inProgressExpiry, owner })
    return { claimed: true, owner }
  }

  async complete (id: string, owner: string, response: StoredResponse, ttlSeconds: number): Promise<CompleteResult> {
    const record = this.#records.get(id)
    if (record?.owner !== owner) return { stored: false, reason: 'claim-lost' }
    if (response.body.byteLength > this.#maxBodyBytes) {
      this.#records.delete(id)
      return { stored: false, reason: 'too-large', bytes: response.body.byteLength, limit: this.#maxBodyBytes }
    }
    this.#keep({ ...record, status: COMPLETED, expiration: epochSeconds(Date.now()) + ttlSeconds, response })
    return { stored: true }
  }

  async release (id: string, owner: string): Promise<void> {
    if (this.#records.get(id)?.owner === owner) this.#records.delete(id)
  }

  /** Stores the record as the most recently used, evicting the least recently used beyond the bound. */
  #keep (record: IdempotencyRecord): void {
    this.#records.delete(record.id)
    this.#records.set(record.id, record)
    if (this.#records.size > this.#maxEntries) this.#records.delete(this.#records.keys().next().value as string)
  }
}
