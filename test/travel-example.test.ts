// The travel example of issue 6 over real HTTP: the booking service and its partners in one listening
// app, as `npm start` serves them; then the same service as a Lambda handler, and server.ts itself.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { setImmediate } from 'node:timers/promises'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { buildTravelApp, BOOK_STATES, type TravelAppOptions } from '../examples/travel/app.js'
import type { Ledgers, PartnerBooking } from '../examples/travel/partners.js'
import { httpApiEvent, lambdaContext } from './helpers/lambda.js'
import type { LambdaResponse } from '@fastify/aws-lambda'
import { captureLogs, type LogCapture, type LogLine } from './helpers/logs.js'
import { deployTravel } from './helpers/travel-deployment.js'
import { startAwsStandIn, TEST_CREDENTIALS } from './helpers/aws-stand-in.js'

const TRIP = { traveller: 'Ada Lovelace', destination: 'Lisbon' }

interface Travel {
  url: string
  logs: LogCapture
}

async function startTravel (t: Test, options: TravelAppOptions = {}): Promise<Travel> {
  const logs = captureLogs()
  const app = await buildTravelApp({ ...options, logStream: logs.stream })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs }
}

/** A JSON answer: `body` is whatever the route sent. */
interface Answer {
  status: number
  contentType: string | null
  body: any
}

async function post (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.json() }
}

async function ledgers (url: string): Promise<Ledgers> {
  return await (await fetch(`${url}/partners/ledger`)).json() as Ledgers
}

function bookingsOf (ledgers: Ledgers, reference: string): Record<string, Array<Pick<PartnerBooking, 'id' | 'status'>>> {
  return Object.fromEntries(Object.entries(ledgers).map(([partner, bookings]) => [
    partner,
    bookings.filter((booking) => booking.reference === reference).map(({ id, status }) => ({ id, status }))
  ]))
}

/** The lines logged from index `from` on, less the listening line. */
function requestLines (logs: LogCapture, from = 0): LogLine[] {
  return logs.lines.slice(from).filter(({ msg }) => !msg.startsWith('Server listening'))
}

/** What the partner routes themselves logged. */
function partnerMessages (lines: LogLine[]): string[] {
  return lines.filter(({ partner }) => partner !== undefined).map(({ msg }) => msg)
}

/** The method and URL of each request the lines show arriving. */
function incoming (lines: LogLine[]): string[] {
  return lines.filter(({ msg }) => msg === 'incoming request').map(({ req }) => {
    const { method, url } = req as { method: string, url: string }
    return `${method} ${url}`
  })
}

t.test('a booking commits: each partner books once, and booking and partner log lines share the correlation id', async (t) => {
  const { url, logs } = await startTravel(t)
  const { status, body } = await post(`${url}/bookings`, TRIP, { 'x-correlation-id': 'trip-ok' })
  t.equal(status, 201)
  const { sagaId } = body
  t.match(body.results, {
    BookHotelResult: { id: 'hotel-1', reference: sagaId, status: 'booked', ...TRIP },
    BookFlightResult: { id: 'flight-1', reference: sagaId, status: 'booked' },
    BookRentalResult: { id: 'car-1', reference: sagaId, status: 'booked' }
  })

  // TripBooked reaches the notifications route through the local queue, after the booking's answer.
  while (!logs.lines.some(({ msg }) => msg.startsWith('traveller'))) await setImmediate()
  const lines = requestLines(logs)
  t.ok(lines.every(({ correlationId }) => correlationId === 'trip-ok'), 'every line of the booking, its partner calls and its TripBooked consumer has its correlation id')
  t.same(incoming(lines), ['POST /bookings', 'POST /partners/hotel/bookings', 'POST /partners/flight/bookings', 'POST /partners/car/bookings', 'POST /notifications/trip-booked'])
  const consumer = lines.filter(({ recordId }) => recordId !== undefined)
  t.match(consumer.find(({ msg }) => msg.startsWith('traveller')), { msg: 'traveller Ada Lovelace notified of the trip to Lisbon', sagaId, eventSource: 'sqs' })
  t.equal(consumer.length, 3, 'the consumer\'s lines carry the record id')
  t.same(partnerMessages(lines), ['hotel booked', 'flight booked', 'car booked'])
  t.same(lines.filter((line) => line.sagaId === sagaId && line.recordId === undefined).map(({ event }) => event), ['started', ...BOOK_STATES.flatMap(() => ['step-started', 'step-succeeded']), 'committed'])

  const ledger = await ledgers(url)
  t.same(bookingsOf(ledger, sagaId), { hotel: [{ id: 'hotel-1', status: 'booked' }], flight: [{ id: 'flight-1', status: 'booked' }], car: [{ id: 'car-1', status: 'booked' }] })
  const keys = [ledger.hotel[0], ledger.flight[0], ledger.car[0]].map(({ idempotencyKey }) => idempotencyKey)
  t.equal(new Set(keys).size, 3, 'each step sent its own idempotency key')
  t.match(await (await fetch(`${url}/bookings/${sagaId}`)).json(), { sagaId, name: 'travel', status: 'committed', started: BOOK_STATES })
})

