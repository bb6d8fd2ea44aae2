import { LogController, type FastifyServerOptions, type FastifyReply, type FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { Logger as PinoLogger } from 'pino'
import { CORRELATION_ID_HEADER, resolveCorrelationId } from '../lib/correlation.js'
import { currentInvocation } from '../lib/lambda.js'
import { haloPinoOptions, type HaloLoggerOptions } from '../lib/logging.js'
import { validateOptions, isNonEmptyString, oneOf, isObject } from '../lib/options.js'
import { kRejectedCorrelationId, kResolvedCorrelationId } from '../lib/symbols.js'

export type HaloServerOptionsInput = HaloLoggerOptions

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

/**
 * Logs requests as `correlationId`, and adds the Lambda fields to every line of a request served on Lambda:
 * Fastify's "incoming request" line is its first, so the fields are bound just before it. Unlike a child
 * logger factory of our own, this keeps Fastify's own factory, which skips checking every request's logger.
 */
class HaloLogController extends LogController {
  constructor () {
    super({ requestIdLogLabel: 'correlationId' })
  }

  override incomingRequest (request: FastifyRequest, reply: FastifyReply): void {
    const invocation = currentInvocation()
    // The request's logger is a child of the pino logger these options make.
    if (invocation !== undefined) (request.log as unknown as PinoLogger).setBindings(invocation.logFields)
    super.incomingRequest(request, reply)
  }
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
  }, { required: ['service'] })
  return {
    logger: haloPinoOptions(options),
    genReqId: correlationRequestId,
    requestIdHeader: false,
    logController: new HaloLogController()
  }
}
