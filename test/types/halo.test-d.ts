// Type tests: checked by `tsc --noEmit`, never run. A line under @ts-expect-error must fail to compile.
import Fastify from 'fastify'
import halo, {
  haloPlugin, haloServerOptions, haloContext, correlationPlugin, loggingPlugin, errorsPlugin, createLambdaHandler,
  type HaloContext, type Deadline
} from '../../index.js'

const app = Fastify(haloServerOptions({ service: 'types', level: 'debug' }))
await app.register(halo, { correlation: { maxCallChainLength: 5, fetch: { attempts: 2 } }, logging: { sampleRate: 0.5 }, errors: { exposeErrors: true } })
await app.register(haloPlugin, { correlation: false, logging: false, errors: false })
await app.register(correlationPlugin, { maxCallChainLength: 3 })
await app.register(loggingPlugin, { sampleRate: 0 })
await app.register(errorsPlugin, { exposeErrors: false })

// @ts-expect-error an unknown part
await app.register(halo, { tracing: {} })
// @ts-expect-error a part is an object or false, never true
await app.register(halo, { logging: true })
// @ts-expect-error sampleRate is a number
await app.register(halo, { logging: { sampleRate: '0.1' } })
// @ts-expect-error exposeErrors is a boolean
await app.register(errorsPlugin, { exposeErrors: 1 })
// @ts-expect-error service is required
haloServerOptions({ level: 'info' })

app.get('/', async (request) => {
  const id: string = request.correlationId
  const ids: Record<string, string> = request.correlationIds
  const debug: boolean | null = request.debugLogEnabled
  const headers: Record<string, string> = request.correlationHeaders()
  const response: Response = await request.fetch('http://example.test', { method: 'POST' })
  const deadline: Deadline = request.deadline
  // Never null, with or without the timeout part: read without a check.
  const remaining: number = request.deadline.remaining()
  const neverNull: null extends typeof request.deadline ? 'nullable' : 'never null' = 'never null'
  // @ts-expect-error the deadline is read-only: the timeout part sets it
  request.deadline = deadline
  // @ts-expect-error the correlation id is a string
  const wrong: number = request.correlationId
  return { id, ids, debug, headers, status: response.status, deadline, remaining, neverNull, wrong }
})

const context: HaloContext | undefined = haloContext()
if (context !== undefined) {
  const id: string = context.correlationId
  const signal: AbortSignal = context.deadline.signal
  context.log.info({ id, aborted: signal.aborted }, 'typed')
}

const handler = createLambdaHandler(app, { binaryMimeTypes: ['image/png'] })
const result = await handler({}, { awsRequestId: 'a', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 1 })
const status: number = result.statusCode
// @ts-expect-error not an option of the handler
createLambdaHandler(app, { payloadAsStream: true })
export { status }
