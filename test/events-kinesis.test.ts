import t from 'tap'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { CreateStreamCommand, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis'
import { NodeHttpHandler } from '@smithy/node-http-handler'
// @ts-expect-error kinesalite ships no types
import kinesalite from 'kinesalite'
import { buildApp } from './helpers/app.js'
import { TEST_CREDENTIALS } from './helpers/aws-stand-in.js'
import { httpApiEvent, lambdaContext } from './helpers/lambda.js'
import { kinesisRecord } from './helpers/events.js'
import { createLambdaHandler, forwardCorrelation } from '../index.js'

const StreamName = 'trips'

async function startKinesalite (): Promise<{ endpoint: string, close (): Promise<void> }> {
  const server = (kinesalite as (options: object) => Server)({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 10 })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

t.test('end to end through kinesalite: the consumer of a forwarded record joins the first request\'s chain', async (t) => {
  const kinesaliteServer = await startKinesalite()
  t.teardown(() => kinesaliteServer.close())
  const kinesis = forwardCorrelation(new KinesisClient({ region: 'us-east-1', endpoint: kinesaliteServer.endpoint, credentials: TEST_CREDENTIALS, requestHandler: new NodeHttpHandler() }))
  t.teardown(() => kinesis.destroy())
  await kinesis.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }))
  while ((await kinesis.send(new DescribeStreamCommand({ StreamName }))).StreamDescription!.StreamStatus !== 'ACTIVE') await sleep(20)

  const consumed: Array<{ body: unknown, chain: unknown, correlationId: string }> = []
  const { app, logs } = await buildApp({}, (app) => {
    app.post('/book', async (request) => {
      await kinesis.send(new PutRecordCommand({ StreamName, PartitionKey: 'trip', Data: Buffer.from(JSON.stringify({ trip: 1 })) }))
      request.log.info('published')
      return { ok: true }
    })
    app.post('/trips', async (request) => {
      consumed.push({ body: request.body, chain: request.headers['call-chain-length'], correlationId: request.correlationId })
      request.log.info('trip consumed')
      return { ok: true }
    })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { kinesis: '/trips' } })
  const booked = await handler(httpApiEvent({ method: 'POST', path: '/book', headers: { 'content-type': 'application/json', 'x-correlation-id': 'chain-1', 'call-chain-length': '3' }, body: '{}' }), lambdaContext())
  t.equal((booked as { statusCode: number }).statusCode, 200)

  const shardId = (await kinesis.send(new DescribeStreamCommand({ StreamName }))).StreamDescription!.Shards![0]!.ShardId!
  const iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator!
  const records = (await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records!
  t.equal(records.length, 1)
  const event = { Records: records.map((record) => kinesisRecord(Buffer.from(record.Data!).toString(), record.SequenceNumber!, shardId)) }

  t.same(await handler(event, lambdaContext()), { batchItemFailures: [] })
  t.same(consumed, [{ body: { trip: 1 }, chain: '4', correlationId: 'chain-1' }], 'the consumer got the body without __context__, the id and call-chain-length + 1')
  const recordId = event.Records[0]!.eventID
  const consumerLines = logs.lines.filter((line) => line.recordId === recordId)
  t.ok(consumerLines.some((line) => line.msg === 'trip consumed'))
  t.ok(consumerLines.every((line) => line.correlationId === 'chain-1'), "every consumer line carries the first request's correlation id")
})
