import t, { type Test } from 'tap'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import { createLambdaHandler, haloContext, SagaRollback } from '../index.js'
import type { SagaDefinition, SagaStepContext } from '../lib/saga/index.js'
import { executionInput, sagaOutcome } from '../lib/saga/state-machine.js'
import { buildApp } from './helpers/app.js'
import { runExecution, startStepFunctionsServer } from './helpers/step-functions.js'
import { BOOK_STATES, seedPayloads, statesOf, travelApis, travelDefinition, withTask, type PartnerCall } from './fixtures/travel.js'

const aslValidator = createRequire(import.meta.url)('asl-validator') as (definition: unknown, options?: object) => { isValid: boolean, errorsText: () => string }

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:travel'
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:travel'
const compensationRetry = { IntervalSeconds: 0.01 }

/** The partner's answer per call: `fail[state]` errors (by name), for that many calls or for ever. */
type Script = Record<string, { name: string, times?: number }>

/** The call-chain-length each step saw, in order. */
const chainLengths: unknown[] = []

function partner (script: Script) {
  const calls: Record<string, number> = {}
  return ({ state }: SagaStepContext) => {
    chainLengths.push(haloContext()?.correlationIds['call-chain-length'])
    calls[state] = (calls[state] ?? 0) + 1
    const failure = script[state]
    if (failure !== undefined && calls[state] <= (failure.times ?? Infinity)) throw Object.assign(new Error(`${state} refused`), { name: failure.name })
  }
}

const withRetry = (): SagaDefinition => withTask(travelDefinition(), 'BookFlight', {
  Retry: [{ ErrorEquals: ['PartnerBusy'], IntervalSeconds: 0.01, MaxAttempts: 2, BackoffRate: 1 }]
})
const withCatchers = (): SagaDefinition => withTask(travelDefinition(), 'BookFlight', {
  Catch: [
    { ErrorEquals: ['SoldOut'], Next: 'CancelFlight' },
    { ErrorEquals: ['States.ALL'], Next: 'CancelHotel', ResultPath: '$.error' }
  ]
})

const VARIANTS: Record<string, () => SagaDefinition> = { travel: travelDefinition, retry: withRetry, catchers: withCatchers }

async function sagaApp (t: Test, definition: SagaDefinition, script: Script, calls: PartnerCall[], routes?: (app: FastifyInstance) => void, saga = {}) {
  const built = await buildApp({ saga }, routes)
  t.teardown(() => built.app.close())
  built.app.saga.load('travel', definition, travelApis(calls, partner(script)), { compensationRetry })
  return built
}

/** A run's end with the ids taken out: the states called and the results or the rollback. */
function ending (outcome: { results: Record<string, unknown> } | SagaRollback, sagaId: string): unknown {
  if (outcome instanceof SagaRollback) {
    const cause = outcome.cause as Error
    return { failedState: outcome.failedState, compensated: outcome.compensated, cause: { name: cause.name, message: cause.message } }
  }
  return JSON.parse(JSON.stringify(outcome.results).replaceAll(sagaId, 'ID'))
}

t.test('the exported travel saga and its variants are valid ASL, with ARN and path checks on', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  for (const [name, definition] of Object.entries(VARIANTS)) {
    app.saga.load(name, definition())
    const machine = app.saga.stateMachine(name, { functionArn: FUNCTION_ARN })
    const { isValid, errorsText } = aslValidator(machine, { checkArn: true, checkPaths: true })
    t.ok(isValid, `${name}: ${errorsText()}`)
  }
  t.notOk(aslValidator(travelDefinition(), { checkArn: true, checkPaths: true }).isValid, 'the seed\'s own definition is not deployable as it is')
  const machine = app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN })
  t.match(machine.States.BookHotel, {
    Resource: 'arn:aws:states:::lambda:invoke',
    Parameters: { FunctionName: FUNCTION_ARN, Payload: { __halo__: { saga: 'travel', state: 'BookHotel' } } },
    OutputPath: '$.Payload',
    Retry: [{ ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'] }],
    Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CancelHotel', ResultPath: '$.error' }]
  })
  t.same((machine.States.CancelHotel.Retry as unknown[]).length, 2, 'a compensation\'s Catch naming itself becomes its retry')
  t.notOk('Catch' in machine.States.CancelHotel)
  t.throws(() => app.saga.stateMachine('travel', { functionArn: 'travel' }), { code: 'HALO_ERR_OPTION', message: /functionArn/ })
  app.saga.load('reserved', withTask(travelDefinition(), 'BookHotel', { ResultPath: '$.payloads' }))
  t.throws(() => app.saga.stateMachine('reserved', { functionArn: FUNCTION_ARN }), { message: /BookHotel.*reserved/ })
})

