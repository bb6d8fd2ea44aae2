import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { buildApp } from './helpers/app.js'
import { lambdaContext, httpApiEvent, restApiEvent } from './helpers/lambda.js'
import {
  dynamodbRecord, eventBridgeEvent, kinesisEvent, s3Event, scheduledEvent, snsEvent, sqsEvent
} from './helpers/events.js'
import { createLambdaHandler, type EventRoutes } from '../index.js'
import type { LambdaResponse } from '@fastify/aws-lambda'

interface Seen {
  body: unknown
  record: unknown
  eventSource: string | null
  correlationId: string
  headers: Record<string, unknown>
}

function recordingRoutes (seen: Seen[], paths: string[]): (app: FastifyInstance) => void {
  return (app) => {
    for (const path of paths) {
      app.post(path, async (request: FastifyRequest) => {
        seen.push({ body: request.body, record: request.record, eventSource: request.eventSource, correlationId: request.correlationId, headers: request.headers })
        request.log.info('consumed')
        return { ok: true }
      })
    }
  }
}

const ALL_ROUTES: EventRoutes = { sqs: '/sqs', sns: '/sns', eventbridge: '/eventbridge', kinesis: '/kinesis', dynamodb: '/dynamodb', s3: '/s3' }

t.test('each source hands its documented body, record and headers to its route', async (t) => {
  const seen: Seen[] = []
  const { app, logs } = await buildApp({}, recordingRoutes(seen, Object.values(ALL_ROUTES) as string[]))
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: ALL_ROUTES })
  const carried = { 'x-correlation-id': 'from-upstream', 'call-chain-length': '2', 'x-correlation-user': 'u-7' }

  const cases: Array<{ name: string, event: Record<string, unknown>, body: unknown, id: string, correlationId: string, answer: unknown }> = []
  const sqs = sqsEvent([{ body: '{"trip":1}', attributes: { ...carried, 'not-correlation': 'x' } }])
  cases.push({ name: 'sqs', event: sqs, body: { trip: 1 }, id: sqs.Records[0]!.messageId as string, correlationId: 'from-upstream', answer: { batchItemFailures: [] } })
  const sqsText = sqsEvent([{ body: 'plain words' }])
  cases.push({ name: 'sqs', event: sqsText, body: 'plain words', id: sqsText.Records[0]!.messageId as string, correlationId: sqsText.Records[0]!.messageId as string, answer: { batchItemFailures: [] } })
  cases.push({ name: 'sns', event: snsEvent('{"trip":2}', carried, 'sns-1'), body: { trip: 2 }, id: 'sns-1', correlationId: 'from-upstream', answer: undefined })
  cases.push({ name: 'eventbridge', event: eventBridgeEvent({ trip: 3, __context__: carried }, 'TripBooked', 'eb-1'), body: { trip: 3 }, id: 'eb-1', correlationId: 'from-upstream', answer: undefined })
  cases.push({ name: 'eventbridge', event: scheduledEvent('tick-1'), body: {}, id: 'tick-1', correlationId: 'tick-1', answer: undefined })
  const kinesis = kinesisEvent([JSON.stringify({ trip: 4, __context__: carried })])
  cases.push({ name: 'kinesis', event: kinesis, body: { trip: 4 }, id: kinesis.Records[0]!.eventID as string, correlationId: 'from-upstream', answer: { batchItemFailures: [] } })
  const dynamodb = {
    Records: [dynamodbRecord({
      eventName: 'MODIFY',
      eventID: 'ddb-1',
      sequenceNumber: '111',
      keys: { id: { S: 'trip-5' } },
      newImage: { id: { S: 'trip-5' }, seats: { N: '3' }, tags: { SS: ['a', 'b'] }, paid: { BOOL: true }, note: { NULL: true }, legs: { L: [{ M: { to: { S: 'LIS' } } }] } },
      oldImage: { id: { S: 'trip-5' }, seats: { N: '2' } }
    })]
  }
  cases.push({
    name: 'dynamodb',
    event: dynamodb,
    body: { eventName: 'MODIFY', keys: { id: 'trip-5' }, newImage: { id: 'trip-5', seats: 3, tags: ['a', 'b'], paid: true, note: null, legs: [{ to: 'LIS' }] }, oldImage: { id: 'trip-5', seats: 2 } },
    id: 'ddb-1',
    correlationId: 'ddb-1',
    answer: { batchItemFailures: [] }
  })
  const s3 = s3Event('tickets/trip-6.pdf', '0055AED6DCD90281E5')
  cases.push({ name: 's3', event: s3, body: s3.Records[0], id: '0055AED6DCD90281E5', correlationId: '0055AED6DCD90281E5', answer: undefined })

  for (const [index, item] of cases.entries()) {
    const answer = await handler(item.event, lambdaContext())
    t.same(answer, item.answer, `${item.name}: answer`)
    const got = seen[index]!
    t.same(got.body, item.body, `${item.name}: body`)
    t.equal(got.eventSource, item.name, `${item.name}: eventSource`)
    t.same(got.record, (item.event.Records as unknown[] | undefined)?.[0] ?? item.event, `${item.name}: the raw record`)
    t.equal(got.correlationId, item.correlationId, `${item.name}: correlation id`)
    t.equal(got.headers['idempotency-key'], item.id, `${item.name}: idempotency key`)
    if (item.correlationId === 'from-upstream') {
      t.equal(got.headers['x-correlation-user'], 'u-7', `${item.name}: other correlation headers`)
      t.equal(got.headers['call-chain-length'], '2', `${item.name}: call chain`)
    }
    t.notOk('not-correlation' in got.headers, `${item.name}: only correlation attributes become headers`)
    const lines = logs.lines.filter((line) => line.recordId === item.id)
    t.ok(lines.some((line) => line.msg === 'consumed'), `${item.name}: the route's own line`)
    t.ok(lines.length >= 3 && lines.every((line) => line.correlationId === item.correlationId && line.awsRequestId !== undefined), `${item.name}: every line carries correlationId and recordId`)
  }
})

