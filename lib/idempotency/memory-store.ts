// The local default: records in a Map, bounded by count and by bytes, and evicted least recently used first
// (Map keeps insertion order, and a record used again is moved to the end). Claims are atomic because each call runs
// without awaiting anything. Per process only: on Lambda each instance has its own, so use DynamoDB there.
import { uuidV4 } from '../uuid.js'
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
  /** Bytes all records may take together, as estimated by `recordBytes` (default 64 MiB); the least recently used go first. */
  maxBytes?: number
}

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
/** What a record costs beyond its strings and body: the Map entry, the objects, the numbers. */
const RECORD_OVERHEAD_BYTES = 256

/** The memory a record holds, estimated: its body, its headers and ids as UTF-16 text, and a fixed overhead. */
export function recordBytes (record: IdempotencyRecord): number {
  let bytes = RECORD_OVERHEAD_BYTES + 2 * (record.id.length + record.fingerprint.length + record.owner.length)
  if (record.status === 'COMPLETED') {
    bytes += record.response.body.byteLength
    for (const name in record.response.headers) {
      const value = record.response.headers[name]
      bytes += 2 * (name.length + (typeof value === 'string' ? value.length : value.join('').length))
    }
  }
  return bytes
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  /** Every call answers at once: a deadline's signal would bound nothing. */
  readonly capabilities: IdempotencyStoreCapabilities = { signal: false }
  readonly #records = new Map<string, IdempotencyRecord>()
  readonly #maxEntries: number
  readonly #maxBodyBytes: number
  readonly #maxBytes: number
  #bytes = 0

  constructor (options: MemoryIdempotencyStoreOptions = {}) {
    validateOptions('MemoryIdempotencyStore', options, {
      maxEntries: integerBetween(1),
      maxBodyBytes: integerBetween(0),
      maxBytes: integerBetween(1)
    })
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxBodyBytes = options.maxBodyBytes ?? DYNAMODB_MAX_ITEM_BYTES
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  }

  /** How many records are held, live or expired. */
  get size (): number {
    return this.#records.size
  }

  /** The bytes the records take, as `recordBytes` estimates them. */
  get bytes (): number {
    return this.#bytes
  }

  async claim (id: string, fingerprint: string, inProgressExpiry: number, ttlSeconds: number): Promise<ClaimResult> {
    const now = Date.now()
    const existing = this.#records.get(id)
    if (existing !== undefined && isLive(existing, now)) {
      this.#keep(existing)
      return { claimed: false, existing }
    }
    const owner = uuidV4()
    this.#keep({ id, status: IN_PROGRESS, fingerprint, expiration: epochSeconds(now) + ttlSeconds, inProgressExpiry, owner })
    return { claimed: true, owner }
  }

  async complete (id: string, owner: string, response: StoredResponse, ttlSeconds: number): Promise<CompleteResult> {
    const record = this.#records.get(id)
    if (record?.owner !== owner) return { stored: false, reason: 'claim-lost' }
    if (response.body.byteLength > this.#maxBodyBytes) {
      this.#delete(id)
      return { stored: false, reason: 'too-large', bytes: response.body.byteLength, limit: this.#maxBodyBytes }
    }
    const completed: IdempotencyRecord = { ...record, status: COMPLETED, expiration: epochSeconds(Date.now()) + ttlSeconds, response }
    const bytes = recordBytes(completed)
    if (bytes > this.#maxBytes) {
      this.#delete(id)
      return { stored: false, reason: 'too-large', bytes, limit: this.#maxBytes }
    }
    this.#keep(completed)
    return { stored: true }
  }

  async release (id: string, owner: string): Promise<void> {
    if (this.#records.get(id)?.owner === owner) this.#delete(id)
  }

  /** Stores the record as the most recently used, evicting the least recently used beyond either bound. */
  #keep (record: IdempotencyRecord): void {
    this.#delete(record.id)
    this.#records.set(record.id, record)
    this.#bytes += recordBytes(record)
    while (this.#records.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#records.keys().next().value as string
      if (oldest === record.id) break
      this.#delete(oldest)
    }
  }

  #delete (id: string): void {
    const record = this.#records.get(id)
    if (record === undefined) return
    this.#bytes -= recordBytes(record)
    this.#records.delete(id)
  }
}