const SCENARIOS: Array<[string, string, Script]> = [
  ['all succeed', 'travel', {}],
  ...BOOK_STATES.map((state): [string, string, Script] => [`${state} fails`, 'travel', { [state]: { name: 'PartnerRefused' } }]),
  ['a retried step', 'retry', { BookFlight: { name: 'PartnerBusy', times: 2 } }],
  ['an exhausted retry', 'retry', { BookFlight: { name: 'PartnerBusy' } }],
  ['the first catcher that matches (SoldOut)', 'catchers', { BookFlight: { name: 'SoldOut' } }],
  ['the catch-all after it', 'catchers', { BookFlight: { name: 'PartnerRefused' } }]
]

for (const [scenario, variant, script] of SCENARIOS) {
  t.test(`on Step Functions as in-process: ${scenario}`, async (t) => {
    const inProcessCalls: PartnerCall[] = []
    const { app } = await sagaApp(t, VARIANTS[variant](), script, inProcessCalls)
    const inProcess = await app.saga.run('travel', { payloads: seedPayloads() }).catch((error: SagaRollback) => error)
    const inProcessId = inProcess instanceof SagaRollback ? inProcess.sagaId : inProcess.sagaId

    const exportedCalls: PartnerCall[] = []
    const other = await sagaApp(t, VARIANTS[variant](), script, exportedCalls)
    const machine = other.app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN })
    const end = await runExecution(machine, executionInput(seedPayloads(), {}, undefined), createLambdaHandler(other.app) as never)
    let exported: ReturnType<typeof sagaOutcome> | SagaRollback
    try {
      exported = sagaOutcome(end)
    } catch (error) {
      exported = error as SagaRollback
    }

    t.same(statesOf(exportedCalls), statesOf(inProcessCalls), 'the same APIs in the same order')
    // A retry stays in its state: the states visited are those called, once each, and the Fail of a rollback.
    const called = [...new Set(statesOf(inProcessCalls))]
    t.same(end.visited, inProcess instanceof SagaRollback ? [...called, 'Fail'] : called, 'the same states')
    t.same(ending(exported, end.executionArn), ending(inProcess, inProcessId), 'the same end')
    t.ok(exportedCalls.every(({ idempotencyKey }, i) => idempotencyKey === exportedCalls.find(({ state }) => state === exportedCalls[i].state)?.idempotencyKey),
      'one idempotency key per state of an execution')
  })
}

