import t from 'tap'
import { Type, type TSchema } from '@sinclair/typebox'
import { SagaError, SagaRollback } from '../lib/errors.js'
import { loadSaga, MemorySagaLog, type SagaDefinition, type SagaLogger, type SagaRecord } from '../lib/saga/index.js'
import { BOOK_STATES, seedPayloads, statesOf, travelApis, travelDefinition, withTask, type PartnerCall } from './fixtures/travel.js'

const COMPENSATIONS: Record<string, string[]> = {
  BookHotel: ['CancelHotel'],
  BookFlight: ['CancelFlight', 'CancelHotel'],
  BookRental: ['CancelRental', 'CancelFlight', 'CancelHotel']
}

/** Fast compensation retries, for tests. */
const compensationRetry = { IntervalSeconds: 0.01 }

function refusing (...states: string[]) {
  return ({ state }: { state: string }) => {
    if (states.includes(state)) throw Object.assign(new Error(`${state} refused`), { name: 'PartnerRefused' })
  }
}

function captureLog (): SagaLogger & { lines: Array<Record<string, unknown> & { level: string, msg: string }> } {
  const lines: Array<Record<string, unknown> & { level: string, msg: string }> = []
  const line = (level: string) => (obj: object, msg: string) => { lines.push({ ...obj, level, msg }) }
  return { lines, info: line('info'), warn: line('warn'), error: line('error') }
}

async function until<T> (probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function recordOf (sagaLog: MemorySagaLog, sagaId: string): Promise<SagaRecord> {
  return await sagaLog.get(sagaId) as SagaRecord
}

t.test('ctx.log lines carry the saga, its id and the state, also through a logger that makes no children', async (t) => {
  const log = captureLog()
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis([], (ctx) => { ctx.log.warn({ partner: 'slow' }, 'partner called') }) })
  const { sagaId } = await saga.run({ payloads: seedPayloads(), log })
  t.same(log.lines.filter(({ msg }) => msg === 'partner called'),
    BOOK_STATES.map((state) => ({ saga: 'travel', sagaId, state, partner: 'slow', level: 'warn', msg: 'partner called' })))
})

t.test('the seed definition with the seed payloads and apis commits and returns every result', async (t) => {
  const calls: PartnerCall[] = []
  const sagaLog = new MemorySagaLog()
  const log = captureLog()
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis(calls), sagaLog })
  const context = { correlationId: 'c-1' }
  const { sagaId, results } = await saga.run({ payloads: seedPayloads(), context, log })

  t.same(results, {
    BookHotelResult: { confirmation: `BookHotel:${sagaId}` },
    BookFlightResult: { confirmation: `BookFlight:${sagaId}` },
    BookRentalResult: { confirmation: `BookRental:${sagaId}` }
  })
  t.same(statesOf(calls), BOOK_STATES)
  t.same(calls.map(({ payload }) => payload), [{ abc: 'def' }, { abc: 'def' }, { abc: 'def' }])
  t.equal(calls[0].context, context, 'ctx.context is the run\'s context')
  t.same(calls[2].results, { BookHotelResult: results.BookHotelResult, BookFlightResult: results.BookFlightResult }, 'ctx.results holds the earlier results')
  t.equal(new Set(calls.map(({ idempotencyKey }) => idempotencyKey)).size, 3, 'one idempotency key per state')

  const record = await recordOf(sagaLog, sagaId)
  t.match(record, { name: 'travel', status: 'committed', started: BOOK_STATES, compensated: [], pending: [], results })
  t.same(Object.keys(record.payloads).sort(), ['CancelFlight', 'CancelHotel', 'CancelRental'], 'only what a recoverer needs is kept')
  t.same(record.events.map(({ event, state }) => [event, state]), [
    ['started', undefined],
    ['step-started', 'BookHotel'], ['step-succeeded', 'BookHotel'],
    ['step-started', 'BookFlight'], ['step-succeeded', 'BookFlight'],
    ['step-started', 'BookRental'], ['step-succeeded', 'BookRental'],
    ['committed', undefined]
  ])
  t.same(log.lines.map(({ event }) => event), record.events.map(({ event }) => event), 'one log line per transition')
  t.match(log.lines[1], { level: 'info', saga: 'travel', sagaId, state: 'BookHotel', event: 'step-started', attempt: 1, msg: 'saga travel step-started BookHotel' })
})

