import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { haloContext } from '../lib/context.js'
import { HALO_ERR_OPTION } from '../lib/errors.js'
import { anyOf, integerBetween, isObject, oneOf, validateOptions, type OptionCheck } from '../lib/options.js'
import {
  loadSaga, MemorySagaLog, recover,
  type RecoverySummary, type Saga, type SagaApis, type SagaExecutionOptions, type SagaLog, type SagaResult,
  type SagaRunOptions
} from '../lib/saga/index.js'
import { LoadedSagas, type SagaLoadOptions } from '../lib/saga/loaded.js'
import { toStateMachine, type StateMachineDefinition } from '../lib/saga/state-machine.js'
import { StepFunctionsEngine, validateStepFunctionsEngine, type StepFunctionsEngineOptions } from '../lib/saga/step-functions.js'
import { SAGA_TASK_PATH, sagaTaskHandler } from './saga-task.js'
import { claimRegistration } from './registration.js'
import { decorateDeadline } from './request-fields.js'

export interface SagaOptions {
  /**
   * Where every transition of every saga is recorded. Default 'memory': a `MemorySagaLog`, lost with the
   * process. In production a `DynamoDBSagaLog`, which the app then owns: on close, the client it made for
   * itself is destroyed (one it was given stays the giver's).
   */
  log?: 'memory' | SagaLog
  /** `fastify.saga.recover()` takes only sagas with no transition for this long. Default 60 000 ms. */
  olderThanMs?: number
  /**
   * Where `run` and `start` execute sagas. Default: this process (section "Sagas"). `{ stepFunctions }`:
   * as executions of the state machines `stateMachine(name, …)` exported and deployed.
   */
  engine?: { stepFunctions: StepFunctionsEngineOptions }
}

/** What `fastify.saga.stateMachine` takes. */
export interface SagaStateMachineOptions {
  /** The ARN of this app's Lambda function, which serves the tasks through `createLambdaHandler`. */
  functionArn: string
}

export type { SagaLoadOptions }

/** A run through the plugin: the time bounds, logger and saga log are the plugin's, never the caller's. */
export type SagaPluginRunOptions = Pick<SagaRunOptions, 'payloads' | 'apis' | 'context' | 'sagaId'>

export interface SagaPluginRecoverOptions {
  /** Overrides the plugin's `olderThanMs` for this recovery. */
  olderThanMs?: number
}

export interface HaloSagas {
  /** The saga log every run and recovery writes to, for an operator to read (`get(sagaId)`). */
  readonly log: SagaLog
  /**
   * Loads a definition under `name` (refused with HALO_ERR_SAGA_DEFINITION naming the state when it is
   * malformed) with its APIs by state name; a run's `apis` add to and override them.
   */
  load (name: string, definition: unknown, apis?: SagaApis, options?: SagaLoadOptions): Saga
  /**
   * Runs the saga loaded under `name`. Inside a request its steps are bounded by the request's deadline
   * (a step still pending then fails with `States.Timeout`), its compensations still run in-process after
   * it, and it logs through the request's logger (so every line carries the correlation id); outside one
   * only `TimeoutSeconds` bounds it and it logs through `fastify.log`. Throws `SagaRollback` or `SagaError`
   * as the engine does.
   */
  run (name: string, options: SagaPluginRunOptions): Promise<SagaResult>
  /**
   * With the Step Functions engine, starts a Standard workflow execution of the saga and resolves to its
   * execution ARN (the saga goes on without this process). Refused with the in-process engine.
   */
  start (name: string, options: Pick<SagaPluginRunOptions, 'payloads' | 'context' | 'sagaId'>): Promise<string>
  /**
   * The saga loaded under `name` as a deployable Amazon States Language definition whose Tasks invoke
   * `functionArn` (this app on Lambda), for Step Functions to run.
   */
  stateMachine (name: string, options: SagaStateMachineOptions): StateMachineDefinition
  /** Finishes, by compensation, the sagas of the loaded definitions that a crash or a timeout left open. */
  recover (options?: SagaPluginRecoverOptions): Promise<RecoverySummary>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Sagas: `load`, `run`, `start`, `stateMachine`, `recover`, and their `log`. */
    saga: HaloSagas
  }
}

/** A saga log that made its own client, such as `DynamoDBSagaLog`. */
interface DestroyableSagaLog extends SagaLog {
  destroy?: () => Promise<void>
}

const PLUGIN = 'sagaPlugin'
const SAGA_LOG_METHODS = ['create', 'update', 'claim', 'renew', 'get', 'listOpen'] as const

const isSagaLog: OptionCheck = (value) =>
  SAGA_LOG_METHODS.every((method) => typeof Object(value)[method] === 'function')
    ? undefined
    : `must be a SagaLog (with ${SAGA_LOG_METHODS.join(', ')})`

