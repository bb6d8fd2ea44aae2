// Finishing the sagas that a crash or a timeout left open: each is claimed with a conditional write
// before anything is done, and held by a lease renewed while its compensations run, so that when several
// instances recover at the same time every saga is compensated by exactly one of them.
import { uuidV4 } from '../uuid.js'
import { errorMessage } from '../errors.js'
import { integerBetween, isNonEmptyString, isObject, validateOptions } from '../options.js'
import type { SagaLog, SagaStatus } from './log.js'
import { silentLogger, type Saga, type SagaApis, type SagaDeadline, type SagaLogger } from './saga.js'

export interface RecoverOptions {
  /** Where the open sagas are found and claimed. */
  sagaLog: SagaLog
  /** The loaded sagas; an open saga is finished by the one of its name. */
  sagas: Iterable<Saga>
  /** APIs by saga name, adding to and overriding those each saga was loaded with. */
  apis?: Record<string, SagaApis>
  /**
   * Only sagas with no transition for at least this long are taken (default 60 000 ms): longer than any step takes,
   * so that a saga still running elsewhere is left alone.
   */
  olderThanMs?: number
  /** How long a claimed saga's lease lasts, renewed while its compensations run (default 30 000 ms). */
  leaseMs?: number
  /** Who recovers, as recorded in the claimed sagas (default a random UUID). */
  owner?: string
  log?: SagaLogger
  /** Stops the compensations; what is left stays open for a later recovery. */
  signal?: AbortSignal
  deadline?: SagaDeadline
}

export interface RecoveredSaga {
  sagaId: string
  name: string
  /** The compensations this recovery did. */
  compensated: string[]
  /** Those still failing (status `failed`) or not reached in time (status `recovering`). */
  pending: string[]
  status: SagaStatus
}

export interface SkippedSaga {
  sagaId: string
  name: string
  reason: string
}

export interface RecoverySummary {
  recovered: RecoveredSaga[]
  skipped: SkippedSaga[]
}

/**
 * Finishes, by compensation, the open sagas of `sagaLog` (running, compensating, or claimed by a
 * recoverer that stopped) whose last transition is at least `olderThanMs` old. One saga failing to
 * recover does not stop the others: it is listed in `skipped` with the reason.
 */
export async function recover (options: RecoverOptions): Promise<RecoverySummary> {
  validateOptions('recover', options, {
    sagaLog: isObject,
    sagas: (value) => typeof Object(value)[Symbol.iterator] === 'function' ? undefined : 'must be iterable',
    apis: isObject,
    olderThanMs: integerBetween(0),
    leaseMs: integerBetween(3),
    owner: isNonEmptyString,
    log: isObject,
    signal: (value) => value instanceof AbortSignal ? undefined : 'must be an AbortSignal',
    deadline: isObject
  }, { required: ['sagaLog', 'sagas'] })
  const { sagaLog, apis, signal, deadline } = options
  const sagas = new Map([...options.sagas].map((saga) => [saga.name, saga]))
  const owner = options.owner ?? uuidV4()
  const log = options.log ?? silentLogger
  const summary: RecoverySummary = { recovered: [], skipped: [] }
  for (const open of await sagaLog.listOpen(Date.now() - (options.olderThanMs ?? 60_000))) {
    const { sagaId, name } = open
    const saga = sagas.get(name)
    if (saga === undefined) {
      summary.skipped.push({ sagaId, name, reason: `no saga named "${name}" is loaded` })
      continue
    }
    try {
      const outcome = await saga.recover(open, { owner, sagaLog, apis: apis?.[name], log, signal, deadline, leaseMs: options.leaseMs })
      if (outcome === undefined) {
        summary.skipped.push({ sagaId, name, reason: 'another process changed or claimed it first' })
        continue
      }
      const { compensated, pending, suspended } = outcome
      summary.recovered.push({ sagaId, name, compensated, pending, status: suspended ? 'recovering' : pending.length > 0 ? 'failed' : 'rolled-back' })
    } catch (error) {
      log.error({ saga: name, sagaId, event: 'recovery-failed', err: error }, `saga ${name} recovery failed`)
      summary.skipped.push({ sagaId, name, reason: errorMessage(error) })
    }
  }
  return summary
}
