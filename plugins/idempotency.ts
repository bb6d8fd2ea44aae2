// Idempotent invocations: a repeated request replays the first answer instead of running the handler again
// (the flow, in lib/idempotency/flow.ts, says how). This part wires it in: hooks are attached per route when
// the route is added, so GET and HEAD routes and routes that opt out pay nothing, and a `key: 'header'`
// request without the header pays one header lookup. The record is claimed in preHandler (the body is
// parsed) and the answer stored in onSend, before it is sent; an answer that comes after the timeout part's
// 504 reaches the flow through the timeout part's late-answer listener instead. A repeat gets the stored
// answer (a header the current reply already has, set by another plugin for this request, keeps its current
// value), a concurrent repeat 409 with retry-after, a repeat with another request 422.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, HTTPMethods, onSendHookHandler, preHandlerHookHandler } from 'fastify'
import { HALO_ERR_IDEMPOTENCY_IN_PROGRESS, HALO_ERR_IDEMPOTENCY_KEY_INVALID, HALO_ERR_IDEMPOTENCY_KEY_REUSED, HALO_ERR_OPTION } from '../lib/errors.js'
import {
  IdempotencyFlow, MemoryIdempotencyStore, replayPayload,
  type Admission, type Answer, type Claim, type HashAlgorithm, type IdempotencySettings, type IdempotencyStore, type StoredResponse
} from '../lib/idempotency/index.js'
import { anyOf, integerBetween, isFunction, isNonEmptyString, isString, oneOf, validateOptions, type OptionCheck, type OptionChecks } from '../lib/options.js'
import { kIdempotencyClaim, kLateAnswerListener, kReplayedBody } from '../lib/symbols.js'
import { withRouteHook } from './route-hooks.js'
import { isTimeoutAnswer, type LateAnswerListener } from './timeout.js'
import { claimRegistration } from './registration.js'
import { decorateDeadline } from './request-fields.js'

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
  /**
   * Locally, how long a claim holds past the request's deadline, in milliseconds, so that a run still going
   * after its 504 keeps its key; only a crashed run leaves its key held that long. Default 30 000. On Lambda
   * a claim holds until the invocation's end instead.
   */
  claimGraceMs?: number
  /**
   * Who the caller is: requests with different scopes never share a record. Default: the `authorization`,
   * `x-api-key` and `cookie` headers and, on Lambda, API Gateway's authorizer principal (see the README).
   */
  scope?: (request: FastifyRequest) => string
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
const MAX_KEY_LENGTH = 255
/** Printable ASCII, 1 to MAX_KEY_LENGTH characters. */
const USABLE_KEY = new RegExp(`^[\\x20-\\x7e]{1,${MAX_KEY_LENGTH}}$`)

interface ClaimingRequest extends FastifyRequest {
  [kIdempotencyClaim]: Claim | null
  [kLateAnswerListener]: LateAnswerListener | null
  [kReplayedBody]: Buffer | null
}

const isStore: OptionCheck = (value) =>
  ['claim', 'complete', 'release'].every((method) => typeof Object(value)[method] === 'function')
    ? undefined
    : 'must be an IdempotencyStore (with claim, complete, release)'

const isMethodList: OptionCheck = (value) =>
  Array.isArray(value) && value.every((method) => typeof method === 'string' && /^[a-z]+$/i.test(method))
    ? undefined
    : 'must be an array of HTTP method names'

const routeChecks: OptionChecks<IdempotencyRouteOptions> = {
  key: anyOf(oneOf('header', 'payload'), isFunction),
  hash: oneOf('md5', 'sha256'),
  ttlSeconds: integerBetween(1),
  onStoreError: oneOf('fail', 'continue'),
  claimGraceMs: integerBetween(0),
  scope: isFunction
}

const pluginChecks: OptionChecks<IdempotencyOptions> = {
  ...routeChecks,
  store: anyOf(oneOf('memory'), isStore),
  methods: isMethodList,
  header: isNonEmptyString,
  namespace: isString
}

