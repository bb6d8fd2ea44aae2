// Idempotent invocations (DESIGN.md section 9): a repeated request replays the first answer instead of running
// the handler again. Hooks are attached per route when the route is added, so GET and HEAD routes and routes
// that opt out pay nothing, and a `key: 'header'` request without the header pays one header lookup.
//
// Life of an idempotent request: in preHandler (the body is parsed) the record is claimed, bounded by the
// request's deadline. The winner runs the handler; its answer is stored in onSend, before it is sent, because
// on Lambda nothing runs after the answer (the invocation is frozen). A repeat gets the stored answer, a
// concurrent repeat 409 with retry-after, a repeat with another request 422.
//
// Replayed headers: everything the answer carried, except what belongs to one exchange rather than to the
// answer: hop-by-hop headers, content-length and date (recomputed), x-correlation-id (the replay carries the
// current request's), and set-cookie (the scope is the `authorization` header, so callers authenticated by
// cookie share a scope, and a replayed cookie could hand one a session of another). A header the current reply
// already has (set by another plugin for this request) keeps its current value.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, HTTPMethods, onSendHookHandler, preHandlerHookHandler } from 'fastify'
import { CORRELATION_ID_HEADER } from '../lib/correlation.js'
import {
  HALO_ERR_IDEMPOTENCY_IN_PROGRESS, HALO_ERR_IDEMPOTENCY_KEY_INVALID, HALO_ERR_IDEMPOTENCY_KEY_REUSED, HALO_ERR_IDEMPOTENCY_STORE, errorMessage
} from '../lib/errors.js'
import {
  MemoryIdempotencyStore, classifyRepeat, hashKey, idempotencyRecordId, payloadFingerprint,
  type HashAlgorithm, type IdempotencyStore, type StoredResponse
} from '../lib/idempotency/index.js'
import { anyOf, integerBetween, isFunction, isNonEmptyString, isString, oneOf, validateOptions, type OptionCheck } from '../lib/options.js'
import { withRouteHook } from './route-hooks.js'
import { claimRegistration } from './registration.js'

/** Where a request's idempotency key comes from. */
export type IdempotencyKeySource =
  /** The `idempotency-key` header: a request without it is not idempotent. */
  | 'header'
  /** Every request is idempotent, keyed by its URL and canonical body (and the header when given). */
  | 'payload'
  /** The key, or undefined for a request that is not idempotent. */
  | ((request: FastifyRequest) => string | undefined)

/** What a route may set for itself in `config.idempotency`. */
export interface IdempotencyRouteOptions {
  /** Default 'header'. */
  key?: IdempotencyKeySource
  /** Digest of the key material and the request fingerprint. Default 'md5'. */
  hash?: HashAlgorithm
  /** How long an answer is replayed, in seconds. Default 3600. */
  ttlSeconds?: number
  /** The store failing: 'fail' answers 503 without running the handler (default); 'continue' runs it without idempotency. */
  onStoreError?: 'fail' | 'continue'
}

export interface IdempotencyOptions extends IdempotencyRouteOptions {
  /** Default 'memory': a `MemoryIdempotencyStore`, per process. In production a `DynamoDBIdempotencyStore`. */
  store?: 'memory' | IdempotencyStore
  /** The methods whose routes are idempotent. Default POST, PUT, PATCH, DELETE. */
  methods?: readonly HTTPMethods[]
  /** The key header's name. Default 'idempotency-key'. */
  header?: string
  /**
   * Keeps this service's records apart from those of other services sharing the store's table. Default: the
   * Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`), else ''.
   */
  namespace?: string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's idempotency settings over the plugin's, or false to opt the route out. */
    idempotency?: IdempotencyRouteOptions | false
  }
  interface FastifyInstance {
    /** The store of idempotency records (for `ensureTable()`, or to inspect it). */
    idempotencyStore: IdempotencyStore
  }
}

const PLUGIN = 'idempotencyPlugin'
const REPLAYED_HEADER = 'idempotent-replayed'
const RETRY_AFTER_HEADER = 'retry-after'
/** The in-progress expiry of a request without a deadline (its route has `timeout: false`): API Gateway's limit. */
const UNBOUNDED_IN_PROGRESS_MS = 29_000
const MAX_KEY_LENGTH = 255
/** Printable ASCII, 1 to MAX_KEY_LENGTH characters. */
const USABLE_KEY = new RegExp(`^[\\x20-\\x7e]{1,${MAX_KEY_LENGTH}}$`)
/** Headers of one exchange rather than of the answer, never stored (see the top of this file). */
const NOT_REPLAYED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'content-length', 'date', 'set-cookie', CORRELATION_ID_HEADER
])
const EMPTY_BODY = Buffer.alloc(0)

const kClaim = Symbol('halo.idempotencyClaim')

/** The record a request owns, to complete with its answer or release. */
interface Claim {
  id: string
  owner: string
}

interface IdempotentRequest extends FastifyRequest {
  [kClaim]: Claim | null
}