t.test('a failure at each Book step runs exactly the wired compensations, in reverse order, each once', async (t) => {
  for (const failing of BOOK_STATES) {
    const calls: PartnerCall[] = []
    const sagaLog = new MemorySagaLog()
    const saga = loadSaga('travel', travelDefinition(), { apis: travelApis(calls, refusing(failing)), sagaLog, compensationRetry })
    const error = await saga.run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
    t.ok(error instanceof SagaRollback, `${failing}: SagaRollback`)
    t.match(error, { code: 'HALO_ERR_SAGA_ROLLBACK', failedState: failing, compensated: COMPENSATIONS[failing], cause: { message: `${failing} refused` } })
    const booked = BOOK_STATES.slice(0, BOOK_STATES.indexOf(failing) + 1)
    t.same(statesOf(calls), [...booked, ...COMPENSATIONS[failing]], `${failing}: the calls`)
    t.same(calls.at(-1)?.results.error, { Error: 'PartnerRefused', Cause: `${failing} refused` }, 'the Catch stored the error at its ResultPath')

    const record = await recordOf(sagaLog, error.sagaId)
    t.match(record, {
      status: 'rolled-back',
      failure: { state: failing, error: { name: 'PartnerRefused' }, compensation: COMPENSATIONS[failing] },
      compensated: COMPENSATIONS[failing],
      pending: []
    })
    t.equal(record.events.at(-1)?.event, 'rolled-back')
  }
})

t.test('Retry with MaxAttempts 2: one failure then success commits, after the backoff, same idempotency key', async (t) => {
  const calls: PartnerCall[] = []
  const sagaLog = new MemorySagaLog()
  const definition = withTask(travelDefinition(), 'BookFlight', {
    Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 0.05, MaxAttempts: 2, BackoffRate: 2 }]
  })
  const saga = loadSaga('travel', definition, { sagaLog })
  const { sagaId, results } = await saga.run({
    payloads: seedPayloads(),
    apis: travelApis(calls, ({ state, attempt }) => refusing(attempt === 1 ? 'BookFlight' : '')({ state }))
  })

  t.ok(results.BookFlightResult)
  const flight = calls.filter(({ state }) => state === 'BookFlight')
  t.same(flight.map(({ attempt }) => attempt), [1, 2])
  t.equal(flight[0].idempotencyKey, flight[1].idempotencyKey)
  t.ok(flight[1].at - flight[0].at >= 45, `waited ${flight[1].at - flight[0].at} ms`)
  const record = await recordOf(sagaLog, sagaId)
  t.equal(record.status, 'committed')
  t.match(record.events.filter(({ state }) => state === 'BookFlight'), [
    { event: 'step-started', attempt: 1 },
    { event: 'step-failed', attempt: 1, retryInMs: 50, error: { name: 'PartnerRefused' } },
    { event: 'step-started', attempt: 2 },
    { event: 'step-succeeded', attempt: 2 }
  ])
  t.same(record.started, BOOK_STATES, 'a retried step is listed once')
})

t.test('Retry: the backoff grows, MaxAttempts counts retries, and only matching errors are retried', async (t) => {
  const definition = withTask(travelDefinition(), 'BookHotel', {
    Retry: [
      { ErrorEquals: ['Throttled', 'HALO_ERR_X'], IntervalSeconds: 0.02, MaxAttempts: 2, BackoffRate: 3 },
      { ErrorEquals: ['Busy'], IntervalSeconds: 0, MaxAttempts: 0 }
    ]
  })
  const sagaLog = new MemorySagaLog()
  const saga = loadSaga('travel', definition, { sagaLog, compensationRetry })
  const failWith = (...errors: Error[]) => (calls: PartnerCall[]) => travelApis(calls, ({ state, attempt }) => {
    if (state === 'BookHotel' && attempt <= errors.length) throw errors[attempt - 1]
  })
  const throttled = Object.assign(new Error('slow down'), { name: 'Throttled' })
  const coded = Object.assign(new Error('coded'), { code: 'HALO_ERR_X' })

  const retried: PartnerCall[] = []
  await saga.run({ payloads: seedPayloads(), apis: failWith(throttled, coded)(retried) })
  const hotel = retried.filter(({ state }) => state === 'BookHotel')
  t.same(hotel.map(({ attempt }) => attempt), [1, 2, 3], 'matched by name, then by code')
  t.ok(hotel[1].at - hotel[0].at >= 18 && hotel[2].at - hotel[1].at >= 55, 'waits of 20 then 60 ms')

  const exhausted: PartnerCall[] = []
  const rollback = await saga.run({ payloads: seedPayloads(), apis: failWith(throttled, throttled, throttled)(exhausted) }).catch((error: unknown) => error)
  t.match(rollback, { failedState: 'BookHotel', cause: { name: 'Throttled' } })
  t.equal(exhausted.filter(({ state }) => state === 'BookHotel').length, 3, 'MaxAttempts 2: three attempts in all')

  for (const error of [Object.assign(new Error('busy'), { name: 'Busy' }), new Error('other'), 'a string']) {
    const once: PartnerCall[] = []
    const failed = await saga.run({ payloads: seedPayloads(), apis: failWith(error as Error)(once) }).catch((error: unknown) => error)
    t.match(failed, { failedState: 'BookHotel' })
    t.equal(once.filter(({ state }) => state === 'BookHotel').length, 1, `${String(error)}: not retried`)
  }
})

