import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DescribeTimeToLiveCommand, GetItemCommand } from '@aws-sdk/client-dynamodb'
import type { SagaRollback } from '../lib/errors.js'
import { DynamoDBSagaLog, loadSaga, recover, type SagaRecord } from '../lib/saga/index.js'

async function until<T> (probe: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
import { freePort, startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'
import { BOOK_STATES, recoverersRace, seedPayloads, statesOf, travelApis, travelDefinition, type PartnerCall } from './fixtures/travel.js'

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'halo', AWS_SECRET_ACCESS_KEY: 'halo', AWS_REGION: 'us-east-1' }

const db = await startDynamoDB()
t.teardown(() => db.stop())

/** The names of the commands the shared client sends. */
const commands: string[] = []
db.client.middlewareStack.add((next, context) => async (args) => {
  commands.push(context.commandName as string)
  return await next(args)
}, { step: 'initialize', name: 'countSagaLogCalls' })

const table = uniqueTableName('sagas')
const sagaLog = new DynamoDBSagaLog({ table, client: db.client })
await sagaLog.ensureTable()

t.test('ensureTable() is idempotent; options are checked', async (t) => {
  await sagaLog.ensureTable()
  const unreachable = `http://127.0.0.1:${await freePort()}`
  await t.rejects(new DynamoDBSagaLog({ table, endpoint: unreachable, region: 'us-east-1' }).ensureTable(), { code: 'HALO_ERR_SAGA_LOG' }, 'an error other than "the table exists" is thrown')
  const { TimeToLiveDescription } = await db.client.send(new DescribeTimeToLiveCommand({ TableName: table }))
  t.match(TimeToLiveDescription, { TimeToLiveStatus: /^ENABL/, AttributeName: 'expiration' }, 'finished sagas expire')
  t.throws(() => new DynamoDBSagaLog({ table: 'x' }), { code: 'HALO_ERR_OPTION', message: /DynamoDBSagaLog: option "table" must be a DynamoDB table name/ })
  t.throws(() => new DynamoDBSagaLog({} as never), { code: 'HALO_ERR_OPTION', message: /DynamoDBSagaLog: option "table" is required/ })
  t.throws(() => new DynamoDBSagaLog({ table, retentionSeconds: 0 }), { message: /"retentionSeconds" must be an integer/ })
  await new DynamoDBSagaLog({ table }).destroy()
})

t.test('one DynamoDB call per transition, committed or rolled back', async (t) => {
  const saga = loadSaga('travel', travelDefinition(), { sagaLog, compensationRetry: { IntervalSeconds: 0.01 } })
  const runs = {
    committed: travelApis([]),
    'rolled-back': { ...travelApis([], ({ state }) => { if (state === 'BookRental') throw new Error('no cars') }), CancelHotel: () => undefined },
    failed: travelApis([], ({ state }) => { if (state === 'BookFlight' || state === 'CancelFlight') throw new Error('down') })
  }
  for (const [status, apis] of Object.entries(runs)) {
    commands.length = 0
    const sagaId = randomUUID()
    await saga.run({ payloads: seedPayloads(), apis, sagaId }).catch(() => {})
    const calls = [...commands]
    const record = await sagaLog.get(sagaId) as SagaRecord
    t.equal(record.status, status)
    t.equal(calls.length, record.events.length, `${status}: ${calls.length} calls for ${record.events.length} transitions`)
    t.same(calls, ['PutItemCommand', ...calls.slice(1).map(() => 'UpdateItemCommand')])
  }
})

t.test('records read back as they were written', async (t) => {
  const saga = loadSaga('travel', travelDefinition(), {
    sagaLog,
    apis: { ...travelApis([], ({ state }) => { if (state === 'BookFlight') throw new Error('sold out') }), CancelHotel: () => undefined }
  })
  const { sagaId } = await saga.run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
  const record = await sagaLog.get(sagaId) as SagaRecord
  t.match(record, {
    sagaId,
    name: 'travel',
    status: 'rolled-back',
    payloads: { CancelHotel: { abc: 'def' }, CancelFlight: { abc: 'def' }, CancelRental: { abc: 'def' } },
    results: { BookHotelResult: { confirmation: `BookHotel:${sagaId}` }, error: { Error: 'Error', Cause: 'sold out' }, CancelHotelResult: null },
    started: ['BookHotel', 'BookFlight'],
    failure: { state: 'BookFlight', error: { name: 'Error', message: 'sold out' }, compensation: ['CancelFlight', 'CancelHotel'] },
    compensated: ['CancelFlight', 'CancelHotel'],
    pending: [],
    version: record.events.length
  })
  t.ok(record.createdAt <= record.updatedAt)
  t.same(record.events.map(({ event }) => event), [
    'started', 'step-started', 'step-succeeded', 'step-started', 'step-failed',
    'compensation-started', 'compensation-succeeded', 'compensation-started', 'compensation-succeeded', 'rolled-back'
  ])
  const { Item } = await db.client.send(new GetItemCommand({ TableName: table, Key: { sagaId: { S: sagaId } } }))
  t.ok(Number(Item?.expiration.N) > Date.now() / 1000 + 6 * 24 * 3600, 'a finished saga expires after 7 days')
  t.equal(Item?.open, undefined, 'and leaves the index of open sagas')
  t.equal(await sagaLog.get('no-such-saga'), undefined)
})

t.test('conflicts: a taken id, a write from another owner, a stale claim', async (t) => {
  const sagaId = randomUUID()
  await sagaLog.create({ sagaId, name: 'travel', owner: 'run-1', payloads: {} }, { event: 'started', at: 1 })
  await t.rejects(sagaLog.create({ sagaId, name: 'travel', owner: 'run-2', payloads: {} }, { event: 'started', at: 1 }), { code: 'HALO_ERR_SAGA_CONFLICT' })
  await t.rejects(sagaLog.update(sagaId, 'run-2', { event: 'step-started', at: 2, state: 'BookHotel' }), { code: 'HALO_ERR_SAGA_CONFLICT' })
  t.equal(await sagaLog.claim(sagaId, 'recoverer', 7, { event: 'claimed', at: 3 }, 100), undefined)
  t.match(await sagaLog.claim(sagaId, 'recoverer', 1, { event: 'claimed', at: 3 }, 100), { owner: 'recoverer', status: 'recovering', version: 2 })
  await t.rejects(sagaLog.update(sagaId, 'run-1', { event: 'step-started', at: 4, state: 'BookHotel' }), { code: 'HALO_ERR_SAGA_CONFLICT' }, 'fenced off')
  t.equal(await sagaLog.claim(sagaId, 'another', 2, { event: 'claimed', at: 99 }, 200), undefined, 'the lease holds until 100')
  await t.rejects(sagaLog.renew(sagaId, 'run-1', 500), { code: 'HALO_ERR_SAGA_CONFLICT' })
  await sagaLog.renew(sagaId, 'recoverer', 500)
  t.match(await sagaLog.get(sagaId), { leaseUntil: 500 })

  const missing = new DynamoDBSagaLog({ table: uniqueTableName('missing'), client: db.client })
  const notFound = { code: 'HALO_ERR_SAGA_LOG', statusCode: 503, cause: { name: 'ResourceNotFoundException' } }
  await t.rejects(missing.create({ sagaId, name: 'travel', owner: 'run-1', payloads: {} }, { event: 'started', at: 1 }), notFound)
  await t.rejects(missing.update(sagaId, 'run-1', { event: 'committed', at: 2 }), notFound)
  await t.rejects(missing.claim(sagaId, 'recoverer', 1, { event: 'claimed', at: 3 }, 100), notFound)
  await t.rejects(missing.renew(sagaId, 'recoverer', 100), notFound)
  await t.rejects(missing.get(sagaId), notFound)
  await t.rejects(missing.listOpen(0), notFound)
  await missing.destroy()
})

t.test('a process dying inside step 3 leaves an open saga; two racing recoverers compensate it exactly once', async (t) => {
  const sagaId = randomUUID()
  const raceTable = uniqueTableName('saga-race')
  const sagaLog = new DynamoDBSagaLog({ table: raceTable, client: db.client })
  await sagaLog.ensureTable()
  // With this process's own flags: tap's TypeScript loader, and its coverage of the child.
  const script = fileURLToPath(new URL('fixtures/saga-crash.ts', import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, script, db.endpoint, raceTable, sagaId], {
    env: { ...process.env, ...CREDENTIALS },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [exitCode] = await once(child, 'close')
  t.equal(exitCode, 3, 'the run died in BookRental', { stderr })
  t.match(await sagaLog.get(sagaId), { status: 'running', started: BOOK_STATES, compensated: [] })

  const saved = Object.fromEntries(Object.keys(CREDENTIALS).map((name) => [name, process.env[name]]))
  Object.assign(process.env, CREDENTIALS)
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  const otherLog = new DynamoDBSagaLog({ table: raceTable, endpoint: db.endpoint, region: 'us-east-1' })
  t.teardown(() => otherLog.destroy())

  const calls: PartnerCall[] = []
  const instance = (log: DynamoDBSagaLog) => ({ sagaLog: log, sagas: [loadSaga('travel', travelDefinition(), { apis: travelApis(calls), sagaLog: log })], olderThanMs: 0 })
  const summaries = await Promise.all([recover(instance(sagaLog)), recover(instance(otherLog))])

  t.same(statesOf(calls), ['CancelRental', 'CancelFlight', 'CancelHotel'], 'each compensation once, in reverse order')
  t.same(calls.map(({ payload }) => payload), [{ abc: 'def' }, { abc: 'def' }, { abc: 'def' }], 'with the payloads the dead run logged')
  t.same(calls[2].results.BookHotelResult, { confirmation: `BookHotel:${sagaId}` }, 'and its results')
  const recovered = summaries.flatMap(({ recovered }) => recovered)
  t.same(recovered, [{ sagaId, name: 'travel', compensated: ['CancelRental', 'CancelFlight', 'CancelHotel'], pending: [], status: 'rolled-back' }])
  for (const { skipped } of summaries) t.match(skipped, skipped.length === 0 ? [] : [{ sagaId, reason: /another process/ }])

  const record = await sagaLog.get(sagaId) as SagaRecord
  t.match(record, { status: 'rolled-back', compensated: ['CancelRental', 'CancelFlight', 'CancelHotel'] })
  t.equal(record.events.filter(({ event }) => event === 'claimed').length, 1)

  t.same(await recover(instance(otherLog)), { recovered: [], skipped: [] }, 'a later recover() does nothing')
  t.equal(calls.length, 3)
})

t.test('a compensation slower than olderThanMs: the lease, renewed, keeps every other recoverer off', async (t) => {
  const leaseLog = new DynamoDBSagaLog({ table: uniqueTableName('saga-lease'), client: db.client })
  await leaseLog.ensureTable()
  await recoverersRace(t, leaseLog)
})

t.test('past DynamoDB\'s item limit: a result too large to log fails its step, its compensations run, recovery still finishes', async (t) => {
  const sized = (bytes: Record<string, number>) => travelApis([], () => {}, ({ state }) => bytes[state] === undefined ? undefined : 'x'.repeat(bytes[state]))
  const threeLarge = await loadSaga('travel', travelDefinition(), { sagaLog, apis: sized({ BookHotel: 150_000, BookFlight: 150_000, BookRental: 150_000 }) })
    .run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
  t.match(threeLarge, { name: 'SagaRollback', failedState: 'BookRental', cause: { code: 'HALO_ERR_SAGA_RECORD_TOO_LARGE' }, compensated: ['CancelRental', 'CancelFlight', 'CancelHotel'] })
  t.match(await sagaLog.get(threeLarge.sagaId), { status: 'rolled-back' })

  const oneHuge = await loadSaga('travel', travelDefinition(), { sagaLog, apis: sized({ BookHotel: 409_000 }) })
    .run({ payloads: seedPayloads() }).catch((error: unknown) => error) as SagaRollback
  t.match(oneHuge, { name: 'SagaRollback', failedState: 'BookHotel', cause: { code: 'HALO_ERR_SAGA_RECORD_TOO_LARGE' }, compensated: ['CancelHotel'] })

  const hugePayload = loadSaga('travel', travelDefinition(), { sagaLog, apis: sized({}) })
    .run({ payloads: { ...seedPayloads(), CancelHotel: 'x'.repeat(400_000) } })
  await t.rejects(hugePayload, { code: 'HALO_ERR_SAGA_RECORD_TOO_LARGE' }, 'refused before anything is booked')

  const fullLog = new DynamoDBSagaLog({ table: uniqueTableName('saga-full'), client: db.client })
  await fullLog.ensureTable()
  const bigCompensations = sized({ BookHotel: 150_000, BookFlight: 150_000, CancelFlight: 100_000, CancelHotel: 100_000 })
  const stuck = loadSaga('travel', travelDefinition(), { sagaLog: fullLog, apis: { ...bigCompensations, BookRental: async () => await new Promise(() => {}) } })
  stuck.run({ payloads: seedPayloads(), sagaId: 'full' }).catch(() => {})
  await until(async () => (await fullLog.get('full'))?.started.length === 3 ? true : undefined)
  const summary = await recover({ sagaLog: fullLog, sagas: [loadSaga('travel', travelDefinition(), { apis: bigCompensations })], olderThanMs: 0 })
  t.match(summary.recovered, [{ sagaId: 'full', compensated: ['CancelRental', 'CancelFlight', 'CancelHotel'], status: 'rolled-back' }],
    'a record near the limit is claimed and finished; compensation results that do not fit are left out')
  const item = await db.client.send(new GetItemCommand({ TableName: fullLog.table, Key: { sagaId: { S: 'full' } } }))
  t.ok(JSON.stringify(item.Item).length < 409_600, 'the item stayed under DynamoDB\'s limit')
})

t.test('a transition without a result that would outgrow the item is refused before it is sent, naming the saga', async (t) => {
  const sagaId = randomUUID()
  await sagaLog.create({ sagaId, name: 'travel', owner: 'runner', payloads: {} }, { event: 'started', at: Date.now() })
  const sent = commands.length
  const huge = { name: 'PartnerError', message: 'x'.repeat(450 * 1024) }
  await t.rejects(sagaLog.update(sagaId, 'runner', { event: 'failed', at: Date.now(), state: 'BookHotel', error: huge }, { status: 'failed' }),
    { code: 'HALO_ERR_SAGA_RECORD_TOO_LARGE', message: new RegExp(`saga ${sagaId} would make a record of \\d+ bytes`) })
  t.equal(commands.length, sent, 'no call to DynamoDB')
})