t.test('app.saga.run and start with the Step Functions engine, through @aws-sdk/client-sfn', async (t) => {
  const calls: PartnerCall[] = []
  const script: Script = {}
  const lambda: { handler?: ReturnType<typeof createLambdaHandler> } = {}
  const definitions: Record<string, object> = {}
  const server = await startStepFunctionsServer(t, definitions, async (event, context) => await lambda.handler?.(event, context))
  const { app, logs } = await sagaApp(t, travelDefinition(), script, calls, (app) => {
    app.post('/trips', async (request) => {
      const { query } = request as { query: { fail?: string } }
      if (query.fail !== undefined) script[query.fail] = { name: 'PartnerRefused' }
      return await app.saga.run('travel', { payloads: seedPayloads(), context: { partnersUrl: 'http://partners' } })
    })
  }, { engine: { stepFunctions: { client: server.client, stateMachineArn: () => STATE_MACHINE_ARN } } })
  definitions[STATE_MACHINE_ARN] = app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN })
  lambda.handler = createLambdaHandler(app)
  const ok = await app.inject({ method: 'POST', url: '/trips', headers: { 'x-correlation-id': 'trip-1' } })
  t.equal(ok.statusCode, 200)
  t.same(Object.keys(ok.json().results), ['BookHotelResult', 'BookFlightResult', 'BookRentalResult'])
  t.match(ok.json().sagaId, /^arn:aws:states:/, 'the saga id is the execution ARN')
  t.same(statesOf(calls), BOOK_STATES)
  t.same(calls[0].context, { partnersUrl: 'http://partners' }, 'the run\'s context reaches the steps')
  const stepLines = logs.lines.filter((line) => line.state === 'BookFlight' && line.saga === 'travel')
  t.ok(stepLines.length > 0 && stepLines.every((line) => line.correlationId === 'trip-1' && line.executionId === ok.json().sagaId),
    'the steps log with the starting request\'s correlation id, the saga, state and execution')

  calls.length = 0
  const rolledBack = await app.inject({ method: 'POST', url: '/trips?fail=BookRental', headers: { 'x-correlation-id': 'trip-2' } })
  t.equal(rolledBack.statusCode, 500)
  t.match(rolledBack.json(), { code: 'HALO_ERR_SAGA_ROLLBACK', failedState: 'BookRental', compensated: ['CancelRental', 'CancelFlight', 'CancelHotel'], traceId: 'trip-2' })
  t.same(server.executions.map(({ sync }) => sync), [true, true], 'run() is a synchronous (Express) execution')

  delete script.BookRental
  const executionArn = await app.saga.start('travel', { payloads: seedPayloads(), sagaId: 'trip-3' })
  t.equal(executionArn, 'arn:aws:states:us-east-1:123456789012:execution:saga:trip-3')
  await t.rejects(app.saga.run('travel', { payloads: {}, apis: {} }), { code: 'HALO_ERR_OPTION', message: /apis/ })

  // call-chain-length: a request at hop 3 starts the execution with 4, and its steps forward 5.
  chainLengths.length = 0
  await app.inject({ method: 'POST', url: '/trips', headers: { 'call-chain-length': '3' } })
  t.same((server.executions.at(-1)?.input as { __context__: Record<string, string> }).__context__['call-chain-length'], '4')
  t.same(chainLengths, ['5', '5', '5'])
})

t.test('a task invocation naming an unknown saga or state is an error naming it; HTTP never reaches the task route', async (t) => {
  const { app } = await sagaApp(t, travelDefinition(), {}, [])
  const handler = createLambdaHandler(app)
  const context = { awsRequestId: 'r', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 10_000 }
  const task = (saga: string, state: string) => ({ __halo__: { saga, state, executionId: 'e' }, __context__: {}, input: executionInput({}, {}, undefined) })
  await t.rejects(handler(task('nope', 'BookHotel'), context), { name: 'HALO_ERR_SAGA_TASK', message: /"nope"/ })
  await t.rejects(handler(task('travel', 'Fail'), context), { name: 'HALO_ERR_SAGA_TASK', message: /"Fail"/ })
  await t.rejects(handler(task('travel', 'toString'), context), { name: 'HALO_ERR_SAGA_TASK', message: /"toString"/ })
  const overHttp = await app.inject({ method: 'POST', url: '/__halo/saga-task' })
  t.equal(overHttp.statusCode, 404)
})

t.test('the Step Functions engine is checked at register; start() needs it', async (t) => {
  await t.rejects(buildApp({ saga: { engine: { stepFunctions: { client: {}, stateMachineArn: () => 'x' } } as never } }), { message: /SFN client/ })
  await t.rejects(buildApp({ saga: { engine: {} as never } }), { message: /stepFunctions/ })
  const { app } = await sagaApp(t, travelDefinition(), {}, [])
  await t.rejects(app.saga.start('travel', { payloads: {} }), { code: 'HALO_ERR_OPTION', message: /engine\.stepFunctions/ })
})