t.test('a compensation that keeps failing is retried, the chain goes on, and SagaError names it in pending', async (t) => {
  const calls: PartnerCall[] = []
  const sagaLog = new MemorySagaLog()
  const log = captureLog()
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis(calls, refusing('BookRental', 'CancelFlight')), sagaLog, compensationRetry })
  const error = await saga.run({ payloads: seedPayloads(), log }).catch((error: unknown) => error) as SagaError

  t.ok(error instanceof SagaError)
  t.match(error, { code: 'HALO_ERR_SAGA_COMPENSATION', failedState: 'BookRental', pending: ['CancelFlight'], cause: { message: 'BookRental refused' } })
  t.match(error.compensationErrors, { CancelFlight: { message: 'CancelFlight refused' } })
  t.same(statesOf(calls), [...BOOK_STATES, 'CancelRental', 'CancelFlight', 'CancelFlight', 'CancelFlight', 'CancelHotel'],
    'three attempts, then the rest of the chain')

  const record = await recordOf(sagaLog, error.sagaId)
  t.match(record, { status: 'failed', compensated: ['CancelRental', 'CancelHotel'], pending: ['CancelFlight'] })
  t.match(record.events.filter(({ event }) => event === 'compensation-failed'), [
    { state: 'CancelFlight', attempt: 1, retryInMs: 10 },
    { state: 'CancelFlight', attempt: 2, retryInMs: 20 },
    { state: 'CancelFlight', attempt: 3, error: { message: 'CancelFlight refused' } }
  ])
  t.equal(record.events.at(-1)?.event, 'failed')
  t.match(log.lines.filter(({ level }) => level === 'error').map(({ event }) => event),
    ['compensation-failed', 'compensation-failed', 'compensation-failed', 'failed'])
})

t.test('a compensation that fails once is retried (its Catch naming itself) and the saga rolls back', async (t) => {
  const calls: PartnerCall[] = []
  const saga = loadSaga('travel', travelDefinition(), {
    apis: travelApis(calls, ({ state, attempt }) => refusing('BookFlight', attempt === 1 ? 'CancelHotel' : '')({ state })),
    compensationRetry
  })
  const error = await saga.run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaRollback', compensated: ['CancelFlight', 'CancelHotel'] })
  t.same(calls.filter(({ state }) => state === 'CancelHotel').map(({ attempt }) => attempt), [1, 2])
})

t.test('a compensation\'s own Retry, when it matches, replaces the default one', async (t) => {
  const calls: PartnerCall[] = []
  const definition = withTask(travelDefinition(), 'CancelHotel', { Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 0, MaxAttempts: 4 }] })
  const saga = loadSaga('travel', definition, { apis: travelApis(calls, refusing('BookHotel', 'CancelHotel')), compensationRetry })
  const error = await saga.run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaError', pending: ['CancelHotel'] })
  t.equal(calls.filter(({ state }) => state === 'CancelHotel').length, 1 + 4, 'its own 4 retries, as in Amazon States Language')
})

