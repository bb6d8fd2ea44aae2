// The peer a Lambda user would pick instead of Halo: Middy with Powertools Logger doing the same job as the
// Fastify variants: read the event, take the correlation id from the header or the event, sample debug
// logs, log the request and its completion as JSON lines (to stdout, which the bench points at /dev/null),
// and answer the same JSON with the correlation id.
import middy from '@middy/core'
import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { jsonPayload } from '../support/routes.js'

export const lambdaLabel = 'Middy + Powertools Logger'

export function answer (statusCode, body, correlationId) {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-correlation-id': correlationId },
    body: JSON.stringify(body),
    isBase64Encoded: false
  }
}

/**
 * The correlation id, set by hand: Powertools' `correlationIdPath` needs the optional
 * `@aws-lambda-powertools/jmespath` package, which is not installed, for what one line does here.
 */
function correlationId (logger) {
  return {
    before ({ event }) {
      logger.setCorrelationId(event.headers['x-correlation-id'] ?? event.requestContext.requestId)
    }
  }
}

export async function createLambdaHandler () {
  const logger = new Logger({ serviceName: 'bench', logLevel: 'INFO', sampleRateValue: 0.01 })
  return middy(async (event) => {
    const started = performance.now()
    const { method, path } = event.requestContext.http
    logger.info('incoming request', { req: { method, url: event.rawPath, host: event.headers.host } })
    const correlationId = logger.getCorrelationId()
    const response = method === 'GET' && path === '/json'
      ? answer(200, jsonPayload, correlationId)
      : answer(404, { status: 404, title: 'Not Found' }, correlationId)
    logger.info('request completed', { res: { statusCode: response.statusCode }, responseTime: performance.now() - started })
    return response
  }).use(injectLambdaContext(logger)).use(correlationId(logger))
}
