import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { haloContext } from '../lib/context.js'
import { HALO_ERR_OPTION } from '../lib/errors.js'
import { anyOf, integerBetween, oneOf, validateOptions, type OptionCheck } from '../lib/options.js'
import {
  loadSaga, MemorySagaLog, recover,
  type LoadSagaOptions, type RecoverySummary, type Saga, type SagaApis, type SagaExecutionOptions, type SagaLog, type SagaResult,
  type SagaRunOptions
} from '../lib/saga/index.js'

export interface SagaOptions {
  /**
   * Where every transition of every saga is recorded. Default 'memory': a `MemorySagaLog`, lost with the
   * process. In production a `DynamoDBSagaLog`, which the app then owns: on close, the client it made for
   * itself is destroyed (one it was given stays the giver's).
   */
  log?: 'memory' | SagaLog
  /** `fastify.saga.recover()` takes only sagas with no transition for this long. Default 60 000 ms. */
  olderThanMs?: number
}

/** What `fastify.saga.load` takes besides the APIs: per-Resource schemas, and how compensations are retried. */
export type SagaLoadOptions = Pick<LoadSagaOptions, 'schemas' | 'compensationRetry'>

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
  /** Finishes, by compensation, the sagas of the loaded definitions that a crash or a timeout left open. */
  recover (options?: SagaPluginRecoverOptions): Promise<RecoverySummary>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Sagas: `load`, `run`, `recover`, and their `log`. */
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
  return { deadline: request.deadline ?? undefined, log: request.log }
}

async function sagas (fastify: FastifyInstance, options: SagaOptions): Promise<void> {
  validateOptions(PLUGIN, options, { log: anyOf(oneOf('memory'), isSagaLog), olderThanMs: integerBetween(0) })
  const sagaLog: DestroyableSagaLog = options.log === undefined || options.log === 'memory' ? new MemorySagaLog() : options.log
  const loaded = new Map<string, Saga>()

  function loadedSaga (name: string): Saga {
    const saga = loaded.get(name)
    if (saga === undefined) throw new HALO_ERR_OPTION(`${PLUGIN}: no saga named "${name}" is loaded (loaded: ${[...loaded.keys()].join(', ') || 'none'})`)
    return saga
  }

  fastify.decorate('saga', {
    log: sagaLog,
    load (name, definition, apis, loadOptions) {
      if (loaded.has(name)) throw new HALO_ERR_OPTION(`${PLUGIN}: a saga named "${name}" is already loaded`)
      const saga = loadSaga(name, definition, { ...loadOptions, apis, sagaLog })
      loaded.set(name, saga)
      return saga
    },
    async run (name, runOptions) {
      return await loadedSaga(name).run({ ...runOptions, ...currentExecution(fastify) })
    },
    async recover (recoverOptions = {}) {
      validateOptions(`${PLUGIN} recover`, recoverOptions, { olderThanMs: integerBetween(0) })
      return await recover({
        sagaLog,
        sagas: loaded.values(),
        olderThanMs: recoverOptions.olderThanMs ?? options.olderThanMs,
        ...currentExecution(fastify)
      })
    }
  } satisfies HaloSagas)

  fastify.addHook('onClose', async () => {
    await sagaLog.destroy?.()
  })
}

/**
 * Sagas: `fastify.saga.load(name, definition, apis?)`, `fastify.saga.run(name, { payloads })` (bounded by
 * the current request's deadline) and `fastify.saga.recover()`, every transition recorded in the saga log.
 * An uncaught `SagaRollback` answers 500 `HALO_ERR_SAGA_ROLLBACK` naming `failedState`, through the errors part.
 */
export const sagaPlugin: FastifyPluginAsync<SagaOptions> = fp(sagas, { name: 'fastify-halo-saga', fastify: '5.x' })