t.test('a Catch that does not match falls back to the chain undoing the earlier steps', async (t) => {
  const calls: PartnerCall[] = []
  const definition = withTask(travelDefinition(), 'BookFlight', { Catch: [{ ErrorEquals: ['SoldOut'], Next: 'CancelFlight' }] })
  const saga = loadSaga('travel', definition, { apis: travelApis(calls, refusing('BookFlight')) })
  const error = await saga.run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaRollback', failedState: 'BookFlight', compensated: ['CancelHotel'] })

  const first = withTask(travelDefinition(), 'BookHotel', { Catch: undefined })
  const nothingToUndo = await loadSaga('travel', first, { apis: travelApis([], refusing('BookHotel')) })
    .run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(nothingToUndo, { name: 'SagaRollback', failedState: 'BookHotel', compensated: [] })
})

t.test('time: waits never outlast the deadline, TimeoutSeconds aborts the forward path, compensations still run', async (t) => {
  const retrying = withTask(travelDefinition(), 'BookFlight', { Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 10 }] })
  const calls: PartnerCall[] = []
  const started = Date.now()
  const error = await loadSaga('travel', retrying, { apis: travelApis(calls, refusing('BookFlight')) })
    .run({ payloads: seedPayloads(), deadline: { remaining: () => 5000 } }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaRollback', failedState: 'BookFlight', compensated: ['CancelFlight', 'CancelHotel'] })
  t.ok(Date.now() - started < 1000, 'no 10 s wait was started with 5 s left')

  const byDefault = withTask(travelDefinition(), 'BookFlight', { Retry: [{ ErrorEquals: ['States.ALL'] }] })
  const once: PartnerCall[] = []
  await loadSaga('travel', byDefault, { apis: travelApis(once, refusing('BookFlight')) })
    .run({ payloads: seedPayloads(), deadline: { remaining: () => 900 } }).catch((error: unknown) => error)
  t.equal(once.filter(({ state }) => state === 'BookFlight').length, 1, 'the default 1 s interval does not fit in 0.9 s')

  const slow = { ...travelDefinition(), TimeoutSeconds: 0.05 }
  const hanging = (ctx: { state: string, signal: AbortSignal }) => ctx.state === 'BookRental'
    ? new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
    : undefined
  for (const signal of [undefined, new AbortController().signal]) {
    const timedOut = await loadSaga('travel', slow, { apis: travelApis([], hanging) })
      .run({ payloads: seedPayloads(), signal }).catch((error: unknown) => error)
    t.match(timedOut, { name: 'SagaRollback', failedState: 'BookRental', cause: { code: 'HALO_ERR_TIMEOUT' }, compensated: COMPENSATIONS.BookRental })
  }
})

t.test('time running out while compensating leaves the saga open for recovery', async (t) => {
  const sagaLog = new MemorySagaLog()
  const retrying = withTask(travelDefinition(), 'BookFlight', { Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 10 }] })
  const controller = new AbortController()
  const abortDuringTheWait = (ctx: { state: string }) => {
    if (ctx.state === 'BookFlight') setTimeout(() => controller.abort(), 20)
    refusing('BookFlight')(ctx)
  }
  const aborted = await loadSaga('travel', retrying, { apis: travelApis([], abortDuringTheWait), sagaLog })
    .run({ payloads: seedPayloads(), signal: controller.signal }).catch((error: unknown) => error) as SagaError
  t.match(aborted, { name: 'SagaError', failedState: 'BookFlight', pending: ['CancelFlight', 'CancelHotel'] })
  t.match(aborted.compensationErrors, { CancelFlight: { code: 'HALO_ERR_TIMEOUT' } })
  t.match(await sagaLog.get(aborted.sagaId), { status: 'compensating', pending: ['CancelFlight', 'CancelHotel'] })

  let remaining = 2000
  const calls: PartnerCall[] = []
  const shrinking = await loadSaga('travel', { ...travelDefinition(), TimeoutSeconds: 0.5 }, {
    apis: travelApis(calls, (ctx) => { remaining = 0; refusing('BookHotel', 'CancelHotel')(ctx) }),
    sagaLog,
    compensationRetry: { IntervalSeconds: 1 }
  }).run({ payloads: seedPayloads(), deadline: { remaining: () => remaining } }).catch((error: unknown) => error) as SagaError
  t.match(shrinking, { name: 'SagaError', pending: ['CancelHotel'] })
  t.same(statesOf(calls), ['BookHotel', 'CancelHotel'], 'the deadline passed: the compensation still ran, within TimeoutSeconds anew')
  const record = await sagaLog.get(shrinking.sagaId)
  t.match(record?.events.slice(-2), [{ event: 'compensation-failed', state: 'CancelHotel' }, { event: 'suspended' }])

  const compensationAborted = new AbortController()
  const waitAborted = await loadSaga('travel', travelDefinition(), {
    apis: travelApis([], (ctx) => {
      if (ctx.state === 'CancelHotel') setTimeout(() => compensationAborted.abort(), 20)
      refusing('BookHotel', 'CancelHotel')(ctx)
    }),
    compensationRetry: { IntervalSeconds: 10 }
  }).run({ payloads: seedPayloads(), signal: compensationAborted.signal }).catch((error: unknown) => error)
  t.match(waitAborted, { name: 'SagaError', pending: ['CancelHotel'] }, 'an abort cuts a compensation\'s retry wait short')
})