t.test('a partner that refuses rolls the booking back: 500 problem+json naming the failed state, the ledgers show the cancellations', async (t) => {
  const { url, logs } = await startTravel(t)
  const { status, contentType, body } = await post(`${url}/bookings?fail=BookRental`, TRIP, { 'x-correlation-id': 'trip-rollback' })
  t.equal(status, 500)
  t.match(contentType, /^application\/problem\+json/)
  const { sagaId } = body
  t.match(body, {
    code: 'HALO_ERR_SAGA_ROLLBACK',
    traceId: 'trip-rollback',
    failedState: 'BookRental',
    sagaId: String,
    compensated: ['CancelRental', 'CancelFlight', 'CancelHotel']
  })

  const lines = requestLines(logs)
  t.ok(lines.every(({ correlationId }) => correlationId === 'trip-rollback'), 'every line of the booking and of its partner calls has its correlation id')
  t.same(incoming(lines), [
    'POST /bookings?fail=BookRental', 'POST /partners/hotel/bookings', 'POST /partners/flight/bookings', 'POST /partners/car/bookings',
    `DELETE /partners/car/bookings/${sagaId}`, `DELETE /partners/flight/bookings/${sagaId}`, `DELETE /partners/hotel/bookings/${sagaId}`
  ], 'the sold-out car is compensated too, then the others in reverse')
  t.same(partnerMessages(lines), ['hotel booked', 'flight booked', 'car: nothing to cancel', 'flight cancelled', 'hotel cancelled'])
  t.match(lines.find(({ code }) => code === 'TRAVEL_ERR_SOLD_OUT'), { status: 409, msg: 'The car partner is sold out for Lisbon' })
  t.match(lines.find(({ event }) => event === 'rolled-back'), { level: 'warn', sagaId })

  t.same(bookingsOf(await ledgers(url), sagaId), { hotel: [{ id: 'hotel-1', status: 'cancelled' }], flight: [{ id: 'flight-1', status: 'cancelled' }], car: [] })
  t.match(await (await fetch(`${url}/bookings/${sagaId}`)).json(), {
    status: 'rolled-back',
    failure: { state: 'BookRental', error: { code: 'TRAVEL_ERR_PARTNER_REFUSED', message: 'The car partner answered 409: The car partner is sold out for Lisbon' } },
    compensated: ['CancelRental', 'CancelFlight', 'CancelHotel']
  })

  const first = await post(`${url}/bookings`, { ...TRIP, fail: 'BookHotel' })
  t.match(first.body, { code: 'HALO_ERR_SAGA_ROLLBACK', failedState: 'BookHotel', compensated: ['CancelHotel'] }, 'the body flag works as ?fail=')
  t.same(bookingsOf(await ledgers(url), first.body.sagaId), { hotel: [], flight: [], car: [] }, 'nothing was booked')
})

