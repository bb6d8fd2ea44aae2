// Type tests: checked by `tsc --noEmit`, never run. A line under @ts-expect-error must fail to compile.
import Fastify from 'fastify'
import { SQSClient } from '@aws-sdk/client-sqs'
import { KinesisClient } from '@aws-sdk/client-kinesis'
import halo, { createLambdaHandler, forwardCorrelation, haloServerOptions, type EventBatchResponse, type EventSourceName } from '../../index.js'

const app = Fastify(haloServerOptions({ service: 'types' }))
await app.register(halo)
app.post('/orders', async (request) => {
  const source: EventSourceName | null = request.eventSource
  const record: unknown = request.record
  // @ts-expect-error the source is one of the six names
  const wrong: 'kafka' = request.eventSource
  return { source, record, wrong }
})

const context = { awsRequestId: 'a', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 1 }
const events = createLambdaHandler(app, { events: { sqs: '/orders', sns: (record) => `/topics/${String(record)}`, concurrency: 5, marginMs: 200 } })
const answer = await events({}, context)
if (answer !== undefined && 'batchItemFailures' in answer) {
  const failures: EventBatchResponse['batchItemFailures'] = answer.batchItemFailures
  console.log(failures)
}
const http = createLambdaHandler(app)
const status: number = (await http({}, context)).statusCode
// @ts-expect-error not a source
createLambdaHandler(app, { events: { kafka: '/k' } })
// @ts-expect-error a route is a path or a function
createLambdaHandler(app, { events: { sqs: 1 } })

const sqs: SQSClient = forwardCorrelation(new SQSClient({}))
const kinesis: KinesisClient = forwardCorrelation(new KinesisClient({}))
// @ts-expect-error not an AWS SDK client
forwardCorrelation({})
export { status, sqs, kinesis }
