// The life of an idempotent request, apart from any framework (the plugin wires it into its hooks):
// `admit` claims the request's record, bounded by the request's deadline, and says whether the handler runs
// or what the request gets instead; the winner's answer is `settle`d, stored before it is sent because on
// Lambda nothing runs after the answer (the invocation is frozen); `release` frees a key whose answer is
// not to be replayed.
//
// The claim outlives the request's deadline: the handler may go on after its client hung up or got its 504,
// and its answer is still stored when it ends, so a repeat meanwhile gets 409, never a second run. Only a
// crash leaves the record IN_PROGRESS; it frees itself at its in-progress expiry: on Lambda the end of the
// invocation (Lambda kills it then), locally the deadline plus `claimGraceMs`.
//
// Stored headers: everything the answer carried, except what belongs to one exchange rather than to the
// answer: hop-by-hop headers, content-length and date (recomputed), x-correlation-id (the replay carries the
// current request's), and set-cookie (a session handed to one exchange is never handed to another).
import type { Deadline, HaloLogger } from '../context.js'
import { CORRELATION_ID_HEADER } from '../correlation.js'
import { API_GATEWAY_LIMIT_MS } from '../deadline.js'
import { HALO_ERR_IDEMPOTENCY_STORE, errorMessage } from '../errors.js'
import { currentInvocation } from '../lambda.js'
import { callerScope, idempotencyRecordId, requestFingerprint, type HashAlgorithm } from './keys.js'
import { classifyRepeat, type IdempotencyStore, type Repeat, type StoredResponse } from './record.js'

/** How one route's requests are made idempotent: the plugin's options merged with the route's. */
export interface IdempotencySettings {
  /** Every request is idempotent, keyed by its URL and canonical body (and by the key when one is given). */
  keyedByPayload: boolean
  hash: HashAlgorithm
  /** How long an answer is replayed, in seconds. */
  ttlSeconds: number
  /** The store failing: 'fail' answers 503 without running the handler; 'continue' runs it without idempotency. */
  onStoreError: 'fail' | 'continue'
  /** Locally, how long past the deadline a claim holds when its run never ends (a crash), in milliseconds. */
  claimGraceMs: number
}

/** What the flow reads of a request; a Fastify request has all of it. */
export interface IdempotentRequest {
  readonly method: string
  /** Path and query, as the client sent them. */
  readonly url: string
  readonly body: unknown
  /** The caller's credentials, hashed into the key unless a scope is given (see `callerScope`). */
  readonly headers: { readonly authorization?: string, readonly 'x-api-key'?: string | string[], readonly cookie?: string }
  readonly deadline: Deadline
  readonly log: Pick<HaloLogger, 'debug' | 'warn'>
}

/** The record a request owns, to complete with its answer or release. */
export interface Claim {
  id: string
  owner: string
  /** Epoch ms: when the record frees itself if never completed; store calls for the claim are bounded by it. */
  inProgressExpiry: number
}

/**
 * What to do with a request: run the handler (owning `claim`, or without idempotency when the store failed
 * and the route continues regardless), nothing ('expired': the deadline's own answer stands), or answer it
 * as a repeat.
 */
export type Admission =
  | { outcome: 'run', claim: Claim | null }
  | { outcome: 'expired' }
  | Repeat

/** An answer as the framework is about to send it. */
export interface Answer {
  statusCode: number
  /** The body: a string or Buffer is stored, a stream is not. */
  payload: unknown
  /** The headers it carries; read only when the answer is stored. */
  headers (): Record<string, number | string | string[] | undefined>
}

/** Headers of one exchange rather than of the answer, never stored (see the top of this file). */
const NOT_REPLAYED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'content-length', 'date', 'set-cookie', CORRELATION_ID_HEADER
])
const EMPTY_BODY = Buffer.alloc(0)
const RUN_WITHOUT_CLAIM: Admission = { outcome: 'run', claim: null }
const EXPIRED: Admission = { outcome: 'expired' }

export class IdempotencyFlow {
  readonly #store: IdempotencyStore
  readonly #namespace: string
  // Asking for the deadline's signal is what makes a request pay for its AbortController: a store that
  // cannot use it is not handed one.
  readonly #storeTakesSignal: boolean

  /** `namespace` keeps this service's records apart from those of other services sharing the store. */
  constructor (store: IdempotencyStore, namespace: string) {
    this.#store = store
    this.#namespace = namespace
    this.#storeTakesSignal = store.capabilities?.signal !== false
  }

  /**
   * Claims the request's record and decides what the request gets. `key` is the one the client gave; outside
   * payload mode only requests that gave one are admitted. Throws HALO_ERR_IDEMPOTENCY_STORE when the store
   * fails and the route does not continue without it.
   */
  async admit (request: IdempotentRequest, route: string, key: string | undefined, settings: IdempotencySettings, scope?: string): Promise<Admission> {
    const fingerprint = requestFingerprint(request.url, request.body, settings.hash)
    const material = settings.keyedByPayload ? fingerprint + (key ?? '') : key as string
    const id = idempotencyRecordId({
      namespace: this.#namespace,
      scope: scope ?? callerScope(request.headers, currentInvocation()?.event),
      method: request.method,
      route,
      key: material
    }, settings.hash)
    const deadline = request.deadline
    const now = Date.now()
    const inProgressExpiry = claimExpiry(deadline, now, settings.claimGraceMs)
    // A record past its ttl counts as absent even in progress: it must outlive the claim.
    const claimTtlSeconds = Math.max(settings.ttlSeconds, Math.ceil((inProgressExpiry - now) / 1000) + 1)
    let claim
    try {
      claim = await this.#store.claim(id, fingerprint, inProgressExpiry, claimTtlSeconds, this.#signal(request))
    } catch (error) {
      if (deadline.expired) return EXPIRED
      if (settings.onStoreError === 'fail') throw asStoreError(error)
      request.log.warn({ err: error }, 'idempotency store unavailable; the handler runs without idempotency')
      return RUN_WITHOUT_CLAIM
    }
    if (claim.claimed) {
      const owned = { id, owner: claim.owner, inProgressExpiry }
      // The deadline passed (the timeout part answered 504) or the client left while the store answered: the
      // handler will not run, so the key is freed for a retry at once.
      if (deadline.expired) {
        this.release(request, owned).catch((error: unknown) => { request.log.warn({ err: error }, 'idempotency store unavailable; an unused claim frees at its in-progress expiry') })
        return EXPIRED
      }
      return { outcome: 'run', claim: owned }
    }
    if (deadline.expired) return EXPIRED
    return classifyRepeat(claim.existing, fingerprint)
  }

