// The peer of halo-dynamodb.js: Middy with Powertools Logger (as in middy.js) and Powertools Idempotency,
// its records in the same DynamoDB table through its DynamoDBPersistenceLayer, doing the job of Halo's
// idempotency part on POST /orders: the key is the `idempotency-key` header (a request without one is not
// idempotent), scoped as Halo scopes it; a repeat must carry the same path, query and JSON body (in any key
// order) or is refused; a replay answers the stored response with the current correlation id and
// `idempotent-replayed: true`; every invocation, replay or not, logs its request and its completion.
// Powertools' local cache stays off (its default), as Halo keeps no records in memory with a DynamoDB store.
import middy from '@middy/core'
import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency'
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb'
import { makeHandlerIdempotent } from '@aws-lambda-powertools/idempotency/middleware'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { countDynamoDBCalls } from '../support/dynamodb-calls.js'
import { localClientConfig } from '../../support/dynamodb-local.js'
import { jsonPayload } from '../support/routes.js'
import { answer } from './middy.js'

export const lambdaLabel = 'Middy + Powertools Logger + Idempotency'

// JMESPath expressions, which Powertools Idempotency evaluates with `@aws-lambda-powertools/jmespath`, a
// dependency of its own (installed with it). The key: null without the header (the request then skips
// idempotency), else the header scoped, as Halo's record id is, by the caller's authorization header, the
// method and the path.
const EVENT_KEY = 'headers."idempotency-key" && ' +
  '[headers.authorization, requestContext.http.method, requestContext.http.path, headers."idempotency-key"]'
// What a repeat must match, as Halo's request fingerprint: the path, the query and the parsed JSON body
// (Powertools sorts object keys before hashing).
const PAYLOAD = '[rawPath, rawQueryString, powertools_json(body)]'

/** `endpoint`: the local DynamoDB; `table`: the idempotency table Halo's store created. */
export async function createLambdaHandler ({ endpoint, table }) {
  const logger = new Logger({ serviceName: 'bench', logLevel: 'INFO', sampleRateValue: 0.01 })
  // Powertools' default attribute names are Halo's table as it is: partition key `id`, TTL on `expiration`
  // (its other attributes: `status`, `data`, `in_progress_expiration`, `validation`).
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: table,
    awsSdkV3Client: countDynamoDBCalls(new DynamoDBClient(localClientConfig(endpoint)))
  })

  // Lambda runs one invocation at a time in a process: when the current one started.
  let started = 0
  const completed = (statusCode) => {
    logger.info('request completed', { res: { statusCode }, responseTime: performance.now() - started })
  }

  /** The correlation id (as in middy.js) and the request's log lines; a replay's completion is logged by the response hook. */
  const requestLog = {
    before ({ event }) {
      started = performance.now()
      logger.setCorrelationId(event.headers['x-correlation-id'] ?? event.requestContext.requestId)
      const { method } = event.requestContext.http
      logger.info('incoming request', { req: { method, url: event.rawPath, host: event.headers.host } })
    },
    after ({ response }) {
      completed(response.statusCode)
    }
  }

  const config = new IdempotencyConfig({
    eventKeyJmesPath: EVENT_KEY,
    payloadValidationJmesPath: PAYLOAD,
    // A replay returns early from the idempotency middleware, so no `after` runs: this is its last step.
    responseHook (response) {
      const replayed = {
        ...response,
        headers: { ...response.headers, 'x-correlation-id': logger.getCorrelationId(), 'idempotent-replayed': 'true' }
      }
      completed(replayed.statusCode)
      return replayed
    }
  })

  return middy(async (event) => {
    const { method, path } = event.requestContext.http
    const correlationId = logger.getCorrelationId()
    return method === 'POST' && path === '/orders'
      ? answer(201, { ...jsonPayload, ordered: JSON.parse(event.body) }, correlationId)
      : answer(404, { status: 404, title: 'Not Found' }, correlationId)
  })
    .use(injectLambdaContext(logger))
    .use(requestLog)
    .use(makeHandlerIdempotent({ persistenceStore, config, keyPrefix: 'halo-bench' }))
}