t.test('SQS: a batch of 10 reports exactly the records that answered 500, threw and failed their schema', async (t) => {
  const ran: number[] = []
  const { app, logs } = await buildApp({}, (app) => {
    app.post<{ Body: { n: number } }>('/orders', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async (request, reply) => {
      const { n } = request.body
      ran.push(n)
      if (n === 3) return reply.code(500).send({ no: true })
      if (n === 5) throw new Error('boom')
      return { n }
    })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/orders' } })
  const event = sqsEvent(Array.from({ length: 10 }, (_, index) => ({ body: JSON.stringify({ n: index + 1 === 7 ? 'seven' : index + 1 }) })))
  const answer = await handler(event, lambdaContext())
  const ids = event.Records.map((record) => record.messageId as string)
  t.same(answer, { batchItemFailures: [ids[2], ids[4], ids[6]].map((itemIdentifier) => ({ itemIdentifier })) })
  t.same(ran.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 8, 9, 10], 'every valid record ran once')
  const failedLines = logs.lines.filter((line) => line.msg === 'record failed')
  t.same(failedLines.map((line) => line.recordId).sort(), [ids[2], ids[4], ids[6]].sort(), 'one error line per failed record')
  t.same(failedLines.map((line) => line.statusCode).sort(), [400, 500, 500])
})

t.test('SQS FIFO: a failure stops the rest of its message group only', async (t) => {
  const ran: string[] = []
  const { app } = await buildApp({}, (app) => {
    app.post<{ Body: { name: string } }>('/fifo', async (request, reply) => {
      ran.push(request.body.name)
      await new Promise((resolve) => setImmediate(resolve))
      return request.body.name === 'A2' ? reply.code(500).send({}) : { ok: true }
    })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/fifo' } })
  const names = ['A1', 'B1', 'A2', 'B2', 'A3', 'B3', 'A4']
  const event = sqsEvent(names.map((name) => ({ body: JSON.stringify({ name }), groupId: name[0] })), 'halo-queue.fifo')
  const answer = await handler(event, lambdaContext())
  const idOf = (name: string): string => event.Records[names.indexOf(name)]!.messageId as string
  t.same(answer, { batchItemFailures: ['A2', 'A3', 'A4'].map((name) => ({ itemIdentifier: idOf(name) })) })
  t.same(ran.filter((name) => name.startsWith('A')), ['A1', 'A2'], 'group A stopped at its failure')
  t.same(ran.filter((name) => name.startsWith('B')), ['B1', 'B2', 'B3'], 'group B ran completely, in order')
})

t.test('Kinesis and DynamoDB Streams: the first failure and every record after it are reported', async (t) => {
  const ran: number[] = []
  const { app } = await buildApp({}, (app) => {
    const handler = async (n: number, reply: { code (status: number): { send (body: unknown): unknown } }): Promise<unknown> => {
      ran.push(n)
      return n === 4 ? reply.code(500).send({}) : { ok: true }
    }
    app.post<{ Body: { n: number } }>('/kinesis', async (request, reply) => await handler(request.body.n, reply))
    app.post<{ Body: { newImage: { n: number } } }>('/dynamodb', async (request, reply) => await handler(request.body.newImage.n, reply))
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { kinesis: '/kinesis', dynamodb: '/dynamodb' } })
  const numbers = [1, 2, 3, 4, 5, 6, 7, 8]

  const kinesis = kinesisEvent(numbers.map((n) => JSON.stringify({ n })))
  t.same(await handler(kinesis, lambdaContext()), {
    batchItemFailures: kinesis.Records.slice(3).map((record) => ({ itemIdentifier: (record.kinesis as { sequenceNumber: string }).sequenceNumber }))
  })
  t.same(ran, [1, 2, 3, 4], 'records 5 to 8 never ran')

  ran.length = 0
  const dynamodb = { Records: numbers.map((n) => dynamodbRecord({ eventName: 'INSERT', keys: { id: { S: `k${n}` } }, newImage: { n: { N: String(n) } }, sequenceNumber: String(100 + n) })) }
  t.same(await handler(dynamodb, lambdaContext()), { batchItemFailures: numbers.slice(3).map((n) => ({ itemIdentifier: String(100 + n) })) })
  t.same(ran, [1, 2, 3, 4])
})

t.test('SNS, EventBridge and S3: a failing record makes the handler reject', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.post('/fail', async (_request, reply) => reply.code(503).send({}))
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sns: '/fail', eventbridge: '/fail', s3: '/fail' } })
  await t.rejects(handler(snsEvent('{}'), lambdaContext()), { code: 'HALO_ERR_RECORD_FAILED', message: '1 of 1 sns records failed' })
  await t.rejects(handler(eventBridgeEvent({ a: 1 }), lambdaContext()), { code: 'HALO_ERR_RECORD_FAILED', message: '1 of 1 eventbridge records failed' })
  await t.rejects(handler(s3Event('k'), lambdaContext()), { code: 'HALO_ERR_RECORD_FAILED' })
})

