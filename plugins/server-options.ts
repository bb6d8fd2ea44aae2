import { LogController, type ConnectionError, type FastifyInstance, type FastifyServerOptions, type FastifyReply, type FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { STATUS_CODES } from '../lib/builtins.js'
import { uuidV4 } from '../lib/uuid.js'
import type { Socket } from 'node:net'
import type { Logger as PinoLogger } from 'pino'
import { CORRELATION_ID_HEADER, resolveCorrelationId } from '../lib/correlation.js'
import { currentInvocation } from '../lib/lambda.js'
import { haloPinoOptions, type HaloLoggerOptions } from '../lib/logging.js'
import { validateOptions, isNonEmptyString, oneOf, isObject } from '../lib/options.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from '../lib/problem.js'
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

const clientErrorDetails: Record<number, string> = {
  400: 'The request is not valid HTTP',
  408: 'The request was not received in time',
  431: 'The request headers are too large'
}

/**
 * Answers what Node's HTTP parser refuses before any route sees it (a bare CR or LF in a header, headers too
 * large, a request too slow) with a problem and a trace id, like every other error. As in Fastify's own
 * handler, nothing of the request is echoed, and the connection is closed: its framing cannot be trusted.
 */
export function answerClientError (this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const traceId = uuidV4()
  const body = JSON.stringify(toProblem({ statusCode: status, message: clientErrorDetails[status] }, traceId, false))
  this.log.debug({ code: error.code, correlationId: traceId }, 'refused a request that is not valid HTTP')
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${CORRELATION_ID_HEADER}: ${traceId}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(error)
}

/**
 * Fastify server options for a Halo service: a pino JSON logger (level label, ISO time, service,
 * secrets redacted), correlation ids as request ids, logged as `correlationId`, and requests that are not
 * valid HTTP answered as problem+json.
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
    logController: new HaloLogController(),
    clientErrorHandler: answerClientError
  }
}