t.test('schemas per Resource: payloads are checked before anything runs, results as they come', async (t) => {
  const schemas = { HotelApi: { payload: Type.Object({ abc: Type.String() }), result: Type.Object({ confirmation: Type.String() }) }, FlightApi: {} }
  const calls: PartnerCall[] = []
  const sagaLog = new MemorySagaLog()
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis(calls), schemas, sagaLog })
  t.ok(await saga.run({ payloads: seedPayloads() }))

  calls.length = 0
  await t.rejects(saga.run({ payloads: { ...seedPayloads(), CancelHotel: { abc: 1 } } }), {
    code: 'HALO_ERR_VALIDATION',
    message: /saga "travel": the payload of CancelHotel is invalid: \/abc Expected string/
  })
  t.same(calls, [], 'nothing was booked')
  t.same(await sagaLog.listOpen(Infinity), [], 'nothing was logged')

  const badResult = await loadSaga('travel', travelDefinition(), {
    apis: { ...travelApis(calls), BookHotel: () => ({ confirmation: 42 }) },
    schemas
  }).run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(badResult, { name: 'SagaRollback', failedState: 'BookHotel', cause: { code: 'HALO_ERR_VALIDATION', message: /the result of BookHotel is invalid/ } })

  t.throws(() => loadSaga('travel', travelDefinition(), { schemas: { BoatApi: {} } }), { code: 'HALO_ERR_OPTION', message: /Resource "BoatApi", which no state uses/ })
  const resource = (travelDefinition().States.BookHotel as { Resource: string }).Resource
  t.throws(() => loadSaga('travel', travelDefinition(), { schemas: { [resource]: { result: { type: 'object' } as unknown as TSchema } } }),
    { code: 'HALO_ERR_OPTION', message: `option "schemas" for Resource "${resource}": result must be a TypeBox schema` }, 'a plain JSON schema is refused at load, not at run')
})

t.test('options are checked', async (t) => {
  const definition = travelDefinition()
  t.throws(() => loadSaga('travel', definition, { apis: 3 } as never), { code: 'HALO_ERR_OPTION', message: /saga "travel": option "apis" must be an object/ })
  t.throws(() => loadSaga('travel', definition, { compensationRetry: { MaxAttempts: -1 } }), { message: /compensationRetry.*"MaxAttempts"/ })
  t.throws(() => loadSaga('travel', definition, { sagaLog: 'memory' } as never), { code: 'HALO_ERR_OPTION' })
  const saga = loadSaga('travel', definition, { apis: travelApis([]) })
  await t.rejects(saga.run({} as never), { message: /option "payloads" is required/ })
  await t.rejects(saga.run({ payloads: {}, signal: 'stop' } as never), { message: /"signal" must be an AbortSignal/ })
  await t.rejects(saga.run({ payloads: {}, deadline: {} } as never), { message: /"deadline" must have a remaining\(\) method/ })
  await t.rejects(saga.run({ payloads: {}, sagaId: '' }), { message: /"sagaId" must be a non-empty string/ })
  await t.rejects(saga.run({ payloads: {}, log: 'pino' } as never), { message: /"log" must be an object/ })
  await t.rejects(saga.run({ payloads: {}, sagaLog: 1 } as never), { message: /"sagaLog" must be an object/ })
  await t.rejects(saga.run({ payloads: {}, apis: { CancelHotel: 'no' } as never }),
    { code: 'HALO_ERR_OPTION', message: /no API function for state "CancelHotel"/ })
  await t.rejects(loadSaga('travel', definition).run({ payloads: {} }), { message: /no API function for state/ })
})