type RouteSettings = Required<IdempotencyRouteOptions>

const isStore: OptionCheck = (value) =>
  ['claim', 'complete', 'release'].every((method) => typeof Object(value)[method] === 'function')
    ? undefined
    : 'must be an IdempotencyStore (with claim, complete, release)'

const isMethodList: OptionCheck = (value) =>
  Array.isArray(value) && value.every((method) => typeof method === 'string' && /^[a-z]+$/i.test(method))
    ? undefined
    : 'must be an array of HTTP method names'

const routeChecks: Record<keyof IdempotencyRouteOptions, OptionCheck> = {
  key: anyOf(oneOf('header', 'payload'), isFunction),
  hash: oneOf('md5', 'sha256'),
  ttlSeconds: integerBetween(1),
  onStoreError: oneOf('fail', 'continue')
}

/** Why a key header is unusable; never its value, which is the client's and may be anything. */
function keyProblem (value: string): string {
  if (value.length === 0) return 'it is empty'
  if (value.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`
  return 'it holds characters outside printable ASCII'
}

/** The request as a repeat must match it: its URL (path and query) and its body, JSON in any key order. */
function requestFingerprint (request: FastifyRequest, hash: HashAlgorithm): string {
  return hashKey([request.url, payloadFingerprint(request.body, hash)], hash)
}

/** The answer's bytes as onSend sees them, or undefined for a stream, which cannot be stored. */
function bodyBytes (payload: unknown): Buffer | undefined {
  if (typeof payload === 'string') return Buffer.from(payload)
  if (Buffer.isBuffer(payload)) return payload
  return payload === null || payload === undefined ? EMPTY_BODY : undefined
}

/** The answer's headers to replay: all but NOT_REPLAYED, numbers as strings. */
function storedHeaders (reply: FastifyReply): StoredResponse['headers'] {
  const headers: StoredResponse['headers'] = {}
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value === undefined || NOT_REPLAYED.has(name)) continue
    headers[name] = typeof value === 'number' ? String(value) : value
  }
  return headers
}

function replay (reply: FastifyReply, response: StoredResponse): void {
  for (const [name, value] of Object.entries(response.headers)) {
    if (!reply.hasHeader(name)) reply.header(name, value)
  }
  // An empty answer is sent as none, so that Fastify adds no content-type the first answer did not have.
  reply.header(REPLAYED_HEADER, 'true').code(response.statusCode).send(response.body.byteLength === 0 ? undefined : response.body)
}

function asStoreError (error: unknown): Error {
  if ((error as { code?: unknown })?.code === 'HALO_ERR_IDEMPOTENCY_STORE') return error as Error
  return Object.assign(new HALO_ERR_IDEMPOTENCY_STORE(errorMessage(error)), { cause: error })
}

const idempotency: FastifyPluginAsync<IdempotencyOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-idempotency')
  validateOptions(PLUGIN, options, { ...routeChecks, store: anyOf(oneOf('memory'), isStore), methods: isMethodList, header: isNonEmptyString, namespace: isString })
  const store: IdempotencyStore = options.store === undefined || options.store === 'memory' ? new MemoryIdempotencyStore() : options.store
  // The memory store never waits, so it is not handed the deadline's signal: asking for the signal is what
  // makes a request pay for its AbortController.
  const storeWaits = !(store instanceof MemoryIdempotencyStore)
  const methods = new Set((options.methods ?? ['POST', 'PUT', 'PATCH', 'DELETE']).map((method) => method.toUpperCase()))
  const headerName = (options.header ?? 'idempotency-key').toLowerCase()
  const namespace = options.namespace ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? ''
  const defaults: RouteSettings = {
    key: options.key ?? 'header',
    hash: options.hash ?? 'md5',
    ttlSeconds: options.ttlSeconds ?? 3600,
    onStoreError: options.onStoreError ?? 'fail'
  }

  fastify.decorate('idempotencyStore', store)
  fastify.addHook('onClose', async () => {
    await store.destroy?.()
  })
  fastify.decorateRequest(kClaim, null)

  /**
   * Claims the request's record and decides: true to run the handler; false when the request was answered
   * (a replay) or the deadline's own answer stands. Throws the error to answer with.
   */
  async function admit (request: IdempotentRequest, reply: FastifyReply, route: string, settings: RouteSettings, givenKey: string | undefined): Promise<boolean> {
    const fingerprint = requestFingerprint(request, settings.hash)
    // Outside payload mode the caller only admits requests that gave a key.
    const key = settings.key === 'payload' ? fingerprint + (givenKey ?? '') : givenKey as string
    const id = idempotencyRecordId({ namespace, scope: request.headers.authorization ?? '', method: request.method, route, key }, settings.hash)
    const deadline = request.deadline
    const inProgressExpiry = deadline?.at ?? Date.now() + UNBOUNDED_IN_PROGRESS_MS
    const signal = storeWaits ? deadline?.signal : undefined
    // A record past its ttl counts as absent even in progress: it must outlive the request.
    const claimTtlSeconds = Math.max(settings.ttlSeconds, Math.ceil((inProgressExpiry - Date.now()) / 1000) + 1)
    let claim
    try {
      claim = await store.claim(id, fingerprint, inProgressExpiry, claimTtlSeconds, signal)
    } catch (error) {
      if (deadline?.expired === true) return false
      if (settings.onStoreError === 'fail') throw asStoreError(error)
      request.log.warn({ err: error }, 'idempotency store unavailable; the handler runs without idempotency')
      return true
    }
    // The deadline passed (the timeout part answered 504) or the client left while the store answered.
    if (deadline?.expired === true) return false
    if (claim.claimed) {
      request[kClaim] = { id, owner: claim.owner }
      return true
    }
    const repeat = classifyRepeat(claim.existing, fingerprint)
    switch (repeat.outcome) {
      case 'replay':
        request.log.debug({ statusCode: repeat.response.statusCode }, 'idempotent answer replayed')
        replay(reply, repeat.response)
        return false
      case 'in-progress':
        reply.header(RETRY_AFTER_HEADER, String(repeat.retryAfterSeconds))
        throw new HALO_ERR_IDEMPOTENCY_IN_PROGRESS()
      case 'key-reused':
        throw new HALO_ERR_IDEMPOTENCY_KEY_REUSED()
    }
  }

  /** Stores the answer (below 500) or frees the key (5xx, streams). Store failures are logged: the answer goes out regardless. */
  async function settle (request: FastifyRequest, reply: FastifyReply, claim: Claim, payload: unknown, settings: RouteSettings): Promise<void> {
    const signal = storeWaits ? request.deadline?.signal : undefined
    try {
      if (reply.statusCode >= 500) {
        await store.release(claim.id, claim.owner, signal)
        return
      }
      const body = bodyBytes(payload)
      if (body === undefined) {
        request.log.debug('streamed answer not stored for idempotency; its key is released')
        await store.release(claim.id, claim.owner, signal)
        return
      }
      const response: StoredResponse = { statusCode: reply.statusCode, headers: storedHeaders(reply), body }
      const result = await store.complete(claim.id, claim.owner, response, settings.ttlSeconds, signal)
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

  fastify.addHook('onRoute', (route) => {
    const routeConfig = (route.config as { idempotency?: unknown } | undefined)?.idempotency
    if (routeConfig === false) return
    const routeMethods = [route.method].flat()
    validateOptions(`${PLUGIN}: route ${routeMethods.join(',')} ${route.url} config.idempotency`, routeConfig, routeChecks)
    if (!routeMethods.some((method) => methods.has(method))) return
    const routeOptions = (routeConfig ?? {}) as IdempotencyRouteOptions
    const settings: RouteSettings = {
      key: routeOptions.key ?? defaults.key,
      hash: routeOptions.hash ?? defaults.hash,
      ttlSeconds: routeOptions.ttlSeconds ?? defaults.ttlSeconds,
      onStoreError: routeOptions.onStoreError ?? defaults.onStoreError
    }
    const { key: keySource } = settings
    const everyMethodIdempotent = routeMethods.every((method) => methods.has(method))
    const pattern = route.url

    function beginIdempotentRequest (request: IdempotentRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      if (!everyMethodIdempotent && !methods.has(request.method)) return done()
      let givenKey: string | undefined
      if (typeof keySource === 'function') {
        givenKey = keySource(request)
      } else {
        // Node joins a repeated header into one string (only set-cookie stays a list).
        const header = request.headers[headerName] as string | undefined
        if (header !== undefined) {
          if (!USABLE_KEY.test(header)) return done(new HALO_ERR_IDEMPOTENCY_KEY_INVALID(keyProblem(header)))
          givenKey = header
        }
      }
      if (givenKey === undefined && keySource !== 'payload') return done()
      admit(request, reply, pattern, settings, givenKey).then((run) => { if (run) done() }, done)
    }

    function finishIdempotentRequest (request: IdempotentRequest, reply: FastifyReply, payload: unknown, done: (error?: Error | null) => void): void {
      const claim = request[kClaim]
      // Once the deadline's signal fired (504 sent, or the client gone), the record frees itself at its
      // in-progress expiry, which is that deadline: nothing is left to store.
      if (claim === null || request.deadline?.expired === true) return done()
      request[kClaim] = null
      settle(request, reply, claim, payload, settings).then(() => done(), done)
    }

    route.preHandler = withRouteHook(route.preHandler, beginIdempotentRequest as preHandlerHookHandler)
    route.onSend = withRouteHook(route.onSend, finishIdempotentRequest as onSendHookHandler)
  })
}

/**
 * Idempotent invocations: a repeated POST, PUT, PATCH or DELETE replays the first answer (status, headers,
 * body byte for byte) with `idempotent-replayed: true`; see the top of this file for the rules.
 */
export const idempotencyPlugin = fp(idempotency, { name: 'fastify-halo-idempotency', fastify: '5.x' })