/** The route's settings over the plugin's over the defaults, in one step. */
function mergeSettings (route: IdempotencyRouteOptions, plugin: IdempotencyRouteOptions): { keySource: IdempotencyKeySource, scope: IdempotencyRouteOptions['scope'], settings: IdempotencySettings } {
  const keySource = route.key ?? plugin.key ?? 'header'
  return {
    keySource,
    scope: route.scope ?? plugin.scope,
    settings: {
      keyedByPayload: keySource === 'payload',
      hash: route.hash ?? plugin.hash ?? 'md5',
      ttlSeconds: route.ttlSeconds ?? plugin.ttlSeconds ?? 3600,
      onStoreError: route.onStoreError ?? plugin.onStoreError ?? 'fail',
      claimGraceMs: route.claimGraceMs ?? plugin.claimGraceMs ?? 30_000
    }
  }
}

/** Why a key header is unusable; never its value, which is the client's and may be anything. */
function keyProblem (value: string): string {
  if (value.length === 0) return 'it is empty'
  if (value.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`
  return 'it holds characters outside printable ASCII'
}

function replay (reply: FastifyReply, response: StoredResponse): void {
  ;(reply.request as ClaimingRequest)[kReplayedBody] = response.body
  for (const [name, value] of Object.entries(response.headers)) {
    if (!reply.hasHeader(name)) reply.header(name, value)
  }
  // An empty answer is sent as none, so that Fastify adds no content-type the first answer did not have.
  reply.header(REPLAYED_HEADER, 'true').code(response.statusCode).send(response.body.byteLength === 0 ? undefined : response.body)
}

/** Fastify's content-type for a payload sent without one. */
function defaultContentType (payload: unknown): string {
  if (typeof payload === 'string') return 'text/plain; charset=utf-8'
  return Buffer.isBuffer(payload) ? 'application/octet-stream' : 'application/json; charset=utf-8'
}

/**
 * The handler's answer that came after its 504, as Fastify would have sent it: an object serialized as the
 * route does, the content-type Fastify would give it; a late failure is a 500, whose key is released.
 */
function lateAnswer (reply: FastifyReply, statusCode: number, payload: unknown, lateHeaders: () => ReturnType<Answer['headers']>): Answer {
  const headers = (): ReturnType<Answer['headers']> => {
    const sent = lateHeaders()
    sent['content-type'] ??= defaultContentType(payload)
    return sent
  }
  if (payload instanceof Error) return { statusCode: 500, payload: null, headers }
  const serializable = payload !== null && typeof payload === 'object' && !Buffer.isBuffer(payload) && typeof (payload as { pipe?: unknown }).pipe !== 'function'
  if (!serializable) return { statusCode, payload, headers }
  try {
    return { statusCode, payload: reply.serialize(payload), headers }
  } catch {
    return { statusCode: 500, payload: null, headers }
  }
}

/** Carries out the flow's decision on the reply: `done()` runs the handler, `done(error)` answers the error. */
function carryOut (admission: Admission, request: ClaimingRequest, reply: FastifyReply, done: HookHandlerDoneFunction, settleLate: LateAnswerListener): void {
  switch (admission.outcome) {
    case 'run':
      request[kIdempotencyClaim] = admission.claim
      if (admission.claim !== null) request[kLateAnswerListener] = settleLate
      return done()
    case 'expired':
      return
    case 'replay':
      request.log.debug({ statusCode: admission.response.statusCode }, 'idempotent answer replayed')
      return replay(reply, admission.response)
    case 'in-progress':
      reply.header(RETRY_AFTER_HEADER, String(admission.retryAfterSeconds))
      return done(new HALO_ERR_IDEMPOTENCY_IN_PROGRESS())
    case 'key-reused':
      return done(new HALO_ERR_IDEMPOTENCY_KEY_REUSED())
  }
}

/** The request's idempotency key, undefined without one, or the error that answers an unusable one. */
function givenKey (request: FastifyRequest, keySource: IdempotencyKeySource, headerName: string): string | undefined | Error {
  if (typeof keySource === 'function') return keySource(request)
  // Node joins a repeated header into one string (only set-cookie stays a list).
  const header = request.headers[headerName] as string | undefined
  if (header === undefined || USABLE_KEY.test(header)) return header
  return new HALO_ERR_IDEMPOTENCY_KEY_INVALID(keyProblem(header))
}

/** The caller's scope by the `scope` option, undefined under the default rule, or the error of a wrong answer. */
function scopeOption (request: FastifyRequest, scope: IdempotencyRouteOptions['scope']): string | undefined | Error {
  if (scope === undefined) return undefined
  const value: unknown = scope(request)
  return typeof value === 'string' ? value : new HALO_ERR_OPTION(`${PLUGIN}: option "scope" must return a string, got ${typeof value}`)
}

const idempotency: FastifyPluginAsync<IdempotencyOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-idempotency')
  validateOptions(PLUGIN, options, pluginChecks)
  const store: IdempotencyStore = options.store === undefined || options.store === 'memory' ? new MemoryIdempotencyStore() : options.store
  const flow = new IdempotencyFlow(store, options.namespace ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? '')
  const methods = new Set((options.methods ?? ['POST', 'PUT', 'PATCH', 'DELETE']).map((method) => method.toUpperCase()))
  const headerName = (options.header ?? 'idempotency-key').toLowerCase()

  fastify.decorate('idempotencyStore', store)
  fastify.addHook('onClose', async () => {
    await store.destroy?.()
  })
  fastify.decorateRequest(kIdempotencyClaim, null)
  fastify.decorateRequest(kReplayedBody, null)
  decorateDeadline(fastify)
  if (!fastify.hasRequestDecorator(kLateAnswerListener)) fastify.decorateRequest(kLateAnswerListener, null)

  fastify.addHook('onRoute', (route) => {
    const routeConfig = (route.config as { idempotency?: unknown } | undefined)?.idempotency
    if (routeConfig === false) return
    const routeMethods = [route.method].flat()
    validateOptions(`${PLUGIN}: route ${routeMethods.join(',')} ${route.url} config.idempotency`, routeConfig as IdempotencyRouteOptions | undefined, routeChecks)
    if (!routeMethods.some((method) => methods.has(method))) return
    const { keySource, scope, settings } = mergeSettings((routeConfig ?? {}) as IdempotencyRouteOptions, options)
    const everyMethodIdempotent = routeMethods.every((method) => methods.has(method))
    const pattern = route.url

    function beginIdempotentRequest (request: ClaimingRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      if (!everyMethodIdempotent && !methods.has(request.method)) return done()
      const key = givenKey(request, keySource, headerName)
      if (key instanceof Error) return done(key)
      if (key === undefined && !settings.keyedByPayload) return done()
      const callerScope = scopeOption(request, scope)
      if (callerScope instanceof Error) return done(callerScope)
      flow.admit(request, pattern, key, settings, callerScope).then((admission) => { carryOut(admission, request, reply, done, settleLateAnswer) }, done)
    }

    // Runs for every answer the route sends, the timeout part's 504 included, which settles nothing: the
    // handler may still be running, and its own answer settles the claim when it comes.
    function finishIdempotentRequest (request: ClaimingRequest, reply: FastifyReply, payload: unknown, done: (error?: Error | null, payload?: unknown) => void): void {
      const claim = request[kIdempotencyClaim]
      if (claim === null) {
        // Sent as a buffer, so that Fastify leaves the stored headers as they are; unless another onSend hook
        // changed it, it goes to Node as the payload Node writes fastest.
        const replayed = request[kReplayedBody]
        return done(null, replayed !== null && payload === replayed ? replayPayload(replayed) : undefined)
      }
      if (isTimeoutAnswer(reply)) return done()
      request[kIdempotencyClaim] = null
      const answer = { statusCode: reply.statusCode, payload, headers: () => reply.getHeaders() }
      flow.settle(request, claim, answer, settings).then(() => done(), done)
    }

    function settleLateAnswer (reply: FastifyReply, statusCode: number, payload: unknown, headers: () => ReturnType<Answer['headers']>): void {
      const request = reply.request as ClaimingRequest
      const claim = request[kIdempotencyClaim]
      if (claim === null) return
      request[kIdempotencyClaim] = null
      // Nobody waits for a late answer, and settle never rejects: it logs what fails.
      // eslint-disable-next-line no-void
      void flow.settle(request, claim, lateAnswer(reply, statusCode, payload, headers), settings)
    }

    route.preHandler = withRouteHook(route.preHandler, beginIdempotentRequest as preHandlerHookHandler)
    route.onSend = withRouteHook(route.onSend, finishIdempotentRequest as onSendHookHandler)
  })
}

/**
 * Idempotent invocations: a repeated POST, PUT, PATCH or DELETE replays the first answer (status, headers,
 * body byte for byte) with `idempotent-replayed: true`; see the top of this file for the rules.
 */
export const idempotencyPlugin = fp(idempotency, { name: 'fastify-halo-idempotency' })