t.test('APIs given at load are complete: a missing one, or one keyed by Resource, is refused at load naming the state', async (t) => {
  const definition = travelDefinition()
  const { BookFlight: _missing, ...withoutBookFlight } = travelApis([])
  t.throws(() => loadSaga('travel', definition, { apis: withoutBookFlight }),
    { code: 'HALO_ERR_OPTION', message: /saga "travel": no API function for state "BookFlight" in apis \(APIs are keyed by state name, not by Resource\)/ })
  const byResource = Object.fromEntries(Object.values(definition.States).flatMap((state) =>
    'Resource' in state ? [[state.Resource, async () => ({})]] : []))
  t.throws(() => loadSaga('travel', definition, { apis: byResource }), { message: /no API function for state "BookHotel"/ })
  const inherited = { StartAt: 'toString', States: { toString: { Type: 'Task', Resource: 'Text', ResultPath: '$.Text', End: true } } }
  t.throws(() => loadSaga('text', inherited, { apis: {} }), { message: /no API function for state "toString"/ }, 'an inherited function is no API')
})

t.test('the saga log: a taken id, a failing log, bounded memory', async (t) => {
  const sagaLog = new MemorySagaLog({ maxFinished: 2 })
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis([]), sagaLog })
  await saga.run({ payloads: seedPayloads(), sagaId: 'trip-1' })
  await t.rejects(saga.run({ payloads: seedPayloads(), sagaId: 'trip-1' }), { code: 'HALO_ERR_SAGA_CONFLICT', statusCode: 409 })
  await saga.run({ payloads: seedPayloads(), sagaId: 'trip-2' })
  await saga.run({ payloads: seedPayloads(), sagaId: 'trip-3' })
  t.equal(await sagaLog.get('trip-1'), undefined, 'the oldest finished saga is forgotten')
  t.ok(await sagaLog.get('trip-3'))
  t.throws(() => new MemorySagaLog({ maxFinished: 1.5 }), { code: 'HALO_ERR_OPTION' })

  const down = new Error('log down')
  const failingLog = new MemorySagaLog()
  failingLog.update = async () => { throw down }
  const calls: PartnerCall[] = []
  await t.rejects(loadSaga('travel', travelDefinition(), { apis: travelApis(calls) }).run({ payloads: seedPayloads(), sagaLog: failingLog }), down)
  t.same(calls, [], 'no step runs unless its start is logged')
  t.match(await failingLog.listOpen(Infinity), [{ status: 'running' }], 'the saga stays open for recovery')
})

t.test('states are looked up as own properties only: a state named toString with no API is a missing API', async (t) => {
  const definition = {
    StartAt: 'toString',
    States: {
      toString: { Type: 'Task', Resource: 'Api', ResultPath: '$.first', Next: 'valueOf' },
      valueOf: { Type: 'Task', Resource: 'Api', ResultPath: '$.second', Next: 'constructor' },
      constructor: { Type: 'Task', Resource: 'Api', ResultPath: '$.third', End: true }
    }
  } as const satisfies SagaDefinition
  await t.rejects(loadSaga('prototype', definition).run({ payloads: {} }),
    { code: 'HALO_ERR_OPTION', message: 'saga "prototype": no API function for state "toString" in apis' })
  const payloads: unknown[] = []
  const record = (payload: unknown): string => { payloads.push(payload); return 'done' }
  const { results } = await loadSaga('prototype', definition, { apis: { toString: record, valueOf: record, constructor: record } }).run({ payloads: {} })
  t.same(results, { first: 'done', second: 'done', third: 'done' })
  t.same(payloads, [undefined, undefined, undefined], 'no payload is taken from Object.prototype')
})