/** The bounds and logger of the current request, or none and the app's logger outside one. */
function currentExecution (fastify: FastifyInstance): Pick<SagaExecutionOptions, 'deadline' | 'log'> {
  const request = haloContext()
  if (request === undefined) return { log: fastify.log }
  // Not the request's signal: it aborts at the deadline, and the compensations must go on past it.
  return { deadline: request.deadline, log: request.log }
}

function validateSagaOptions (options: SagaOptions): void {
  validateOptions(PLUGIN, options, { log: anyOf(oneOf('memory'), isSagaLog), olderThanMs: integerBetween(0), engine: isObject })
  validateOptions(`${PLUGIN} engine`, options.engine, { stepFunctions: isObject }, { required: options.engine === undefined ? [] : ['stepFunctions'] })
  if (options.engine !== undefined) validateStepFunctionsEngine(`${PLUGIN} engine.stepFunctions`, options.engine.stepFunctions)
}

/** Starting an execution inside a request carries its correlation ids and stops with its deadline. */
function executionRequest (runOptions: SagaPluginRunOptions): Parameters<StepFunctionsEngine['run']>[1] {
  if (runOptions.apis !== undefined) throw new HALO_ERR_OPTION(`${PLUGIN}: option "apis" of a run cannot reach a saga on Step Functions; give them to load()`)
  const request = haloContext()
  return {
    payloads: runOptions.payloads,
    context: runOptions.context,
    name: runOptions.sagaId,
    correlation: request?.correlationHeaders() ?? {},
    signal: request?.deadline.signal
  }
}

/** `fastify.saga`: each method on the loaded sagas, in this process or on the Step Functions engine. */
function sagaDecoration (fastify: FastifyInstance, options: SagaOptions, sagaLog: SagaLog, loaded: LoadedSagas): HaloSagas {
  const engine = options.engine === undefined ? undefined : new StepFunctionsEngine(options.engine.stepFunctions)
  return {
    log: sagaLog,
    load (name, definition, apis, loadOptions) {
      const saga = loadSaga(name, definition, { ...loadOptions, apis, sagaLog })
      loaded.add(name, saga, apis, loadOptions)
      return saga
    },
    async run (name, runOptions) {
      const { saga } = loaded.get(name)
      if (engine !== undefined) return await engine.run(name, executionRequest(runOptions))
      return await saga.run({ ...runOptions, ...currentExecution(fastify) })
    },
    async start (name, startOptions) {
      loaded.get(name)
      if (engine === undefined) throw new HALO_ERR_OPTION(`${PLUGIN}: start() needs option engine.stepFunctions; run() runs a saga in this process`)
      return await engine.start(name, executionRequest(startOptions))
    },
    stateMachine (name, machineOptions) {
      const { saga, options: loadOptions } = loaded.get(name)
      return toStateMachine(name, saga.definition, { functionArn: machineOptions?.functionArn, compensationRetry: loadOptions?.compensationRetry })
    },
    async recover (recoverOptions = {}) {
      validateOptions(`${PLUGIN} recover`, recoverOptions, { olderThanMs: integerBetween(0) })
      return await recover({
        sagaLog,
        sagas: loaded.sagas(),
        olderThanMs: recoverOptions.olderThanMs ?? options.olderThanMs,
        ...currentExecution(fastify)
      })
    }
  }
}

async function sagas (fastify: FastifyInstance, options: SagaOptions): Promise<void> {
  claimRegistration(fastify, 'fastify-halo-saga')
  validateSagaOptions(options)
  const sagaLog: DestroyableSagaLog = options.log === undefined || options.log === 'memory' ? new MemorySagaLog() : options.log
  const loaded = new LoadedSagas(PLUGIN)
  fastify.decorate('saga', sagaDecoration(fastify, options, sagaLog, loaded))
  // The task route's steps get its signal, whichever other parts are registered.
  decorateDeadline(fastify)
  fastify.post(SAGA_TASK_PATH, { config: { idempotency: false } }, sagaTaskHandler(loaded))
  fastify.addHook('onClose', async () => {
    await sagaLog.destroy?.()
  })
}

/**
 * Sagas: `fastify.saga.load(name, definition, apis?)`, `fastify.saga.run(name, { payloads })` (bounded by
 * the current request's deadline) and `fastify.saga.recover()`, every transition recorded in the saga log.
 * An uncaught `SagaRollback` answers 500 `HALO_ERR_SAGA_ROLLBACK` naming `failedState`, through the errors part.
 */
export const sagaPlugin: FastifyPluginAsync<SagaOptions> = fp(sagas, { name: 'fastify-halo-saga' })