t.test('an event route serves only records on Lambda, and is a plain POST route locally', async (t) => {
  const seen: Seen[] = []
  const { app } = await buildApp({}, recordingRoutes(seen, ['/notifications', '/other']))
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/notifications' } })
  const http = await handler(httpApiEvent({ method: 'POST', path: '/notifications', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }), lambdaContext()) as LambdaResponse
  t.equal(http.statusCode, 404)
  t.match(JSON.parse(http.body), { code: 'HALO_ERR_NOT_FOUND', status: 404 })
  t.ok(http.headers['x-correlation-id'])
  const withQuery = await handler(restApiEvent({ method: 'POST', path: '/notifications', query: { x: '1' }, headers: { 'content-type': 'application/json' }, body: '{}' }), lambdaContext()) as LambdaResponse
  t.equal(withQuery.statusCode, 404)
  t.equal((await handler(httpApiEvent({ method: 'POST', path: '/other', headers: { 'content-type': 'application/json' }, body: '{}' }), lambdaContext()) as LambdaResponse).statusCode, 200, 'other routes still serve HTTP')
  t.equal(seen.length, 1)

  const local = await app.inject({ method: 'POST', url: '/notifications', payload: { a: 1 } })
  t.equal(local.statusCode, 200)
  t.same(seen[1]!.body, { a: 1 })
  t.equal(seen[1]!.record, null)
  t.equal(seen[1]!.eventSource, null)
})