t.test('a step that ignores its signal fails with States.Timeout at the deadline or TimeoutSeconds; a late success is undone again', async (t) => {
  const calls: PartnerCall[] = []
  let succeedLate = (): void => {}
  const ignoringItsSignal = ({ state }: { state: string }) => state === 'BookRental'
    ? new Promise<void>((resolve) => { succeedLate = resolve })
    : undefined
  const sagaLog = new MemorySagaLog()
  const log = captureLog()
  const timedOut = await loadSaga('travel', { ...travelDefinition(), TimeoutSeconds: 0.05 }, { apis: travelApis(calls, ignoringItsSignal), sagaLog })
    .run({ payloads: seedPayloads(), log }).catch((error: unknown) => error) as SagaRollback
  t.match(timedOut, { name: 'SagaRollback', failedState: 'BookRental', cause: { name: 'States.Timeout', code: 'HALO_ERR_TIMEOUT' }, compensated: COMPENSATIONS.BookRental })
  t.match(await recordOf(sagaLog, timedOut.sagaId), { status: 'rolled-back', failure: { state: 'BookRental', error: { name: 'States.Timeout' } } })

  succeedLate()
  const undone = await until(async () => {
    const record = await recordOf(sagaLog, timedOut.sagaId)
    return record.events.at(-1)?.event === 'compensation-succeeded' && record.events.at(-2)?.event !== 'rolled-back' ? record : undefined
  })
  t.same(statesOf(calls), [...BOOK_STATES, ...COMPENSATIONS.BookRental, 'CancelRental'], 'the late booking is cancelled once more')
  t.match(undone.events.slice(-3), [{ event: 'late-success', state: 'BookRental' }, { event: 'compensation-started', state: 'CancelRental' }, { event: 'compensation-succeeded', state: 'CancelRental' }])
  t.match(log.lines.find(({ event }) => event === 'late-success'), { level: 'warn', state: 'BookRental', msg: 'saga travel late-success BookRental' })

  const neverAnswering = await loadSaga('travel', travelDefinition(), {
    apis: travelApis([], ({ state }) => state === 'BookFlight' ? new Promise(() => {}) : undefined)
  }).run({ payloads: seedPayloads(), deadline: { remaining: () => 50 } }).catch((error: unknown) => error)
  t.match(neverAnswering, { name: 'SagaRollback', failedState: 'BookFlight', cause: { name: 'States.Timeout' }, compensated: COMPENSATIONS.BookFlight },
    'the deadline bounds a step that never settles')

  const failingLate = withTask(travelDefinition(), 'BookFlight', { Catch: [{ ErrorEquals: ['States.Timeout'], Next: 'CancelFlight' }] })
  let failLate = (): void => {}
  const lateCalls: PartnerCall[] = []
  const caughtByName = await loadSaga('travel', { ...failingLate, TimeoutSeconds: 0.05 }, {
    apis: travelApis(lateCalls, ({ state }) => state === 'BookFlight' ? new Promise((_resolve, reject) => { failLate = () => reject(new Error('late')) }) : undefined)
  }).run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(caughtByName, { name: 'SagaRollback', compensated: COMPENSATIONS.BookFlight }, 'a Catch names States.Timeout')
  failLate()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(statesOf(lateCalls), ['BookHotel', 'BookFlight', ...COMPENSATIONS.BookFlight], 'a late failure undoes nothing more')
})

