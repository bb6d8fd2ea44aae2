import t from 'tap'
import { loadSaga, MemorySagaLog, recover, type SagaLogger, type SagaRecord } from '../lib/saga/index.js'
import { BOOK_STATES, recoverersRace, seedPayloads, statesOf, travelApis, travelDefinition, type PartnerCall } from './fixtures/travel.js'

const CANCEL_ALL = ['CancelRental', 'CancelFlight', 'CancelHotel']

/** APIs whose step `state` does not answer until released, as if the process had died there. */
function stuckAt (state: string, calls: PartnerCall[]) {
  let release = (): void => {}
  let arrived = (): void => {}
  const reached = new Promise<void>((resolve) => { arrived = resolve })
  const apis = travelApis(calls, (ctx) => {
    if (ctx.state !== state) return
    arrived()
    return new Promise<void>((resolve) => { release = resolve })
  })
  return { apis, reached, release: () => release() }
}

t.test('recover() compensates the steps a stopped run started, claims it for itself, and does nothing later', async (t) => {
  const sagaLog = new MemorySagaLog()
  const runCalls: PartnerCall[] = []
  const stuck = stuckAt('BookRental', runCalls)
  const saga = loadSaga('travel', travelDefinition(), { apis: stuck.apis, sagaLog })
  const running = saga.run({ payloads: seedPayloads(), sagaId: 'trip' })
  await stuck.reached

  t.same(await recover({ sagaLog, sagas: [saga] }), { recovered: [], skipped: [] }, 'a saga updated less than 60 s ago is left alone')

  const calls: PartnerCall[] = []
  const lines: string[] = []
  const log: SagaLogger = { info: (_obj, msg) => lines.push(msg), warn: (_obj, msg) => lines.push(msg), error: (_obj, msg) => lines.push(msg) }
  const summary = await recover({ sagaLog, sagas: [saga], apis: { travel: travelApis(calls) }, olderThanMs: 0, owner: 'recoverer-1', log })
  t.same(summary, { recovered: [{ sagaId: 'trip', name: 'travel', compensated: CANCEL_ALL, pending: [], status: 'rolled-back' }], skipped: [] })
  t.same(statesOf(calls), CANCEL_ALL, 'the started step is compensated too, then the earlier ones in reverse')
  t.same(calls[2].payload, { abc: 'def' }, 'with the payloads the run logged')
  t.same(Object.keys(calls[2].results), ['BookHotelResult', 'BookFlightResult', 'CancelRentalResult', 'CancelFlightResult'], 'and its results')
  t.ok(lines.includes('saga travel claimed'))

  const record = await sagaLog.get('trip') as SagaRecord
  t.match(record, { status: 'rolled-back', owner: 'recoverer-1', started: BOOK_STATES, compensated: CANCEL_ALL })
  t.match(record.events.find(({ event }) => event === 'claimed'), { owner: 'recoverer-1' })

  stuck.release()
  await t.rejects(running, { code: 'HALO_ERR_SAGA_CONFLICT' }, 'the run that comes back finds the saga taken and stops')
  t.same(await recover({ sagaLog, sagas: [saga], olderThanMs: 0 }), { recovered: [], skipped: [] })
})

