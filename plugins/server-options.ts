import { LogController, type FastifyServerOptions, type FastifyBaseLogger } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { CORRELATION_ID_HEADER, resolveCorrelationId } from '../lib/correlation.js'
import { currentInvocation } from '../lib/lambda.js'
import { haloPinoOptions, type HaloLoggerOptions } from '../lib/logging.js'
import { validateOptions, isNonEmptyString, oneOf, isObject } from '../lib/options.js'

export type HaloServerOptionsInput = HaloLoggerOptions

/** Set on the raw request by genReqId when it refused the incoming header, so the plugin can warn once. */
export const kRejectedCorrelationId = Symbol('halo.rejectedCorrelationId')
/** Set on the raw request by genReqId, so the correlation plugin does not resolve the id a second time. */
export const kResolvedCorrelationId = Symbol('halo.resolvedCorrelationId')

interface HaloRawRequest extends IncomingMessage {
  [kRejectedCorrelationId]?: string
  [kResolvedCorrelationId]?: string
}

/** Request ids are correlation ids: the incoming header, else the Lambda event's id, else a UUID. */
export function correlationRequestId (raw: IncomingMessage): string {
  const resolution = resolveCorrelationId(raw.headers[CORRELATION_ID_HEADER], currentInvocation())
  const request = raw as HaloRawRequest
  if (resolution.rejected !== undefined) request[kRejectedCorrelationId] = resolution.rejected
  request[kResolvedCorrelationId] = resolution.id
  return resolution.id
}

/** Adds the Lambda fields to every request's log lines while an invocation is being served. */
const lambdaAwareChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options) {
  const invocation = currentInvocation()
  const child = invocation === undefined ? bindings : Object.assign(bindings, invocation.logFields)
  return logger.child(child, options) as FastifyBaseLogger
}

/**
 * Fastify server options for a Halo service: a pino JSON logger (level label, ISO time, service,
 * secrets redacted), correlation ids as request ids, logged as `correlationId`.
 */
export function haloServerOptions (options: HaloServerOptionsInput): FastifyServerOptions {
  validateOptions('haloServerOptions', options, {
    service: isNonEmptyString,
    level: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    stream: isObject
  }, ['service'])
  return {
    logger: haloPinoOptions(options),
    genReqId: correlationRequestId,
    requestIdHeader: false,
    logController: new LogController({ requestIdLogLabel: 'correlationId' }),
    childLoggerFactory: lambdaAwareChildLogger
  }
}
