// One variant's Lambda handler invoked in a loop, one invocation at a time as Lambda does, each with a new
// API Gateway v2 event and a new context.
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js'
import { cpuMilliseconds, runWorker } from '../support/worker.js'

async function invoke (handler, request) {
  const response = await handler(httpApiEvent(request), lambdaContext())
  if (response.statusCode !== 200) throw new Error(`${request.method} ${request.path} answered ${response.statusCode}: ${response.body}`)
}

runWorker(async ([variantName]) => {
  const variant = await import(`../variants/${variantName}.js`)
  const handler = await variant.createLambdaHandler()
  return {
    ready: {},
    /** Invokes the handler for `durationMs`; says how many invocations completed, in how much wall and CPU time. */
    async handle ({ request, durationMs }) {
      const started = performance.now()
      const cpuBefore = cpuMilliseconds()
      const end = started + durationMs
      let invocations = 0
      while (performance.now() < end) {
        await invoke(handler, request)
        invocations++
      }
      return { invocations, elapsedMs: performance.now() - started, cpuMs: cpuMilliseconds() - cpuBefore }
    }
  }
})