t.test('the same idempotency key for a state in the run and in its recovery', async (t) => {
  const sagaLog = new MemorySagaLog()
  const runCalls: PartnerCall[] = []
  const failing = loadSaga('travel', { ...travelDefinition(), TimeoutSeconds: 0.1 }, {
    apis: travelApis(runCalls, ({ state }) => { if (state === 'BookFlight' || state === 'CancelFlight') throw new Error('down') }),
    sagaLog,
    compensationRetry: { IntervalSeconds: 1 }
  })
  const error = await failing.run({ payloads: seedPayloads() }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaError', pending: ['CancelFlight', 'CancelHotel'] }, 'no time to retry CancelFlight')

  const calls: PartnerCall[] = []
  const summary = await recover({ sagaLog, sagas: [loadSaga('travel', travelDefinition(), { apis: travelApis(calls) })], olderThanMs: 0 })
  t.match(summary.recovered, [{ status: 'rolled-back' }])
  const key = (list: PartnerCall[], state: string) => list.find((call) => call.state === state)?.idempotencyKey
  t.equal(key(calls, 'CancelFlight'), key(runCalls, 'CancelFlight'))
})

t.test('a run stopped while compensating is finished from where it stopped', async (t) => {
  const sagaLog = new MemorySagaLog()
  const controller = new AbortController()
  const saga = loadSaga('travel', travelDefinition(), {
    apis: travelApis([], ({ state }) => {
      if (state === 'BookRental') throw new Error('no cars')
      if (state === 'CancelFlight') controller.abort()
    }),
    sagaLog
  })
  const error = await saga.run({ payloads: seedPayloads(), signal: controller.signal }).catch((error: unknown) => error)
  t.match(error, { name: 'SagaError', pending: ['CancelFlight', 'CancelHotel'] })

  const calls: PartnerCall[] = []
  const summary = await recover({ sagaLog, sagas: [saga], apis: { travel: travelApis(calls) }, olderThanMs: 0 })
  t.same(statesOf(calls), ['CancelFlight', 'CancelHotel'], 'CancelRental, done, is not run again')
  t.match(summary.recovered, [{ compensated: ['CancelFlight', 'CancelHotel'], pending: [], status: 'rolled-back' }])
  t.match(await sagaLog.get(summary.recovered[0].sagaId), { status: 'rolled-back', compensated: CANCEL_ALL })
})

t.test('what recovery cannot finish is reported: failing compensations, no time, sagas it does not know', async (t) => {
  const sagaLog = new MemorySagaLog()
  const open = async (name: string, sagaId: string, started: string[]): Promise<void> => {
    await sagaLog.create({ sagaId, name, owner: 'crashed', payloads: {} }, { event: 'started', at: 1 })
    for (const state of started) await sagaLog.update(sagaId, 'crashed', { event: 'step-started', at: 2, state }, { started: state })
  }
  await open('travel', 'nothing-started', [])
  await open('travel', 'hotel-booked', ['BookHotel'])
  await open('boat', 'unknown', ['BookBoat'])

  const calls: PartnerCall[] = []
  const saga = loadSaga('travel', travelDefinition(), { compensationRetry: { IntervalSeconds: 0 } })
  const summary = await recover({
    sagaLog,
    sagas: new Set([saga]),
    apis: { travel: travelApis(calls, ({ state }) => { if (state === 'CancelHotel') throw new Error('hotel down') }) }
  })
  t.same(summary, {
    recovered: [
      { sagaId: 'nothing-started', name: 'travel', compensated: [], pending: [], status: 'rolled-back' },
      { sagaId: 'hotel-booked', name: 'travel', compensated: [], pending: ['CancelHotel'], status: 'failed' }
    ],
    skipped: [{ sagaId: 'unknown', name: 'boat', reason: 'no saga named "boat" is loaded' }]
  })
  t.equal(calls.length, 3, 'CancelHotel tried three times')
  t.match(await sagaLog.get('hotel-booked'), { status: 'failed', pending: ['CancelHotel'] })

  await open('travel', 'no-time', ['BookHotel'])
  const late = await recover({ sagaLog, sagas: [saga], apis: { travel: travelApis([]) }, deadline: { remaining: () => 0 }, signal: new AbortController().signal })
  t.match(late.recovered, [{ sagaId: 'no-time', pending: ['CancelHotel'], status: 'recovering' }])
  const again = await recover({ sagaLog, sagas: [saga], apis: { travel: travelApis([]) }, olderThanMs: 0 })
  t.match(again.recovered, [{ sagaId: 'no-time', compensated: ['CancelHotel'], status: 'rolled-back' }], 'a later recovery takes it over')
})

t.test('a saga another recoverer changed or claimed is skipped; an error is reported, not thrown', async (t) => {
  const sagaLog = new MemorySagaLog()
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis([]), sagaLog })
  await sagaLog.create({ sagaId: 'raced', name: 'travel', owner: 'crashed', payloads: {} }, { event: 'started', at: 1 })
  const listOpen = sagaLog.listOpen.bind(sagaLog)
  sagaLog.listOpen = async (before) => {
    const open = await listOpen(before)
    await sagaLog.claim('raced', 'other', 1, { event: 'claimed', at: 2, owner: 'other' }, 3)
    return open
  }
  t.same(await recover({ sagaLog, sagas: [saga] }), {
    recovered: [],
    skipped: [{ sagaId: 'raced', name: 'travel', reason: 'another process changed or claimed it first' }]
  })

  const unconfigured = loadSaga('travel', travelDefinition(), { sagaLog })
  sagaLog.listOpen = listOpen
  const summary = await recover({ sagaLog, sagas: [unconfigured], olderThanMs: 0 })
  t.match(summary.skipped, [{ sagaId: 'raced', reason: /no API function for state/ }])
  t.match(await sagaLog.get('raced'), { owner: 'other' }, 'nothing was claimed by a recoverer that could not finish')

  await t.rejects(recover({ sagaLog } as never), { code: 'HALO_ERR_OPTION', message: /recover: option "sagas" is required/ })
  await t.rejects(recover({ sagaLog, sagas: 3 } as never), { message: /"sagas" must be iterable/ })
  await t.rejects(recover({ sagaLog, sagas: [], signal: true } as never), { message: /"signal" must be an AbortSignal/ })
  await t.rejects(saga.recover({ sagaId: 'raced', version: 1 }, {} as never), { message: /option "owner" is required/ })
})

