// The records an idempotency store keeps, the contract every store follows, and the decision the plugin takes
// when a request finds a record already there.
//
// Life of a record: `claim` creates it IN_PROGRESS for one owner (a random token); the owner either
// `complete`s it with the answer (COMPLETED, replayed to repeats until `expiration`) or `release`s it after a
// failure so that a retry runs. Two clocks free a record without its owner: past `expiration` (epoch seconds,
// also the DynamoDB TTL attribute, which deletes late) it counts as absent, and an IN_PROGRESS record past
// `inProgressExpiry` (epoch ms, the request's deadline) can be claimed again, so a crashed Lambda frees its key.
import { isUtf8 } from '../builtins.js'

/** An answer as stored and replayed: status, the headers chosen by the plugin, and the exact body bytes. */
export interface StoredResponse {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer
}

/** Replayed bodies up to this size may go out as text; see `replayPayload`. */
const MAX_TEXT_REPLAY_BYTES = 8 * 1024

/**
 * The stored body as the payload a replay sends at last: a small body that is valid UTF-8 as its text, which
 * encodes back to the same bytes. Node writes a text body in one piece with the head of the response, but a
 * buffer as a second piece (a writev, about 4 µs a replay on Node 24); past a few KiB, decoding costs more.
 */
export function replayPayload (body: Buffer): string | Buffer {
  return body.byteLength <= MAX_TEXT_REPLAY_BYTES && isUtf8(body) ? body.toString('utf8') : body
}

/** A record's status, as every store keeps it (DynamoDB's `status` attribute holds these strings). */
export const IN_PROGRESS = 'IN_PROGRESS'
export const COMPLETED = 'COMPLETED'

interface RecordBase {
  /** See `idempotencyRecordId`. */
  id: string
  /** See `requestFingerprint`: a repeat with another fingerprint reused the key for another request. */
  fingerprint: string
  /** Epoch seconds after which the record counts as absent. */
  expiration: number
  /** Epoch milliseconds after which an IN_PROGRESS record can be claimed again. */
  inProgressExpiry: number
  /** The claim token of the request that created the record. */
  owner: string
}

export interface InProgressRecord extends RecordBase {
  status: typeof IN_PROGRESS
}

export interface CompletedRecord extends RecordBase {
  status: typeof COMPLETED
  response: StoredResponse
}

export type IdempotencyRecord = InProgressRecord | CompletedRecord

/** Either the caller now owns the record (keep `owner` to complete or release it), or the record found. */
export type ClaimResult =
  | { claimed: true, owner: string }
  | { claimed: false, existing: IdempotencyRecord }

/**
 * Whether `complete` stored the answer. Not stored, the answer must still be sent:
 * - 'too-large': it would not fit the store's limit (`bytes` over `limit`); the claim was released, so a retry
 *   runs the handler again rather than waiting on a record that will never complete;
 * - 'claim-lost': the record is no longer the caller's (its in-progress expiry passed and another request
 *   claimed it, or it expired); it was left untouched.
 */
export type CompleteResult =
  | { stored: true }
  | { stored: false, reason: 'too-large', bytes: number, limit: number }
  | { stored: false, reason: 'claim-lost' }

/** What a store can do, declared by the store so that callers never tell stores apart by class. */
export interface IdempotencyStoreCapabilities {
  /**
   * Its calls can be bounded by an AbortSignal (the default when undefined). A store that answers without I/O
   * says false, and requests then skip creating the deadline's signal.
   */
  readonly signal?: boolean
}

/**
 * Where records live. Failures to reach the store are thrown as HALO_ERR_IDEMPOTENCY_STORE by the built-in
 * stores; a custom store may throw anything, which the plugin treats the same way. `signal` bounds a call by
 * the request's deadline where the store can honour it.
 */
export interface IdempotencyStore {
  readonly capabilities?: IdempotencyStoreCapabilities
  /**
   * Creates an IN_PROGRESS record owned by a new token unless a live record exists (one before its `expiration`
   * and, when IN_PROGRESS, before its `inProgressExpiry`), which is returned instead.
   * @param inProgressExpiry epoch ms: the request's deadline
   * @param ttlSeconds how long the record is kept from now, and the answer from completion; a record past it
   *   counts as absent even in progress, so it must exceed the request's time budget
   */
  claim (id: string, fingerprint: string, inProgressExpiry: number, ttlSeconds: number, signal?: AbortSignal): Promise<ClaimResult>
  /** Stores the answer, COMPLETED, for `ttlSeconds` from now, if the record is still the owner's. */
  complete (id: string, owner: string, response: StoredResponse, ttlSeconds: number, signal?: AbortSignal): Promise<CompleteResult>
  /** Deletes the record if it is still the owner's; anyone else's record is left alone. */
  release (id: string, owner: string, signal?: AbortSignal): Promise<void>
  /** Frees what the store holds (a client it made itself); the plugin calls it when the app closes. */
  destroy? (): Promise<void>
}

/** What a request that did not win the claim gets. */
export type Repeat =
  | { outcome: 'replay', response: StoredResponse }
  | { outcome: 'in-progress', retryAfterSeconds: number }
  | { outcome: 'key-reused' }

/**
 * Decides the answer to a repeat: another fingerprint is a key reused for another request (422) whatever the
 * record's state; else a completed record is replayed, and one in progress asks the caller to retry (409) once
 * its holder's deadline has passed (`retry-after`, at least 1 s).
 */
export function classifyRepeat (existing: IdempotencyRecord, fingerprint: string, now = Date.now()): Repeat {
  if (existing.fingerprint !== fingerprint) return { outcome: 'key-reused' }
  if (existing.status === COMPLETED) return { outcome: 'replay', response: existing.response }
  return { outcome: 'in-progress', retryAfterSeconds: Math.max(1, Math.ceil((existing.inProgressExpiry - now) / 1000)) }
}

/** Whether a record still blocks a claim at `now` (epoch ms). */
export function isLive (record: IdempotencyRecord, now: number): boolean {
  return record.expiration >= epochSeconds(now) && (record.status === COMPLETED || record.inProgressExpiry >= now)
}

export function epochSeconds (epochMs: number): number {
  return Math.floor(epochMs / 1000)
}