t.test('an execution that fails other than by its Fail state is a SagaError; an error is named by the code a Catch names', async (t) => {
  t.throws(() => sagaOutcome({ executionArn: 'arn:x', status: 'FAILED', error: 'PartnerDown', cause: 'gone' }), { name: 'SagaError', sagaId: 'arn:x', cause: { name: 'PartnerDown', message: 'gone' } })
  t.throws(() => sagaOutcome({ status: 'TIMED_OUT' }), { name: 'SagaError', cause: { name: 'Error', message: 'execution TIMED_OUT' } })

  const calls: PartnerCall[] = []
  const definition = withTask(travelDefinition(), 'BookHotel', {
    Catch: [{ ErrorEquals: ['HALO_ERR_TIMEOUT'], Next: 'CancelHotel' }, { ErrorEquals: ['States.ALL'], Next: 'CancelHotel', ResultPath: '$.error' }]
  })
  const { app } = await buildApp({ saga: {} })
  t.teardown(() => app.close())
  app.saga.load('travel', definition, {
    ...travelApis(calls),
    BookHotel: () => { throw Object.assign(new Error('slow'), { code: 'HALO_ERR_TIMEOUT' }) }
  }, { compensationRetry })
  const end = await runExecution(app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN }), executionInput(seedPayloads(), {}, undefined), createLambdaHandler(app) as never)
  t.throws(() => sagaOutcome(end), { name: 'SagaRollback', failedState: 'BookHotel', cause: { name: 'HALO_ERR_TIMEOUT', message: 'slow' } })

  const handler = createLambdaHandler(app)
  const context = { awsRequestId: 'r', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 10_000 }
  const looping = { __halo__: { saga: 'travel', state: 'BookFlight', executionId: 'e' }, __context__: { 'call-chain-length': '99' }, input: executionInput({}, {}, undefined) }
  await t.rejects(handler(looping, context), { name: 'HALO_ERR_LOOP_DETECTED' }, 'refused before the step runs: named by the problem\'s code')
})

t.test('exported Retry spells out the defaults both engines share; a Fail keeps its Error; a compensation without Catch is still retried', async (t) => {
  const definition = travelDefinition()
  for (const state of ['CancelHotel', 'CancelFlight', 'CancelRental']) delete (definition.States[state] as { Catch?: unknown }).Catch
  const { app } = await buildApp()
  t.teardown(() => app.close())
  app.saga.load('travel', withTask(withTask(definition, 'BookFlight', { Retry: [{ ErrorEquals: ['PartnerBusy'] }] }), 'Fail', { Error: 'TripCancelled' } as never))
  const machine = app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN })
  t.same((machine.States.BookFlight.Retry as unknown[])[1], { ErrorEquals: ['PartnerBusy'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 },
    'ASL\'s defaults are the in-process ones, written out')
  t.equal(machine.States.Fail.Error, 'TripCancelled')
  t.same((machine.States.CancelHotel.Retry as unknown[]).slice(1), [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 }])
  t.notOk('Catch' in machine.States.CancelHotel)
})

t.test('on Step Functions: a compensation without Catch that fails once under a code, then answers nothing, is retried and counted done', async (t) => {
  const definition = travelDefinition()
  delete (definition.States.CancelHotel as { Catch?: unknown }).Catch
  const calls: PartnerCall[] = []
  const { app } = await buildApp()
  t.teardown(() => app.close())
  let cancelled = 0
  app.saga.load('travel', definition, {
    ...travelApis(calls, partner({ BookFlight: { name: 'PartnerRefused' } })),
    CancelHotel: async () => {
      if (++cancelled === 1) throw Object.assign(new Error('busy'), { code: 'PARTNER_BUSY' })
      return undefined
    }
  }, { compensationRetry })
  const end = await runExecution(app.saga.stateMachine('travel', { functionArn: FUNCTION_ARN }), executionInput(seedPayloads(), {}, undefined), createLambdaHandler(app) as never)
  t.equal(cancelled, 2)
  t.throws(() => sagaOutcome(end), { name: 'SagaRollback', failedState: 'BookFlight', compensated: ['CancelFlight', 'CancelHotel'] },
    'an API answering nothing has still run: its result is null, so the rollback counts it')
})