t.test('a saga recovers one of its own runs from its own log', async (t) => {
  const saga = loadSaga('travel', travelDefinition(), { apis: travelApis([]) })
  await saga.sagaLog.create({ sagaId: 'mine', name: 'travel', owner: 'crashed', payloads: {} }, { event: 'started', at: 1 })
  const [open] = await saga.sagaLog.listOpen(Date.now())
  t.match(await saga.recover(open, { owner: 'me' }), { compensated: [], pending: [], suspended: false })
  t.equal(await saga.recover(open, { owner: 'me' }), undefined, 'claimed once only')
})

t.test('a compensation slower than olderThanMs: the lease, renewed, keeps every other recoverer off', async (t) => {
  const sagaLog = new MemorySagaLog()
  await recoverersRace(t, sagaLog)

  await sagaLog.create({ sagaId: 'unrenewed', name: 'travel', owner: 'crashed', payloads: {} }, { event: 'started', at: 1 })
  await sagaLog.update('unrenewed', 'crashed', { event: 'step-started', at: 2, state: 'BookHotel' }, { started: 'BookHotel' })
  sagaLog.renew = async (sagaId) => { throw new Error(`no renewal for ${sagaId}`) }
  const lines: Array<{ msg: string, err?: unknown }> = []
  const log: SagaLogger = { info: () => {}, warn: (obj, msg) => lines.push({ ...obj, msg }), error: () => {} }
  const slow = { ...travelApis([]), CancelHotel: async () => await new Promise((resolve) => setTimeout(resolve, 50)) }
  const summary = await recover({ sagaLog, sagas: [loadSaga('travel', travelDefinition(), { apis: slow })], olderThanMs: 0, leaseMs: 9, log })
  t.match(summary.recovered, [{ sagaId: 'unrenewed', status: 'rolled-back' }])
  t.match(lines.find(({ msg }) => msg === 'saga travel lease not renewed'), { err: { message: 'no renewal for unrenewed' } }, 'a failed renewal is a warning')
  await t.rejects(recover({ sagaLog, sagas: [], leaseMs: 2 }), { message: /"leaseMs" must be an integer/ })
})
