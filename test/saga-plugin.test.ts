import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { HaloOptions } from '../index.js'
import { DynamoDBSagaLog, MemorySagaLog, type SagaRecord } from '../lib/saga/index.js'
import { sagaPlugin, type SagaOptions } from '../plugins/saga.js'
import { buildApp, type TestApp } from './helpers/app.js'
import { startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'
import { BOOK_STATES, seedPayloads, statesOf, travelApis, travelDefinition, withTask, type PartnerCall } from './fixtures/travel.js'

const CANCEL_ALL = ['CancelRental', 'CancelFlight', 'CancelHotel']
/** Fast compensation retries, for tests. */
const compensationRetry = { IntervalSeconds: 0.01 }

/** A Halo app with the saga part; `routes` may use `app.saga` in handlers, sagas are loaded once it is ready. */
async function sagaApp (t: Test, sagaOptions: SagaOptions = {}, routes: (app: FastifyInstance) => void = () => {}, haloOptions: HaloOptions = {}): Promise<TestApp> {
  const built = await buildApp({ ...haloOptions, saga: sagaOptions }, routes)
  t.teardown(() => built.app.close())
  return built
}

function refusing (...states: string[]) {
  return ({ state }: { state: string }) => {
    if (states.includes(state)) throw Object.assign(new Error(`${state} refused`), { name: 'PartnerRefused' })
  }
}

/** Runs the saga named in the URL for each request. */
function tripRoutes (app: FastifyInstance): void {
  app.post<{ Params: { saga: string } }>('/trips/:saga', async (request) => {
    return await app.saga.run(request.params.saga, { payloads: seedPayloads() })
  })
}

async function until<T> (probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    await sleep(10)
  }
}

t.test('load, run and recover through fastify.saga; outside a request a run logs through fastify.log', async (t) => {
  const { app, logs } = await sagaApp(t)
  t.ok(app.saga.log instanceof MemorySagaLog, 'a memory saga log by default')
  const calls: PartnerCall[] = []
  const saga = app.saga.load('travel', travelDefinition(), travelApis(calls))
  t.equal(saga.sagaLog, app.saga.log, 'loaded sagas write to the plugin\'s saga log')

  const context = { caller: 'batch job' }
  const { sagaId, results } = await app.saga.run('travel', { payloads: seedPayloads(), context })
  t.same(Object.keys(results), ['BookHotelResult', 'BookFlightResult', 'BookRentalResult'])
  t.same(statesOf(calls), BOOK_STATES)
  t.equal(calls[0].context, context, 'the run\'s context reaches the APIs')
  t.match(await app.saga.log.get(sagaId), { name: 'travel', status: 'committed' })

  const sagaLines = logs.lines.filter((line) => line.sagaId === sagaId)
  t.equal(sagaLines.at(-1)?.msg, 'saga travel committed', 'one line per transition through fastify.log')
  t.ok(sagaLines.every((line) => line.correlationId === undefined), 'no request, no correlation id')

  const rerouted: PartnerCall[] = []
  const other = await app.saga.run('travel', { payloads: seedPayloads(), apis: { BookFlight: travelApis(rerouted).BookFlight }, sagaId: 'chosen-id' })
  t.equal(other.sagaId, 'chosen-id')
  t.same(statesOf(rerouted), ['BookFlight'], 'a run\'s apis override those given at load')

  t.same(await app.saga.recover(), { recovered: [], skipped: [] }, 'nothing open, nothing to recover')
})

t.test('an uncaught SagaRollback answers 500 problem+json naming the failed state, and every saga line carries the correlation id', async (t) => {
  const { app, logs } = await sagaApp(t, {}, tripRoutes)
  const calls: PartnerCall[] = []
  app.saga.load('travel', travelDefinition(), travelApis(calls, refusing('BookFlight')), { compensationRetry })

  const response = await app.inject({ method: 'POST', url: '/trips/travel', headers: { 'x-correlation-id': 'trip-7' } })
  t.equal(response.statusCode, 500)
  t.match(response.headers['content-type'], /^application\/problem\+json/)
  const problem = response.json()
  t.match(problem, {
    type: 'urn:fastify-halo:problem:HALO_ERR_SAGA_ROLLBACK',
    status: 500,
    code: 'HALO_ERR_SAGA_ROLLBACK',
    traceId: 'trip-7',
    failedState: 'BookFlight',
    sagaId: String,
    compensated: ['CancelFlight', 'CancelHotel']
  })
  t.notMatch(response.body, /refused/, 'the cause stays in the logs')
  t.same(statesOf(calls), ['BookHotel', 'BookFlight', 'CancelFlight', 'CancelHotel'])

  const record = await app.saga.log.get(problem.sagaId) as SagaRecord
  const sagaLines = logs.lines.filter((line) => line.saga === 'travel')
  t.same(sagaLines.map(({ event }) => event), record.events.map(({ event }) => event), 'one line per transition')
  t.ok(sagaLines.every((line) => line.correlationId === 'trip-7'), 'each with the request\'s correlation id')
  t.match(sagaLines.find(({ event }) => event === 'step-failed'), { level: 'warn', state: 'BookFlight', sagaId: problem.sagaId })
  t.match(logs.lines.find(({ msg }) => msg === 'request failed'), { level: 'error', correlationId: 'trip-7', err: { failedState: 'BookFlight' } })
})