t.test('a task invocation written by hand: no retry count, no __context__, no timeout plugin', async (t) => {
  const seen: SagaStepContext[] = []
  const { app } = await buildApp({ timeout: false })
  t.teardown(() => app.close())
  app.saga.load('travel', travelDefinition(), { ...travelApis([], (ctx) => { seen.push(ctx) }) })
  app.saga.load('bare', travelDefinition())
  const handler = createLambdaHandler(app)
  const context = { awsRequestId: 'r', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 10_000 }
  const input = executionInput({ BookHotel: { hotel: 'H' } }, {}, undefined)
  const answer = await handler({ __halo__: { saga: 'travel', state: 'BookHotel', executionId: 'e' }, input } as never, context) as unknown as Record<string, unknown>
  t.match(answer, { BookHotelResult: { confirmation: 'BookHotel:e' } })
  t.equal(seen[0].attempt, 1, 'the first attempt')
  t.equal(seen[0].signal.aborted, false, 'a signal that never aborts without a deadline')
  await handler({ __halo__: { saga: 'travel', state: 'BookHotel', executionId: 'e', retryCount: 2 }, input } as never, context)
  t.equal(seen[1].attempt, 3, 'Step Functions\' retries count as attempts')
  await t.rejects(handler({ __halo__: { saga: 'bare', state: 'BookHotel', executionId: 'e' }, input } as never, context),
    { name: 'HALO_ERR_SAGA_TASK', message: /"bare" has no Task state "BookHotel" with an API/ }, 'a saga loaded without its APIs')

  const empty = await buildApp()
  t.teardown(() => empty.app.close())
  await t.rejects(createLambdaHandler(empty.app)({ __halo__: { saga: 'travel', state: 'BookHotel', executionId: 'e' }, input } as never, context),
    { name: 'HALO_ERR_SAGA_TASK', message: /loaded: none/ })
})

t.test('the compensation after a caught Lambda service error keeps its plain-text Cause as the message', async (t) => {
  const { app } = await sagaApp(t, travelDefinition(), {}, [])
  const handler = createLambdaHandler(app)
  const context = { awsRequestId: 'r', functionName: 'f', functionVersion: '1', getRemainingTimeInMillis: () => 10_000 }
  for (const cause of ['Rate Exceeded. (Service: Lambda, Status Code: 429)', '{"errorType":"Lambda.Unknown"}']) {
    const input = { ...executionInput(seedPayloads(), {}, undefined), error: { Error: 'Lambda.ServiceException', Cause: cause } }
    const answer = await handler({ __halo__: { saga: 'travel', state: 'CancelHotel', executionId: 'e' }, __context__: {}, input } as never, context) as unknown as { __halo__: { rollback: string } }
    t.same(JSON.parse(answer.__halo__.rollback), { failedState: 'BookHotel', error: { name: 'Lambda.ServiceException', message: cause }, compensated: ['CancelHotel'] })
  }
})

t.test('a state machine ARN that the engine option does not give is refused, naming the saga', async (t) => {
  for (const arn of ['', undefined]) {
    const { app } = await sagaApp(t, travelDefinition(), {}, [], undefined, { engine: { stepFunctions: { client: { startExecution: async () => ({}), startSyncExecution: async () => ({}) }, stateMachineArn: () => arn } } })
    await t.rejects(app.saga.run('travel', { payloads: seedPayloads() }), { code: 'HALO_ERR_OPTION', message: /stateMachineArn\("travel"\) returned no ARN/ })
  }
})
