// Type-checked by `tsc --noEmit`, never run: what must compile does, and each `@ts-expect-error` line must not.
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import { DynamoDBSagaLog, MemorySagaLog, type RecoverySummary, type SagaLog, type SagaStepContext } from '../../index.js'
import type { Saga, SagaResult } from '../../lib/saga/index.js'
import { sagaPlugin, type HaloSagas } from '../../plugins/saga.js'

const app = Fastify()
await app.register(sagaPlugin)
await app.register(sagaPlugin, { log: 'memory', olderThanMs: 30_000 })
await app.register(sagaPlugin, { log: new MemorySagaLog({ maxFinished: 10 }) })
await app.register(sagaPlugin, { log: new DynamoDBSagaLog({ table: 'sagas', region: 'eu-west-1' }) })
// @ts-expect-error log is 'memory' or a SagaLog
await app.register(sagaPlugin, { log: 'dynamodb' })
// @ts-expect-error olderThanMs is a number of milliseconds
await app.register(sagaPlugin, { olderThanMs: '60000' })
// @ts-expect-error unknown option
await app.register(sagaPlugin, { logs: 'memory' })

const sagas: HaloSagas = app.saga
const log: SagaLog = app.saga.log
const saga: Saga = app.saga.load('travel', {}, {
  BookHotel: async (payload: { city: string }, ctx: SagaStepContext) => ({ city: payload.city, key: ctx.idempotencyKey, attempt: ctx.attempt })
}, { schemas: { HotelApi: { payload: Type.Object({ city: Type.String() }) } }, compensationRetry: { MaxAttempts: 1 } })
// @ts-expect-error an API is a function
app.saga.load('travel', {}, { BookHotel: 'https://hotel.example' })
// @ts-expect-error the saga log is the plugin's, not a load option
app.saga.load('travel', {}, {}, { sagaLog: new MemorySagaLog() })

const result: SagaResult = await app.saga.run('travel', { payloads: { BookHotel: { city: 'Lisbon' } }, context: { user: 1 }, sagaId: 'trip-1' })
const results: Record<string, unknown> = result.results
// @ts-expect-error payloads are required
await app.saga.run('travel', {})
// @ts-expect-error the bounds are the current request's, not the caller's
await app.saga.run('travel', { payloads: {}, signal: AbortSignal.timeout(1000) })
// @ts-expect-error the name comes first
await app.saga.run({ payloads: {} })

const summary: RecoverySummary = await app.saga.recover()
const again: RecoverySummary = await app.saga.recover({ olderThanMs: 0 })
// @ts-expect-error olderThanMs is a number
await app.saga.recover({ olderThanMs: '0' })
// @ts-expect-error recovery is bounded by the plugin, not by the caller
await app.saga.recover({ owner: 'me' })

export { sagas, log, saga, results, summary, again }

// Step Functions: the engine option, start() and stateMachine().
await app.register(sagaPlugin, {
  engine: { stepFunctions: { client: { startExecution: async () => ({ executionArn: 'arn' }), startSyncExecution: async () => ({ status: 'SUCCEEDED' }) }, stateMachineArn: (name: string) => `arn:${name}` } }
})
// @ts-expect-error the state machine ARN is a function of the saga's name
await app.register(sagaPlugin, { engine: { stepFunctions: { client: {}, stateMachineArn: 'arn' } } })
export const executionArn: Promise<string> = app.saga.start('travel', { payloads: {} })
export const machine: { StartAt: string } = app.saga.stateMachine('travel', { functionArn: 'arn:aws:lambda:us-east-1:1:function:f' })
// @ts-expect-error functionArn is required
app.saga.stateMachine('travel', {})