t.test('a record at the call-chain limit does not run and is reported failed, with an error line', async (t) => {
  let runs = 0
  const { app, logs } = await buildApp({ correlation: { maxCallChainLength: 3 } }, (app) => {
    app.post('/sqs', async () => { runs++; return {} })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/sqs' } })
  const event = sqsEvent([{ body: '{}', attributes: { 'call-chain-length': '3' } }, { body: '{}', attributes: { 'call-chain-length': '2' } }])
  t.same(await handler(event, lambdaContext()), { batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] })
  t.equal(runs, 1)
  t.ok(logs.lines.some((line) => line.level === 'error' && line.recordId === event.Records[0]!.messageId && line.statusCode === 508))
})

t.test('a source without a route is logged and thrown; function routes choose per record', async (t) => {
  const paths: string[] = []
  const { app, logs } = await buildApp({}, (app) => {
    app.post('/queues/:name', async (request) => { paths.push(request.url); return {} })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: (record) => `/queues/${String((record as { eventSourceARN: string }).eventSourceARN).split(':').pop()}`, concurrency: 1 } })
  t.same(await handler(sqsEvent([{ body: '1' }], 'orders'), lambdaContext()), { batchItemFailures: [] })
  t.same(paths, ['/queues/orders'])
  await t.rejects(handler(snsEvent('x'), lambdaContext()), { code: 'HALO_ERR_EVENT_ROUTE' })
  t.ok(logs.lines.some((line) => line.level === 'error' && line.code === 'HALO_ERR_EVENT_ROUTE' && line.eventSource === 'sns'))

  const throwing = createLambdaHandler(app, { events: { sqs: () => { throw new Error('no route for this one') } } })
  const event = sqsEvent([{ body: '1' }])
  t.same(await throwing(event, lambdaContext()), { batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] })
  t.ok(logs.lines.some((line) => line.msg === 'record failed: no route for this one'))

  const plain = createLambdaHandler(app)
  await t.rejects(plain(sqsEvent([{ body: '1' }]), lambdaContext()), { code: 'HALO_ERR_EVENT_ROUTE' })
})

t.test('a record that arrives while the app is closing is answered 503 and reported failed', async (t) => {
  const { app, logs } = await buildApp({}, (app) => { app.post('/sqs', async () => ({})) })
  const handler = createLambdaHandler(app, { events: { sqs: '/sqs' } })
  t.same(await handler(sqsEvent([{ body: '1' }]), lambdaContext()), { batchItemFailures: [] })
  await app.close()
  const event = sqsEvent([{ body: '1' }])
  t.same(await handler(event, lambdaContext()), { batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] })
  t.ok(logs.lines.some((line) => line.level === 'error' && line.recordId === event.Records[0]!.messageId && line.msg === 'record failed' && line.statusCode === 503))
})

t.test('events options are checked when the handler is made', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  t.throws(() => createLambdaHandler(app, { events: { sqs: 'queue' } }), /events: option "sqs" must be a path starting with "\/" or must be a function/)
  // @ts-expect-error not a source
  t.throws(() => createLambdaHandler(app, { events: { kafka: '/k' } }), /unknown option "kafka"/)
  t.throws(() => createLambdaHandler(app, { events: { sqs: '/q', concurrency: 0 } }), /"concurrency" must be an integer from 1 to 1000/)
  const Fastify = (await import('fastify')).default
  const bare = Fastify()
  t.teardown(() => bare.close())
  t.throws(() => createLambdaHandler(bare, { events: { sqs: '/q' } }), /needs fastify-halo \(or eventsPlugin\)/)
  t.doesNotThrow(() => createLambdaHandler(bare, { events: {} }))
})