t.test('a late success: a step whose Catch leads straight to Fail has nothing to undo; a late compensation that fails leaves the saga failed', async (t) => {
  const late = (states: string[]): { settle: () => void, partner: (ctx: { state: string, attempt: number }) => unknown } => {
    let settle = (): void => {}
    return {
      settle: () => { settle() },
      partner: ({ state }) => states.includes(state) ? new Promise<void>((resolve) => { settle = resolve }) : undefined
    }
  }
  const lastEvent = async (sagaLog: MemorySagaLog, sagaId: string, event: string): Promise<SagaRecord> =>
    await until(async () => {
      const record = await recordOf(sagaLog, sagaId)
      return record.events.some((entry) => entry.event === event) ? record : undefined
    })

  const straightToFail = withTask(travelDefinition(), 'BookHotel', { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Fail' }] })
  const hotel = late(['BookHotel'])
  const hotelCalls: PartnerCall[] = []
  const hotelLog = new MemorySagaLog()
  const uncaught = await loadSaga('travel', { ...straightToFail, TimeoutSeconds: 0.05 }, { apis: travelApis(hotelCalls, hotel.partner), sagaLog: hotelLog })
    .run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
  t.match(uncaught, { name: 'SagaRollback', failedState: 'BookHotel', compensated: [] })
  hotel.settle()
  const settled = await lastEvent(hotelLog, uncaught.sagaId, 'late-success')
  t.equal(settled.events.at(-1)?.event, 'late-success', 'nothing runs after the warning: the step has no compensation of its own')
  t.same(statesOf(hotelCalls), ['BookHotel'])

  const rental = late(['BookRental'])
  let cancellations = 0
  const rentalCalls: PartnerCall[] = []
  const rentalLog = new MemorySagaLog()
  const apis = travelApis(rentalCalls, (ctx) => {
    if (ctx.state === 'CancelRental' && ++cancellations > 1) throw new Error('the partner is down')
    return rental.partner(ctx)
  })
  const timedOut = await loadSaga('travel', { ...travelDefinition(), TimeoutSeconds: 0.05 }, { apis, sagaLog: rentalLog, compensationRetry })
    .run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
  t.match(timedOut, { name: 'SagaRollback', failedState: 'BookRental' })
  rental.settle()
  const failed = await lastEvent(rentalLog, timedOut.sagaId, 'failed')
  t.match(failed, { status: 'failed', pending: ['CancelRental'] }, 'the late booking that could not be cancelled is left for an operator')

  class LogDownAtLateSuccess extends MemorySagaLog {
    override async update (...args: Parameters<MemorySagaLog['update']>): Promise<void> {
      if (args[2].event === 'late-success') throw new Error('the saga log is down')
      await super.update(...args)
    }
  }
  const flight = late(['BookFlight'])
  const log = captureLog()
  const unlogged = await loadSaga('travel', { ...travelDefinition(), TimeoutSeconds: 0.05 }, { apis: travelApis([], flight.partner), sagaLog: new LogDownAtLateSuccess() })
    .run({ payloads: seedPayloads(), log }).catch((error: unknown) => error) as SagaRollback
  t.match(unlogged, { name: 'SagaRollback', failedState: 'BookFlight' })
  flight.settle()
  const line = await until(async () => log.lines.find(({ level }) => level === 'error'))
  t.match(line, { state: 'BookFlight', event: 'late-success', msg: 'saga travel BookFlight succeeded after it timed out and could not be undone' }, 'a late success that cannot be undone is an error line')
})

t.test('the memory log refuses a lease renewal from a recoverer that does not hold the saga', async (t) => {
  const sagaLog = new MemorySagaLog()
  await sagaLog.create({ sagaId: 's-1', name: 'travel', owner: 'runner', payloads: {} }, { event: 'started', at: Date.now() })
  await t.rejects(sagaLog.renew('s-1', 'someone-else', Date.now() + 1000), { code: 'HALO_ERR_SAGA_CONFLICT' })
  await t.rejects(sagaLog.renew('unknown', 'runner', Date.now() + 1000), { code: 'HALO_ERR_SAGA_CONFLICT' })
})

t.test('the run\'s signal aborting while a step is logged as started: the attempt fails with States.Timeout at once, and the aborted run leaves its compensations pending', async (t) => {
  const controller = new AbortController()
  class AbortingAtBookFlight extends MemorySagaLog {
    override async update (...args: Parameters<MemorySagaLog['update']>): Promise<void> {
      await super.update(...args)
      if (args[2].event === 'step-started' && args[2].state === 'BookFlight') controller.abort(new Error('the caller went away'))
    }
  }
  const outcome = await loadSaga('travel', travelDefinition(), { apis: travelApis([]), sagaLog: new AbortingAtBookFlight(), compensationRetry })
    .run({ payloads: seedPayloads(), signal: controller.signal }).catch((error: unknown) => error)
  t.match(outcome, { name: 'SagaError', failedState: 'BookFlight', cause: { name: 'States.Timeout' }, pending: ['CancelFlight', 'CancelHotel'] })
})

t.test('a compensation done but not logged for another reason than its size: the run fails with the log\'s error', async (t) => {
  class DownAtCompensation extends MemorySagaLog {
    override async update (...args: Parameters<MemorySagaLog['update']>): Promise<void> {
      if (args[2].event === 'compensation-succeeded') throw new Error('the saga log is down')
      await super.update(...args)
    }
  }
  const calls: PartnerCall[] = []
  await t.rejects(loadSaga('travel', travelDefinition(), { apis: travelApis(calls, refusing('BookFlight')), sagaLog: new DownAtCompensation(), compensationRetry })
    .run({ payloads: seedPayloads() }), { message: 'the saga log is down' })
  t.same(statesOf(calls), ['BookHotel', 'BookFlight', 'CancelFlight'], 'nothing more runs once the log cannot keep up')
})
