import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest, FastifyReply, HookHandlerDoneFunction } from 'fastify'
import {
  CORRELATION_ID_HEADER, CALL_CHAIN_LENGTH_HEADER, collectCorrelationIds, incomingCallChainLength, resolveCorrelationId
} from '../lib/correlation.js'
import { requestContextStorage } from '../lib/context.js'
import { HALO_ERR_LOOP_DETECTED } from '../lib/errors.js'
import { boundedFetch, DEFAULT_FETCH_POLICY, type FetchPolicy } from '../lib/fetch.js'
import { currentInvocation } from '../lib/lambda.js'
import { validateOptions, integerBetween, isObject } from '../lib/options.js'
import { kRejectedCorrelationId, kResolvedCorrelationId } from '../lib/symbols.js'
import { decorateDeadline } from './request-fields.js'
import { correlationRequestId } from './server-options.js'
import { claimRegistration } from './registration.js'

export interface CorrelationOptions {
  /** An incoming `call-chain-length` at or above this is refused with 508. Default 10. */
  maxCallChainLength?: number
  /** Retry and time bounds of `request.fetch`. Defaults: 3 attempts, 10 000 ms per attempt, backoff 100 ms to 2 000 ms. */
  fetch?: Partial<FetchPolicy>
}

const correlation: FastifyPluginAsync<CorrelationOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-correlation')
  validateOptions('correlationPlugin', options, { maxCallChainLength: integerBetween(1, 1000), fetch: isObject })
  validateOptions('correlationPlugin fetch', options.fetch, {
    attempts: integerBetween(1, 10),
    perAttemptMs: integerBetween(1),
    baseDelayMs: integerBetween(0),
    maxDelayMs: integerBetween(0)
  })
  const maxCallChainLength = options.maxCallChainLength ?? 10
  // Fastify exposes the request id generator its options set; haloServerOptions sets ours.
  if ((fastify as { genReqId?: unknown }).genReqId !== correlationRequestId) {
    fastify.log.warn('fastify-halo: this app was not made with haloServerOptions, so its log lines carry reqId, not ' +
      'the correlationId, and are not in Halo\'s JSON format (service, ISO time, level labels, secrets redacted). ' +
      'Make it with Fastify(haloServerOptions({ service }))')
  }
  const fetchPolicy: FetchPolicy = {
    attempts: options.fetch?.attempts ?? DEFAULT_FETCH_POLICY.attempts,
    perAttemptMs: options.fetch?.perAttemptMs ?? DEFAULT_FETCH_POLICY.perAttemptMs,
    baseDelayMs: options.fetch?.baseDelayMs ?? DEFAULT_FETCH_POLICY.baseDelayMs,
    maxDelayMs: options.fetch?.maxDelayMs ?? DEFAULT_FETCH_POLICY.maxDelayMs
  }

  fastify.decorateRequest('correlationId', '')
  fastify.decorateRequest('correlationIds', null as unknown as Record<string, string>)
  decorateDeadline(fastify)
  fastify.decorateRequest('correlationHeaders', function correlationHeaders (this: FastifyRequest) {
    return { ...this.correlationIds }
  })
  fastify.decorateRequest('fetch', function fetchWithCorrelation (this: FastifyRequest, input: string | URL | Request, init?: RequestInit) {
    return boundedFetch(this, input, init, fetchPolicy)
  })

  fastify.addHook('onRequest', function captureCorrelation (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const raw = request.raw as typeof request.raw & { [kResolvedCorrelationId]?: string, [kRejectedCorrelationId]?: string }
    let correlationId = raw[kResolvedCorrelationId]
    let rejected = raw[kRejectedCorrelationId]
    if (correlationId === undefined) {
      // The app was built without haloServerOptions: its request ids are not correlation ids.
      const resolution = resolveCorrelationId(request.headers[CORRELATION_ID_HEADER], currentInvocation())
      correlationId = resolution.id
      rejected = resolution.rejected
    }
    if (rejected !== undefined) request.log.warn({ reason: rejected }, 'x-correlation-id header refused; a new correlation id was issued')
    const incomingLength = incomingCallChainLength(request.headers[CALL_CHAIN_LENGTH_HEADER])
    if (incomingLength === undefined) request.log.warn('call-chain-length header is not a decimal integer; counted as 0')
    const callChainLength = incomingLength ?? 0
    request.correlationId = correlationId
    request.correlationIds = collectCorrelationIds(request.headers, correlationId, callChainLength)
    reply.header(CORRELATION_ID_HEADER, correlationId)
    if (callChainLength >= maxCallChainLength) {
      done(new HALO_ERR_LOOP_DETECTED(callChainLength, maxCallChainLength))
      return
    }
    requestContextStorage.run(request, done)
  })
}

export const correlationPlugin = fp(correlation, { name: 'fastify-halo-correlation' })