t.test('with a queue configured, TripBooked goes to SQS with the booking\'s correlation ids as message attributes', async (t) => {
  const sqs = await startAwsStandIn()
  t.teardown(() => sqs.close())
  const saved = { AWS_REGION: process.env.AWS_REGION, AWS_ENDPOINT_URL_SQS: process.env.AWS_ENDPOINT_URL_SQS, AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY }
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_SQS: sqs.endpoint, AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey })
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const { url } = await startTravel(t, { tripBookedQueue: { url: `${sqs.endpoint}/123456789012/trip-booked` } })
  const { status, body } = await post(`${url}/bookings`, TRIP, { 'x-correlation-id': 'trip-queued' })
  t.equal(status, 201)
  const [sent] = sqs.requests.map((request) => JSON.parse(request.body))
  t.match(JSON.parse(sent.MessageBody), { type: 'TripBooked', sagaId: body.sagaId, ...TRIP })
  t.match(sent.MessageAttributes, { 'x-correlation-id': { DataType: 'String', StringValue: 'trip-queued' }, 'call-chain-length': { StringValue: '1' } })
})

t.test('partners replay a repeated idempotency key; bad requests are answered as problem+json', async (t) => {
  const { url } = await startTravel(t)
  const booking = { reference: 'trip-1', ...TRIP }
  const first = await post(`${url}/partners/hotel/bookings`, booking, { 'idempotency-key': 'key-1' })
  const again = await post(`${url}/partners/hotel/bookings`, booking, { 'idempotency-key': 'key-1' })
  t.equal(first.status, 201)
  t.equal(again.status, 201)
  t.same(again.body, first.body, 'the same booking, not a second one')
  t.equal((await ledgers(url)).hotel.length, 1)

  t.match(await post(`${url}/partners/hotel/bookings`, booking), { status: 400, body: { code: 'HALO_ERR_VALIDATION', errors: [{ path: 'headers/idempotency-key' }] } })
  t.match(await post(`${url}/bookings`, { traveller: 'Ada Lovelace' }), { status: 400, body: { errors: [{ path: 'body/destination' }] } })
  t.match(await post(`${url}/bookings?fail=BookBoat`, TRIP), { status: 400, body: { errors: [{ path: 'querystring/fail' }] } })
  const unknown = await fetch(`${url}/bookings/no-such-saga`)
  t.equal(unknown.status, 404)
  t.match(await unknown.json(), { code: 'TRAVEL_ERR_BOOKING_NOT_FOUND', detail: 'No booking no-such-saga' })
})

t.test('on Lambda: the same bookings through createLambdaHandler and an HTTP API event, on DynamoDB and with the partners\' URL read from SSM', async (t) => {
  const partners = await startTravel(t)
  const { env, ssm, sqs } = await deployTravel(t, `${partners.url}/partners`)
  // The handler's app logs to standard output, which is tap's; its partners' lines are captured.
  const environment = { ...env, LOG_LEVEL: 'silent' }
  const saved = Object.fromEntries(Object.keys(environment).map((name) => [name, process.env[name]]))
  // The SDK reads them when it first calls SSM, so they stay until the test ends.
  Object.assign(process.env, environment)
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const { handler } = await import('../examples/travel/lambda.js')

  const event = (requestId: string, query?: Record<string, string>) => httpApiEvent({
    method: 'POST', path: '/bookings', query, requestId, headers: { 'content-type': 'application/json' }, body: JSON.stringify(TRIP)
  })
  const booked = await handler(event('apigw-booked'), lambdaContext()) as LambdaResponse
  t.equal(booked.statusCode, 201, booked.body)
  const { sagaId } = JSON.parse(booked.body)
  const bookedLines = requestLines(partners.logs)
  t.same(partnerMessages(bookedLines), ['hotel booked', 'flight booked', 'car booked'])
  t.ok(bookedLines.every(({ correlationId }) => correlationId === 'apigw-booked'), 'the event\'s request id is the correlation id the partners see')
  t.same(bookingsOf(await ledgers(partners.url), sagaId), { hotel: [{ id: 'hotel-1', status: 'booked' }], flight: [{ id: 'flight-1', status: 'booked' }], car: [{ id: 'car-1', status: 'booked' }] })

  const refusedFrom = partners.logs.lines.length
  const refused = await handler(event('apigw-refused', { fail: 'BookFlight' }), lambdaContext()) as LambdaResponse
  t.equal(refused.statusCode, 500)
  t.match(refused.headers, { 'content-type': /^application\/problem\+json/, 'x-correlation-id': 'apigw-refused' })
  t.match(JSON.parse(refused.body), { code: 'HALO_ERR_SAGA_ROLLBACK', traceId: 'apigw-refused', failedState: 'BookFlight', compensated: ['CancelFlight', 'CancelHotel'] })
  const refusedLines = requestLines(partners.logs, refusedFrom)
  t.same(partnerMessages(refusedLines), ['hotel booked', 'flight: nothing to cancel', 'hotel cancelled'])
  t.ok(refusedLines.every(({ correlationId }) => correlationId === 'apigw-refused'))
  t.match(ssm.calls, { GetParameter: 1, GetParameters: 0 }, 'the parameter is read once, then cached')
  t.same(sqs.requests.map(({ operation, body }) => [operation, JSON.parse(body).QueueUrl]), [['AmazonSQS.SendMessage', env.TRIP_BOOKED_QUEUE_URL]], 'the booking, on the queue the template names')
})

