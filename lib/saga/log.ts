// The saga log: one record per saga, holding where it stands and every transition it went through, so
// that an operator can read what happened and a recoverer in another process can finish a saga that a
// crash or a timeout left open. Every method is one write (or one read) to the backing store.
//
// Fencing: each record names its owner (the run, or the recoverer that claimed it) and a write from
// anyone else is refused with HALO_ERR_SAGA_CONFLICT, so a slow run and its recoverer never both act.
import { HALO_ERR_SAGA_CONFLICT } from '../errors.js'
import { integerBetween, validateOptions } from '../options.js'

/**
 * `running` (forward path), `compensating`, `recovering` (claimed by a recoverer) are open; `committed`,
 * `rolled-back` (every compensation done) and `failed` (a compensation still failing: see `pending`) are final.
 */
export type SagaStatus = 'running' | 'compensating' | 'recovering' | 'committed' | 'rolled-back' | 'failed'

export const OPEN_STATUSES: readonly SagaStatus[] = ['running', 'compensating', 'recovering']

/**
 * The transitions. A failed attempt that will be retried is a `step-failed` (or `compensation-failed`)
 * with `retryInMs`; the last one has none. `suspended`: time ran out (deadline or abort) while
 * compensating, and the saga stays open for `recover()`. `claimed`: a recoverer took the saga over.
 * `late-success`: a step that counted as failed with `States.Timeout` succeeded after all; its
 * compensation runs once more.
 */
export type SagaEventName =
  | 'started'
  | 'step-started' | 'step-succeeded' | 'step-failed'
  | 'compensation-started' | 'compensation-succeeded' | 'compensation-failed'
  | 'suspended' | 'claimed' | 'late-success'
  | 'committed' | 'rolled-back' | 'failed'

/** An error as the log keeps it. */
export interface SagaErrorInfo {
  name: string
  message: string
  code?: string
}

/** One transition. */
export interface SagaEvent {
  event: SagaEventName
  /** Epoch milliseconds. */
  at: number
  state?: string
  /** 1 for the first attempt of a step or compensation; 0 when there was no time to make one. */
  attempt?: number
  error?: SagaErrorInfo
  /** Set on a failed attempt that will be retried after this wait. */
  retryInMs?: number
  /** The recoverer, on `claimed`. */
  owner?: string
}

/** What a transition changes in the record, besides appending the event and bumping `updatedAt`. */
export interface SagaChanges {
  status?: SagaStatus
  /** A forward state started for the first time; appended to `started`. */
  started?: string
  /** A compensation succeeded; appended to `compensated`. */
  compensated?: string
  /** A result to store in `results` under `key`. */
  result?: { key: string, value: unknown }
  failure?: SagaFailure
  /** The compensations that failed or were not reached, when the run ends or stops. */
  pending?: string[]
}

/** Why and where a saga failed, and the compensations it must run. */
export interface SagaFailure {
  state: string
  error: SagaErrorInfo
  compensation: string[]
}

export interface SagaRecord {
  sagaId: string
  /** The name the definition was loaded under. */
  name: string
  status: SagaStatus
  /** The run or recoverer that holds the saga. */
  owner: string
  /** The payloads of the compensation states, for a recoverer to call them with. */
  payloads: Record<string, unknown>
  /** Every result so far, keyed by ResultPath. */
  results: Record<string, unknown>
  /** The forward states that started, in order. */
  started: string[]
  failure?: SagaFailure
  /** The compensations done, in order. */
  compensated: string[]
  pending: string[]
  events: SagaEvent[]
  createdAt: number
  updatedAt: number
  /** Grows by one with every write; a claim is conditional on it. */
  version: number
  /** Until when (epoch ms) the recoverer that owns it holds its lease: no other may claim it before. */
  leaseUntil?: number
}

/** An open saga, as `listOpen` finds it. */
export interface OpenSaga {
  sagaId: string
  name: string
  status: SagaStatus
  updatedAt: number
  version: number
}

/** What a new record starts with; its `started` event is written with it. */
export interface NewSaga {
  sagaId: string
  name: string
  owner: string
  payloads: Record<string, unknown>
}