t.test('ctx.log lines carry the saga, its id, the state and the request\'s correlation id', async (t) => {
  const { app, logs } = await sagaApp(t, {}, tripRoutes)
  app.saga.load('travel', travelDefinition(), travelApis([], (ctx) => { ctx.log.info({ partner: 'ok' }, 'partner called') }))
  const response = await app.inject({ method: 'POST', url: '/trips/travel', headers: { 'x-correlation-id': 'trip-log' } })
  const { sagaId } = response.json()
  const partnerLines = logs.lines.filter(({ msg }) => msg === 'partner called')
  t.same(partnerLines.map(({ saga, sagaId, state, correlationId, partner }) => ({ saga, sagaId, state, correlationId, partner })),
    BOOK_STATES.map((state) => ({ saga: 'travel', sagaId, state, correlationId: 'trip-log', partner: 'ok' })))
})

t.test('a SagaError answers 500 problem+json naming the compensations still pending', async (t) => {
  const { app } = await sagaApp(t, {}, tripRoutes)
  app.saga.load('stuck', travelDefinition(), travelApis([], refusing('BookHotel', 'CancelHotel')), { compensationRetry: { IntervalSeconds: 0, MaxAttempts: 0 } })
  const response = await app.inject({ method: 'POST', url: '/trips/stuck', headers: { 'x-correlation-id': 'trip-8' } })
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'HALO_ERR_SAGA_COMPENSATION', traceId: 'trip-8', failedState: 'BookHotel', pending: ['CancelHotel'], sagaId: String })
})

t.test('a run in a request: a step that ignores its signal fails at the deadline, the compensations still run in-process', async (t) => {
  const { app, logs } = await sagaApp(t, { olderThanMs: 0 }, (app) => {
    app.post('/slow-trip', { config: { timeout: 200 } }, async () => await app.saga.run('travel', { payloads: seedPayloads() }))
  })
  const calls: PartnerCall[] = []
  let sagaId = ''
  let succeedLate = (): void => {}
  app.saga.load('travel', travelDefinition(), travelApis(calls, async (ctx) => {
    sagaId = ctx.sagaId
    if (ctx.state === 'BookFlight') await new Promise<void>((resolve) => { succeedLate = resolve })
    // Compensations that take a while, as real ones do: the 504 goes out before the saga has rolled back.
    if (ctx.state.startsWith('Cancel')) await sleep(50)
  }))

  const response = await app.inject({ method: 'POST', url: '/slow-trip', headers: { 'x-correlation-id': 'trip-9' } })
  t.equal(response.statusCode, 504)
  const record = await until(async () => {
    const found = await app.saga.log.get(sagaId)
    return found?.status === 'rolled-back' ? found : undefined
  })
  t.match(record, { failure: { state: 'BookFlight', error: { name: 'States.Timeout' } }, compensated: ['CancelFlight', 'CancelHotel'] },
    'the step counted as failed at the deadline, and what was booked was undone after the 504')
  t.same(await app.saga.recover(), { recovered: [], skipped: [] }, 'nothing left for a recoverer')

  succeedLate()
  await until(async () => statesOf(calls).length === 5 ? true : undefined)
  t.match(logs.lines.find(({ event }) => event === 'late-success'), { level: 'warn', state: 'BookFlight', correlationId: 'trip-9' }, 'a warning says the step succeeded late')
  t.same(statesOf(calls), ['BookHotel', 'BookFlight', 'CancelFlight', 'CancelHotel', 'CancelFlight'], 'the late booking is cancelled once more')
})

t.test('with the timeout part off, a run in a request is bounded by a deadline that never passes, and has its logger', async (t) => {
  const { app, logs } = await sagaApp(t, {}, tripRoutes, { timeout: false })
  app.saga.load('travel', travelDefinition(), travelApis([]))
  const response = await app.inject({ method: 'POST', url: '/trips/travel', headers: { 'x-correlation-id': 'trip-10' } })
  t.equal(response.statusCode, 200)
  t.ok(logs.lines.filter(({ saga }) => saga === 'travel').every(({ correlationId }) => correlationId === 'trip-10'))
})

