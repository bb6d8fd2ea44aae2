// One variant's Lambda handler invoked in a loop, one invocation at a time as Lambda does (each on a turn of
// the event loop of its own), each with a new API Gateway v2 event and a new context. Arguments: the
// variant's name and, optionally, a JSON object of options for its `createLambdaHandler` (the DynamoDB
// endpoint and table of lambda-idempotency.bench.js).
import { randomUUID } from 'node:crypto'
import { dynamoDBCalls } from '../support/dynamodb-calls.js'
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js'
import { cpuMilliseconds, runWorker } from '../support/worker.js'

const REPLAYED_HEADER = 'idempotent-replayed'

/** Keys no other process and no other invocation of this one uses. */
const keyPrefix = randomUUID()
let keysGiven = 0

/** Invokes once; says whether the answer was an idempotent replay. */
async function invoke (handler, request, status) {
  const response = await handler(httpApiEvent(request), lambdaContext())
  if (response.statusCode !== status) throw new Error(`${request.method} ${request.path} answered ${response.statusCode}: ${response.body}`)
  return response.headers?.[REPLAYED_HEADER] === 'true'
}

/** `request` with header `name` set to a key of its own. */
function withFreshKey (request, name) {
  return { ...request, headers: { ...request.headers, [name]: `${keyPrefix}-${++keysGiven}` } }
}

runWorker(async ([variantName, options = '{}']) => {
  const variant = await import(`../variants/${variantName}.js`)
  const handler = await variant.createLambdaHandler(JSON.parse(options))
  return {
    ready: {},
    /**
     * Invokes the handler for `durationMs`, or `invocations` times, each invocation expecting answer `status` (default 200) and, when
     * `freshKeyHeader` is given, with a new key in that header. Says how many invocations completed, in how
     * much wall and CPU time, how many were idempotent replays, and how many DynamoDB calls they made. With
     * `collectGarbage` (under --expose-gc), only runs a full garbage collection.
     */
    async handle ({ collectGarbage = false, request, durationMs, invocations: count, status = 200, freshKeyHeader }) {
      if (collectGarbage) {
        globalThis.gc()
        return {}
      }
      const started = performance.now()
      const cpuBefore = cpuMilliseconds()
      const callsBefore = dynamoDBCalls()
      const end = started + durationMs
      let invocations = 0
      let replayed = 0
      while (count === undefined ? performance.now() < end : invocations < count) {
        if (await invoke(handler, freshKeyHeader === undefined ? request : withFreshKey(request, freshKeyHeader), status)) replayed++
        invocations++
        // Lambda's runtime fetches the next event over HTTP: each invocation starts on a turn of the event loop
        // of its own. Back to back in microtasks, the immediate that light-my-request leaves per answer (its
        // socket's write callback) never ran, and every request and reply of a round stayed on the heap.
        await new Promise(setImmediate)
      }
      return {
        invocations,
        elapsedMs: performance.now() - started,
        cpuMs: cpuMilliseconds() - cpuBefore,
        replayed,
        dynamoDBCalls: dynamoDBCalls() - callsBefore
      }
    }
  }
})