  /**
   * Stores the answer (below 500) or releases the key (5xx, streams). Store failures are logged, never
   * thrown: the answer goes out regardless. The store call is bounded by the claim's in-progress expiry, not
   * by the request's deadline: an answer that comes after a hang-up or a 504 is still stored. It is waited for
   * only until the deadline, so that it never holds the answer past it; past that it goes on unawaited.
   */
  async settle (request: IdempotentRequest, claim: Claim, answer: Answer, settings: IdempotencySettings): Promise<void> {
    const settled = this.#settle(request, claim, answer, settings)
    if (!this.#storeTakesSignal) return await settled
    await whicheverFirst(settled, request.deadline.signal)
  }

  async #settle (request: IdempotentRequest, claim: Claim, answer: Answer, settings: IdempotencySettings): Promise<void> {
    try {
      if (answer.statusCode >= 500) {
        await this.#release(claim)
        return
      }
      const body = bodyBytes(answer.payload)
      if (body === undefined) {
        request.log.debug('streamed answer not stored for idempotency; its key is released')
        await this.#release(claim)
        return
      }
      const response: StoredResponse = { statusCode: answer.statusCode, headers: storedHeaders(answer.headers()), body }
      const result = await this.#store.complete(claim.id, claim.owner, response, settings.ttlSeconds, this.#claimSignal(claim))
      if (result.stored) return
      if (result.reason === 'too-large') {
        request.log.warn({ bytes: result.bytes, limit: result.limit }, 'answer too large for the idempotency store; sent without being stored')
      } else {
        request.log.warn('idempotency claim lost before completion (its in-progress expiry passed); answer not stored')
      }
    } catch (error) {
      request.log.warn({ err: error }, 'idempotency store unavailable; answer not stored, its key frees at the in-progress expiry')
    }
  }

  /** Frees the claimed key, so that a retry runs the handler again. */
  async release (request: IdempotentRequest, claim: Claim): Promise<void> {
    await this.#store.release(claim.id, claim.owner, this.#signal(request))
  }

  async #release (claim: Claim): Promise<void> {
    await this.#store.release(claim.id, claim.owner, this.#claimSignal(claim))
  }

  /** A signal for store calls made for a claim after its request may have ended: it aborts at the claim's expiry. */
  #claimSignal (claim: Claim): AbortSignal | undefined {
    return this.#storeTakesSignal ? AbortSignal.timeout(Math.max(1, claim.inProgressExpiry - Date.now())) : undefined
  }

  #signal (request: IdempotentRequest): AbortSignal | undefined {
    return this.#storeTakesSignal ? request.deadline.signal : undefined
  }
}

/**
 * When a claim frees itself if its run never ends: on Lambda, the end of the invocation (Lambda kills a run
 * past it); locally, the deadline (or API Gateway's limit for one that never passes) plus the grace: a
 * record never holds a key forever.
 */
function claimExpiry (deadline: Deadline, now: number, graceMs: number): number {
  const invocation = currentInvocation()
  if (invocation !== undefined) return now + invocation.context.getRemainingTimeInMillis()
  return (deadline.at === Infinity ? now + API_GATEWAY_LIMIT_MS : deadline.at) + graceMs
}

/** Waits for `work` or for `signal` to abort, whichever comes first; `work` must never reject. */
async function whicheverFirst (work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const finish = (): void => {
      signal.removeEventListener('abort', finish)
      resolve()
    }
    signal.addEventListener('abort', finish)
    work.then(finish, finish)
  })
}

/** The answer's bytes as the framework hands them over, or undefined for a stream, which cannot be stored. */
function bodyBytes (payload: unknown): Buffer | undefined {
  if (typeof payload === 'string') return Buffer.from(payload)
  if (Buffer.isBuffer(payload)) return payload
  return payload === null || payload === undefined ? EMPTY_BODY : undefined
}

/** The answer's headers to replay: all but NOT_REPLAYED, numbers as strings. */
function storedHeaders (headers: ReturnType<Answer['headers']>): StoredResponse['headers'] {
  const stored: StoredResponse['headers'] = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_REPLAYED.has(name)) continue
    stored[name] = typeof value === 'number' ? String(value) : value
  }
  return stored
}

function asStoreError (error: unknown): Error {
  if ((error as { code?: unknown })?.code === 'HALO_ERR_IDEMPOTENCY_STORE') return error as Error
  return Object.assign(new HALO_ERR_IDEMPOTENCY_STORE(errorMessage(error)), { cause: error })
}