t.test('`npm start`: server.ts serves bookings on PORT with embedded defaults, and ends on SIGTERM', async (t) => {
  const server = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL('../examples/travel/server.ts', import.meta.url))], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(server, 'exit')
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })
  const lines: LogLine[] = []
  let listening = (_url: string): void => {}
  const started = new Promise<string>((resolve) => { listening = resolve })
  createInterface({ input: server.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine
    lines.push(line)
    const address = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.msg)
    if (address !== null) listening(address[1])
  })
  const url = await started

  const booked = await post(`${url}/bookings`, TRIP, { 'x-correlation-id': 'npm-start' })
  t.equal(booked.status, 201)
  t.match(booked.body.results.BookRentalResult, { id: 'car-1', status: 'booked' })
  const refused = await post(`${url}/bookings?fail=BookFlight`, TRIP)
  t.match(refused.body, { code: 'HALO_ERR_SAGA_ROLLBACK', failedState: 'BookFlight' })

  server.kill('SIGTERM')
  t.same(await exited, [0, null], 'closed and exited cleanly')
  const traced = lines.filter(({ correlationId }) => correlationId === 'npm-start')
  t.ok(traced.some(({ msg }) => msg === 'saga travel committed'), 'the booking\'s saga lines')
  t.same(traced.filter(({ partner }) => partner !== undefined).map(({ msg }) => msg), ['hotel booked', 'flight booked', 'car booked'], 'and its partners\' lines, one correlation id')
  t.ok(lines.every(({ service }) => service === 'travel'))
})

t.test('the README quick start works as pasted: its curl commands book a trip, then roll one back', async (t) => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1))
  // Each curl command, its continuation lines joined: the path, the -H headers and the -d body.
  const commands = quickStart.replace(/\\\n\s*/g, '').split('\n').filter((line) => line.startsWith('curl -s -X POST'))
  t.equal(commands.length, 2)
  const { url } = await startTravel(t)
  const answers = await Promise.all(commands.map(async (command) => {
    const path = /'?localhost:3000(\/[^' ]*)'?/.exec(command)![1]!
    const headers = Object.fromEntries([...command.matchAll(/-H '([^:]+): ([^']*)'/g)].map(([, name, value]) => [name, value]))
    const body = /-d '([^']*)'/.exec(command)?.[1]
    const response = await fetch(`${url}${path}`, { method: 'POST', headers, body })
    return { status: response.status, body: await response.json() }
  }))
  t.equal(answers[0]!.status, 201, JSON.stringify(answers[0]!.body))
  t.match(answers[0]!.body, { results: { BookRentalResult: { status: 'booked' } } })
  t.equal(answers[1]!.status, 500)
  t.match(answers[1]!.body, { code: 'HALO_ERR_SAGA_ROLLBACK', traceId: 'trip-2', failedState: 'BookRental' })
})