/** Where sagas record their transitions. Each method is one call to the store. */
export interface SagaLog {
  /** Writes a new saga's record; HALO_ERR_SAGA_CONFLICT when the id is taken. */
  create (saga: NewSaga, event: SagaEvent): Promise<void>
  /** Records a transition of a saga held by `owner`; HALO_ERR_SAGA_CONFLICT when another holds it. */
  update (sagaId: string, owner: string, event: SagaEvent, changes?: SagaChanges): Promise<void>
  /**
   * Hands an open saga over to `owner` (status `recovering`) with a lease until `leaseUntil` (epoch ms),
   * unless it changed since `version` was read or another recoverer's lease still holds; resolves to the
   * claimed record, or undefined when someone else moved first.
   */
  claim (sagaId: string, owner: string, version: number, event: SagaEvent, leaseUntil: number): Promise<SagaRecord | undefined>
  /**
   * Moves the lease of the recoverer `owner` to `leaseUntil` (0 releases it); HALO_ERR_SAGA_CONFLICT when
   * another holds the saga.
   */
  renew (sagaId: string, owner: string, leaseUntil: number): Promise<void>
  get (sagaId: string): Promise<SagaRecord | undefined>
  /** The open sagas whose last update was at or before `notUpdatedSince` (epoch ms). */
  listOpen (notUpdatedSince: number): Promise<OpenSaga[]>
}

/** The error of a failed step as the log and log lines keep it. */
export function errorInfo (error: unknown): SagaErrorInfo {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? { name: error.name, message: error.message, code } : { name: error.name, message: error.message }
}

export interface MemorySagaLogOptions {
  /** How many finished sagas to keep, oldest forgotten first (default 1000); open ones are always kept. */
  maxFinished?: number
}

/** A saga log in this process's memory: the local default, lost with the process. */
export class MemorySagaLog implements SagaLog {
  readonly #records = new Map<string, SagaRecord>()
  readonly #finished = new Set<string>()
  readonly #maxFinished: number

  constructor (options?: MemorySagaLogOptions) {
    validateOptions('MemorySagaLog', options, { maxFinished: integerBetween(0) })
    this.#maxFinished = options?.maxFinished ?? 1000
  }

  async create (saga: NewSaga, event: SagaEvent): Promise<void> {
    if (this.#records.has(saga.sagaId)) throw new HALO_ERR_SAGA_CONFLICT(saga.sagaId)
    this.#records.set(saga.sagaId, {
      ...structuredClone(saga),
      status: 'running',
      results: {},
      started: [],
      compensated: [],
      pending: [],
      events: [{ ...event }],
      createdAt: event.at,
      updatedAt: event.at,
      version: 1
    })
  }

  async update (sagaId: string, owner: string, event: SagaEvent, changes: SagaChanges = {}): Promise<void> {
    const record = this.#records.get(sagaId)
    if (record?.owner !== owner) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
    record.events.push({ ...event })
    record.updatedAt = event.at
    record.version++
    if (changes.started !== undefined) record.started.push(changes.started)
    if (changes.compensated !== undefined) record.compensated.push(changes.compensated)
    if (changes.result !== undefined) record.results[changes.result.key] = structuredClone(changes.result.value)
    if (changes.failure !== undefined) record.failure = structuredClone(changes.failure)
    if (changes.pending !== undefined) record.pending = [...changes.pending]
    if (changes.status !== undefined) this.#setStatus(record, changes.status)
  }

  async claim (sagaId: string, owner: string, version: number, event: SagaEvent, leaseUntil: number): Promise<SagaRecord | undefined> {
    const record = this.#records.get(sagaId)
    if (record?.version !== version || !OPEN_STATUSES.includes(record.status) || (record.leaseUntil ?? 0) >= event.at) return undefined
    record.owner = owner
    record.leaseUntil = leaseUntil
    await this.update(sagaId, owner, event, { status: 'recovering' })
    return structuredClone(record)
  }

  async renew (sagaId: string, owner: string, leaseUntil: number): Promise<void> {
    const record = this.#records.get(sagaId)
    if (record?.owner !== owner) throw new HALO_ERR_SAGA_CONFLICT(sagaId)
    record.leaseUntil = leaseUntil
  }

  async get (sagaId: string): Promise<SagaRecord | undefined> {
    const record = this.#records.get(sagaId)
    return record === undefined ? undefined : structuredClone(record)
  }

  async listOpen (notUpdatedSince: number): Promise<OpenSaga[]> {
    const open: OpenSaga[] = []
    for (const { sagaId, name, status, updatedAt, version } of this.#records.values()) {
      if (updatedAt <= notUpdatedSince && OPEN_STATUSES.includes(status)) open.push({ sagaId, name, status, updatedAt, version })
    }
    return open
  }

  #setStatus (record: SagaRecord, status: SagaStatus): void {
    record.status = status
    if (OPEN_STATUSES.includes(status)) return
    this.#finished.add(record.sagaId)
    for (const sagaId of this.#finished) {
      if (this.#finished.size <= this.#maxFinished) break
      this.#finished.delete(sagaId)
      this.#records.delete(sagaId)
    }
  }
}