t.test('load refuses a malformed definition and a name already taken; run and recover refuse what they cannot do', async (t) => {
  const { app } = await sagaApp(t)
  await t.rejects(app.saga.run('travel', { payloads: {} }), { code: 'HALO_ERR_OPTION', message: 'sagaPlugin: no saga named "travel" is loaded (loaded: none)' })

  t.throws(() => app.saga.load('travel', withTask(travelDefinition(), 'BookFlight', { Next: 'BookBoat' })), { code: 'HALO_ERR_SAGA_DEFINITION', message: /state "BookFlight": Next names "BookBoat"/ })
  t.throws(() => app.saga.load('travel', { StartAt: 'Nowhere' }), { code: 'HALO_ERR_SAGA_DEFINITION' })

  app.saga.load('travel', travelDefinition(), travelApis([]), { schemas: { HotelApi: { payload: Type.Object({ abc: Type.String() }) } } })
  t.throws(() => app.saga.load('travel', travelDefinition()), { code: 'HALO_ERR_OPTION', message: 'sagaPlugin: a saga named "travel" is already loaded' })
  t.throws(() => app.saga.load('typo', travelDefinition(), {}, { compensationRetry: { MaxAttempts: -1 } }), { code: 'HALO_ERR_OPTION', message: /MaxAttempts/ })
  await t.rejects(app.saga.run('travle', { payloads: {} }), { message: 'sagaPlugin: no saga named "travle" is loaded (loaded: travel)' })
  await t.rejects(app.saga.run('travel', { payloads: { ...seedPayloads(), BookHotel: { abc: 1 } } }), { code: 'HALO_ERR_VALIDATION', message: /payload of BookHotel/ })
  await t.rejects(app.saga.recover({ olderThanMs: -1 }), { code: 'HALO_ERR_OPTION', message: /sagaPlugin recover: option "olderThanMs"/ })
})

t.test('wrong options fail register, naming the option', async (t) => {
  const wrong: Array<[unknown, RegExp]> = [
    [{ log: 'dynamodb' }, /option "log" must be one of "memory" or must be a SagaLog \(with create, update, claim, renew, get, listOpen\), got "dynamodb"/],
    [{ log: { get () {} } }, /option "log" .* got an object/],
    [{ olderThanMs: -1 }, /option "olderThanMs" must be an integer from 0/],
    [{ olderThanMs: '60000' }, /option "olderThanMs"/],
    [{ logs: 'memory' }, /unknown option "logs" \(known: log, olderThanMs, engine\)/]
  ]
  for (const [options, message] of wrong) {
    const app = Fastify()
    app.register(sagaPlugin, options as SagaOptions)
    await t.rejects(async () => await app.ready(), { code: 'HALO_ERR_OPTION', message }, JSON.stringify(options))
  }
})

t.test('the app owns the saga log it is given: every run writes to it, and close destroys what it made', async (t) => {
  class ClosingSagaLog extends MemorySagaLog {
    destroyed = 0
    async destroy (): Promise<void> {
      this.destroyed++
    }
  }
  const log = new ClosingSagaLog()
  const { app } = await sagaApp(t, { log })
  t.equal(app.saga.log, log)
  app.saga.load('travel', travelDefinition(), travelApis([]))
  const { sagaId } = await app.saga.run('travel', { payloads: seedPayloads() })
  t.match(await log.get(sagaId), { status: 'committed' })
  await app.close()
  t.equal(log.destroyed, 1)
})

t.test('on DynamoDB: recover() through the plugin of another instance compensates an open saga once', async (t) => {
  const db = await startDynamoDB()
  const table = uniqueTableName('saga-plugin')
  const runnerLog = new DynamoDBSagaLog({ table, client: db.client })
  await runnerLog.ensureTable()
  const runner = await sagaApp(t, { log: runnerLog })
  const recoverer = await sagaApp(t, { log: new DynamoDBSagaLog({ table, client: db.client }), olderThanMs: 0 })
  t.teardown(() => db.stop())

  let release = (): void => {}
  let arrived = (): void => {}
  const reached = new Promise<void>((resolve) => { arrived = resolve })
  runner.app.saga.load('travel', travelDefinition(), travelApis([], ({ state }) => {
    if (state !== 'BookRental') return
    arrived()
    return new Promise<void>((resolve) => { release = resolve })
  }))
  const running = runner.app.saga.run('travel', { payloads: seedPayloads(), sagaId: 'crashed-trip' })
  await reached

  const calls: PartnerCall[] = []
  recoverer.app.saga.load('travel', travelDefinition(), travelApis(calls))
  const summary = await recoverer.app.saga.recover()
  t.same(summary, { recovered: [{ sagaId: 'crashed-trip', name: 'travel', compensated: CANCEL_ALL, pending: [], status: 'rolled-back' }], skipped: [] })
  t.same(statesOf(calls), CANCEL_ALL)
  t.match(recoverer.logs.lines.find(({ event }) => event === 'claimed'), { saga: 'travel', sagaId: 'crashed-trip', level: 'warn' })

  release()
  await t.rejects(running, { code: 'HALO_ERR_SAGA_CONFLICT' }, 'the run that comes back finds its saga taken')
  t.same(await recoverer.app.saga.recover(), { recovered: [], skipped: [] })
  t.match(await runnerLog.get('crashed-trip'), { status: 'rolled-back', started: BOOK_STATES, compensated: CANCEL_ALL })
})
