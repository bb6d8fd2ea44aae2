// The saga executor: runs the forward path, and on a failure the compensation chain its Catch leads
// into, recording every transition in the saga log before going on, so that whatever this process
// does not finish (a crash, a timeout) a recoverer can.
import { createHash, sleep } from '../builtins.js'
import { uuidV4 } from '../uuid.js'
import { KindGuard, type TSchema } from '@sinclair/typebox'
import { HALO_ERR_OPTION, HALO_ERR_TIMEOUT, HALO_ERR_VALIDATION, SagaError, SagaRollback } from '../errors.js'
import { integerBetween, isNonEmptyString, isObject, numberBetween, validateOptions, type OptionChecks } from '../options.js'
import { ALL_ERRORS, analyseDefinition, firstSchemaError, type SagaDefinition, type SagaGraph, type SagaRetrier, type SagaTaskState } from './definition.js'
import { errorInfo, MemorySagaLog, type SagaChanges, type SagaEvent, type OpenSaga, type SagaEventName, type SagaLog, type SagaRecord } from './log.js'

/** What a saga logs through: pino, Fastify's `request.log`, or anything with these methods. */
export interface SagaLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** The second argument of every API call. */
export interface SagaStepContext {
  /** The name the saga was loaded under. */
  readonly saga: string
  readonly sagaId: string
  /** The state being run. */
  readonly state: string
  /** 1 on the first attempt, growing with each retry. */
  readonly attempt: number
  /** Every result so far, keyed by ResultPath (`$.BookHotelResult` → `results.BookHotelResult`). */
  readonly results: Readonly<Record<string, unknown>>
  /**
   * Aborts when the run's signal does, or its deadline or the saga's TimeoutSeconds pass; give it to `fetch`.
   * A step that ignores it still counts as failed with `States.Timeout` then.
   */
  readonly signal: AbortSignal
  /**
   * The same for every attempt of this state in this saga, in the run and in a recovery: send it to the
   * partner as its idempotency key so that a retry never books twice.
   */
  readonly idempotencyKey: string
  readonly log: SagaLogger
  /** The run's `context` option (undefined during a recovery). */
  readonly context: unknown
}

/** Calls a partner: returns (or resolves to) the step's result, throws when the step failed. `any`: each API types its payload. */
export type SagaApi = (payload: any, ctx: SagaStepContext) => unknown

/** The APIs of a saga, keyed by state name. */
export type SagaApis = Record<string, SagaApi>

/** Checks for the payloads and results of one Resource. */
export interface ResourceSchemas {
  payload?: TSchema
  result?: TSchema
}

export interface LoadSagaOptions {
  /** The APIs by state name; a run's `apis` add to and override them. */
  apis?: SagaApis
  /** TypeBox schemas by Resource: payloads are checked before the saga starts, results as they come. */
  schemas?: Record<string, ResourceSchemas>
  /**
   * How compensations are retried on errors their own `Retry` does not handle (a compensation's Catch
   * naming itself means the same). Default: `{ IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 }`,
   * three attempts in all.
   */
  compensationRetry?: Omit<SagaRetrier, 'ErrorEquals'>
  /** Where runs record their transitions unless a run names another; default a new `MemorySagaLog`. */
  sagaLog?: SagaLog
}

/** The time budget a run or recovery works within. */
export interface SagaDeadline {
  /** Milliseconds left. */
  remaining (): number
}

/** The options that a run and a recovery share. */
export interface SagaExecutionOptions {
  /** Add to and override the APIs given at load. */
  apis?: SagaApis
  /**
   * Aborts the run or recovery: waits stop at once, `ctx.signal` aborts, a step still pending counts as failed
   * with `States.Timeout`, and the compensations left are left open for `recover()`.
   */
  signal?: AbortSignal
  /**
   * No attempt starts, and no retry wait begins, that cannot finish before it (e.g. `request.deadline`); an
   * attempt still pending at it counts as failed with `States.Timeout`, whether or not it heeds `ctx.signal`.
   * It bounds a run's forward path and a recovery's compensations: a run's compensations get the saga's
   * `TimeoutSeconds` anew instead, so that what was booked is undone even after the deadline.
   */
  deadline?: SagaDeadline
  /** Gets one line per transition with `saga`, `sagaId`, `state`, `event`; and is `ctx.log`. */
  log?: SagaLogger
  /** Overrides the saga log given at load. */
  sagaLog?: SagaLog
}

export interface SagaRunOptions extends SagaExecutionOptions {
  /** The payload of each state, keyed by state name. */
  payloads: Record<string, unknown>
  /** Anything the APIs need from the caller (a request, its correlation ids): `ctx.context`. */
  context?: unknown
  /** Default: a random UUID. An id already in the saga log is refused (HALO_ERR_SAGA_CONFLICT). */
  sagaId?: string
}

export interface SagaRecoverOptions extends SagaExecutionOptions {
  /** Who recovers: the saga is claimed in this name, and only it may write to the record then. */
  owner: string
  /**
   * How long the claim's lease lasts (default 30 000 ms). It is renewed every third of that while the
   * compensations run, so that however slow they are no other recoverer takes the saga over; a recoverer
   * that dies lets it go when the lease runs out.
   */
  leaseMs?: number
}

export interface SagaResult {
  sagaId: string
  /** Every forward result, keyed by ResultPath. */
  results: Record<string, unknown>
}

/** What compensating a saga came to. */
export interface SagaCompensation {
  /** The compensations done now, in order. */
  compensated: string[]
  /** The compensations that still failed, or that time did not allow; empty when the saga rolled back. */
  pending: string[]
  /** The last error of each compensation that failed. */
  errors: Record<string, unknown>
  /** Time ran out: the saga was left open for a recoverer rather than marked failed. */
  suspended: boolean
}

interface Retrier {
  errorEquals: readonly string[]
  intervalMs: number
  maxRetries: number
  backoffRate: number
}

/** A Task state as the executor uses it. */
interface CompiledTask {
  readonly definition: SagaTaskState
  /** Where its result goes in `results`. */
  readonly resultKey: string
  readonly retriers: readonly Retrier[]
  payloadSchema?: TSchema
  resultSchema?: TSchema
}

/** Everything an execution of a saga (run or recovery) carries along. */
interface Execution {
  readonly sagaId: string
  readonly apis: SagaApis
  readonly payloads: Record<string, unknown>
  readonly results: Record<string, unknown>
  readonly context: unknown
  readonly log: SagaLogger
  readonly journal: Journal
}

type Outcome =
  | { ok: true, result: unknown, attempt: number }
  /** `late`: the attempt time ran out for, which may still succeed. */
  | { ok: false, error: unknown, attempt: number, outOfTime: boolean, late?: Promise<unknown> }

/** The `ErrorEquals` name of a step or compensation that time ran out for. */
export const STATES_TIMEOUT = 'States.Timeout'
const MAX_TIMER_MS = 2 ** 31 - 1
const ignore = (): void => {}
export const silentLogger: SagaLogger = { info: ignore, warn: ignore, error: ignore }

/**
 * `ctx.log`: the run's logger with the saga, its id and the state on every line, so that a step's own lines
 * can be told apart. A child where the logger makes them (pino, Fastify's request.log), else a wrapper.
 */
function stepLogger (log: SagaLogger, bindings: { saga: string, sagaId: string, state: string }): SagaLogger {
  if (log === silentLogger) return log
  const parent = log as SagaLogger & { child?: (bindings: object) => SagaLogger }
  if (typeof parent.child === 'function') return parent.child(bindings)
  const bind = (level: keyof SagaLogger) => (obj: object, msg: string) => { log[level]({ ...bindings, ...obj }, msg) }
  return { info: bind('info'), warn: bind('warn'), error: bind('error') }
}
const neverAborted = new AbortController().signal

const LEVELS: Record<SagaEventName, keyof SagaLogger> = {
  started: 'info',
  'step-started': 'info',
  'step-succeeded': 'info',
  'step-failed': 'warn',
  'compensation-started': 'info',
  'compensation-succeeded': 'info',
  'compensation-failed': 'error',
  suspended: 'error',
  claimed: 'warn',
  'late-success': 'warn',
  committed: 'info',
  'rolled-back': 'warn',
  failed: 'error'
}

/** Writes a transition to the saga log, then the matching log line. */
class Journal {
  readonly #sagaLog: SagaLog
  readonly #log: SagaLogger
  readonly #saga: string
  readonly #sagaId: string
  readonly #owner: string

  constructor (sagaLog: SagaLog, log: SagaLogger, saga: string, sagaId: string, owner: string) {
    this.#sagaLog = sagaLog
    this.#log = log
    this.#saga = saga
    this.#sagaId = sagaId
    this.#owner = owner
  }

  async start (payloads: Record<string, unknown>): Promise<void> {
    const event: SagaEvent = { event: 'started', at: Date.now() }
    await this.#sagaLog.create({ sagaId: this.#sagaId, name: this.#saga, owner: this.#owner, payloads }, event)
    this.#line(event)
  }

  /** Takes an open saga over for this journal's owner; undefined when another process moved first. */
  async claim (version: number, leaseMs: number): Promise<SagaRecord | undefined> {
    const event: SagaEvent = { event: 'claimed', at: Date.now(), owner: this.#owner }
    const record = await this.#sagaLog.claim(this.#sagaId, this.#owner, version, event, event.at + leaseMs)
    if (record !== undefined) this.#line(event)
    return record
  }

  /** Renews the claim's lease every third of `leaseMs` until the returned function is called. */
  holdLease (leaseMs: number): () => void {
    const timer = setInterval(() => {
      this.#sagaLog.renew(this.#sagaId, this.#owner, Date.now() + leaseMs).catch((error: unknown) => {
        // The next transition written meets the same error and stops the recovery.
        this.#log.warn({ saga: this.#saga, sagaId: this.#sagaId, event: 'lease-renewal-failed', err: error }, `saga ${this.#saga} lease not renewed`)
      })
    }, leaseMs / 3).unref()
    return () => clearInterval(timer)
  }

  async releaseLease (): Promise<void> {
    await this.#sagaLog.renew(this.#sagaId, this.#owner, 0)
  }

  async record (event: Omit<SagaEvent, 'at' | 'error'>, changes?: SagaChanges, error?: unknown): Promise<void> {
    const written: SagaEvent = error === undefined ? { ...event, at: Date.now() } : { ...event, at: Date.now(), error: errorInfo(error) }
    await this.#sagaLog.update(this.#sagaId, this.#owner, written, changes)
    this.#line(written, error)
  }

  #line ({ event, state, attempt, retryInMs, owner }: SagaEvent, err?: unknown): void {
    this.#log[LEVELS[event]](
      { saga: this.#saga, sagaId: this.#sagaId, state, event, attempt, retryInMs, owner, err },
      `saga ${this.#saga} ${event}${state === undefined ? '' : ` ${state}`}`)
  }
}

/** The time a run or recovery may still use, and the signal that ends it early. */
class Budget {
  readonly signal: AbortSignal
  readonly #deadline: SagaDeadline | undefined
  readonly #startedAt = Date.now()
  readonly #endsAt: number
  readonly #timer: NodeJS.Timeout | undefined

  /** With `timeoutMs`, the budget's signal aborts then, with HALO_ERR_TIMEOUT, until `end()`. */
  constructor (deadline: SagaDeadline | undefined, signal: AbortSignal | undefined, timeoutMs?: number) {
    this.#deadline = deadline
    if (timeoutMs === undefined) {
      this.#endsAt = Infinity
      this.signal = signal ?? neverAborted
    } else {
      this.#endsAt = this.#startedAt + timeoutMs
      const timeout = new AbortController()
      // Not AbortSignal.timeout(): its timer does not keep the process alive while a step awaits it.
      this.#timer = setTimeout(() => timeout.abort(new HALO_ERR_TIMEOUT(timeoutMs)), timeoutMs)
      this.signal = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal])
    }
  }

  end (): void {
    clearTimeout(this.#timer)
  }

  remaining (): number {
    return Math.min(this.#deadline?.remaining() ?? Infinity, this.#endsAt - Date.now())
  }

  canStart (): boolean {
    return !this.signal.aborted && this.remaining() > 0
  }

  /** Whether a wait of `ms` leaves time for another attempt. */
  fits (ms: number): boolean {
    return !this.signal.aborted && ms < this.remaining()
  }

  /** Resolves to false when the signal cut the wait short. */
  async wait (ms: number): Promise<boolean> {
    return await sleep(ms, true, { signal: this.signal }).catch(() => false)
  }

  /**
   * Settles as `work` does, unless the time left runs out (or the signal aborts) first: then `attempt`
   * aborts and this rejects with a `States.Timeout` error at once, whether or not `work` heeds the abort.
   */
  async bound<T> (work: Promise<T>, attempt: AbortController): Promise<T> {
    const ms = this.remaining()
    return await new Promise<T>((resolve, reject) => {
      const giveUp = (): void => {
        const error = this.outOfTime()
        attempt.abort(error)
        reject(error)
      }
      // A timer longer than setTimeout can count would fire at once: such a step is bounded by the signal only.
      const timer = ms < MAX_TIMER_MS ? setTimeout(giveUp, ms) : undefined
      if (this.signal.aborted) giveUp()
      this.signal.addEventListener('abort', giveUp, { once: true })
      work.then(resolve, reject).finally(() => {
        clearTimeout(timer)
        this.signal.removeEventListener('abort', giveUp)
      })
    })
  }

  /** The error of a step or compensation that time ran out for, as Amazon States Language names it. */
  outOfTime (): Error {
    return Object.assign(new HALO_ERR_TIMEOUT(Date.now() - this.#startedAt), { name: STATES_TIMEOUT })
  }
}

function matches (errorEquals: readonly string[], error: unknown): boolean {
  const { name, code } = errorInfo(error)
  return errorEquals.includes(ALL_ERRORS) || errorEquals.includes(name) || (code !== undefined && errorEquals.includes(code))
}

function toRetrier (retrier: SagaRetrier): Retrier {
  return {
    errorEquals: retrier.ErrorEquals,
    intervalMs: (retrier.IntervalSeconds ?? 1) * 1000,
    maxRetries: retrier.MaxAttempts ?? 3,
    backoffRate: retrier.BackoffRate ?? 2
  }
}

function isRecordTooLarge (error: unknown): boolean {
  return (error as { code?: unknown }).code === 'HALO_ERR_SAGA_RECORD_TOO_LARGE'
}

/** A payload by state name, never one an object inherits. */
function ownValue (payloads: Record<string, unknown>, state: string): unknown {
  return Object.hasOwn(payloads, state) ? payloads[state] : undefined
}

/** The key of a result path: `$.BookHotelResult` → `BookHotelResult`. */
function resultKey (resultPath: string): string {
  return resultPath.slice(2)
}

const retryOptionChecks: OptionChecks<Omit<SagaRetrier, 'ErrorEquals'>> = {
  IntervalSeconds: numberBetween(0),
  MaxAttempts: integerBetween(0),
  BackoffRate: numberBetween(1)
}
const executionOptionChecks: OptionChecks<SagaExecutionOptions> = {
  apis: isObject,
  signal: (value) => value instanceof AbortSignal ? undefined : 'must be an AbortSignal',
  deadline: (value) => typeof Object(value).remaining === 'function' ? undefined : 'must have a remaining() method',
  log: isObject,
  sagaLog: isObject
}

/** A loaded saga definition, ready to run any number of times (concurrently too). */
export class Saga {
  /** The name it was loaded under, recorded with each run. */
  readonly name: string
  readonly definition: SagaDefinition
  /** The forward states, in order. */
  readonly forward: readonly string[]
  /** The saga log runs write to unless they name another. */
  readonly sagaLog: SagaLog
  readonly #graph: SagaGraph
  readonly #apis: SagaApis
  readonly #tasks = new Map<string, CompiledTask>()

  constructor (name: string, definition: unknown, options?: LoadSagaOptions) {
    validateOptions(`saga "${name}"`, options, {
      apis: isObject,
      schemas: isObject,
      compensationRetry: (value) => {
        // Throws its own message, which names the field at fault.
        validateOptions(`saga "${name}" option "compensationRetry"`, value as LoadSagaOptions['compensationRetry'], retryOptionChecks)
        return undefined
      },
      sagaLog: isObject
    })
    this.#graph = analyseDefinition(name, definition)
    this.name = name
    this.definition = definition as SagaDefinition
    this.forward = this.#graph.forward
    this.sagaLog = options?.sagaLog ?? new MemorySagaLog()
    this.#apis = options?.apis ?? {}
    // APIs given here are meant to be complete: a missing one is named now, not when a run first needs it.
    if (options?.apis !== undefined) this.#apisFor(undefined, this.#graph.tasks.keys())
    const compensationRetrier = toRetrier({ IntervalSeconds: 1, MaxAttempts: 2, ...options?.compensationRetry, ErrorEquals: [ALL_ERRORS] })
    for (const [state, task] of this.#graph.tasks) {
      const own = (task.Retry ?? []).map(toRetrier)
      this.#tasks.set(state, {
        definition: task,
        resultKey: resultKey(task.ResultPath),
        retriers: this.#graph.compensations.has(state) ? [...own, compensationRetrier] : own
      })
    }
    this.#attachSchemas(options?.schemas ?? {})
  }

  /**
   * Runs the saga: each forward state in turn, retried as its `Retry` says. Resolves to the results when
   * every state succeeded (`committed`). When one fails, runs the compensation chain its matching Catch
   * leads into, then throws `SagaRollback` if every compensation succeeded, or `SagaError` (with
   * `pending`) if some still failed or time ran out. A payload failing its schema throws
   * HALO_ERR_VALIDATION before anything runs; a saga log that cannot be written stops the run with the
   * log's error, leaving the saga open for `recover()`.
   */
  async run (options: SagaRunOptions): Promise<SagaResult> {
    validateOptions(`saga "${this.name}" run`, options, {
      ...executionOptionChecks,
      payloads: isObject,
      context: () => undefined,
      sagaId: isNonEmptyString
    }, { required: ['payloads'] })
    const apis = this.#apisFor(options.apis, this.#graph.tasks.keys())
    this.#checkPayloads(options.payloads)
    const sagaId = options.sagaId ?? uuidV4()
    const log = options.log ?? silentLogger
    const journal = new Journal(options.sagaLog ?? this.sagaLog, log, this.name, sagaId, uuidV4())
    const execution: Execution = { sagaId, apis, payloads: options.payloads, results: {}, context: options.context, log, journal }
    await journal.start(Object.fromEntries([...this.#graph.compensations]
      .filter((state) => Object.hasOwn(options.payloads, state))
      .map((state) => [state, options.payloads[state]])))

    const budget = new Budget(options.deadline, options.signal, this.#timeoutMs)
    const failed = await this.#forward(execution, budget).finally(() => budget.end())
    if (failed !== undefined) {
      // The compensations undo what was booked even when the deadline has passed (the client may have its
      // 504 already): they get TimeoutSeconds anew, and stop only with the run's signal.
      const compensationBudget = new Budget(undefined, options.signal, this.#timeoutMs)
      return await this.#fail(execution, failed.state, failed.outcome, compensationBudget).finally(() => compensationBudget.end())
    }
    await journal.record({ event: 'committed' }, { status: 'committed' })
    return { sagaId, results: execution.results }
  }

  /** Runs the forward states; resolves to the one that failed, if one did. */
  async #forward (execution: Execution, budget: Budget): Promise<{ state: string, outcome: Outcome & { ok: false } } | undefined> {
    for (const state of this.forward) {
      const outcome = await this.#execute(execution, state, 'step', budget)
      if (!outcome.ok) return { state, outcome }
      const key = this.#task(state).resultKey
      try {
        await execution.journal.record({ event: 'step-succeeded', state, attempt: outcome.attempt }, { result: { key, value: outcome.result } })
      } catch (error) {
        // A result the log cannot keep would leave a saga no recoverer could read: the step fails instead.
        if (!isRecordTooLarge(error)) throw error
        return { state, outcome: { ok: false, error, attempt: outcome.attempt, outOfTime: false } }
      }
      execution.results[key] = outcome.result
    }
    return undefined
  }

  /**
   * Claims an open saga of this definition in the saga log (conditional on `open.version`, so that of
   * recoverers racing only one goes on) and finishes it by compensation: the compensations of its
   * failure's chain or, when it stopped in the forward path, the chain that undoes the last state that
   * started, leaving out those already done. Resolves to undefined when another process moved first.
   */
  async recover (open: Pick<OpenSaga, 'sagaId' | 'version'>, options: SagaRecoverOptions): Promise<SagaCompensation | undefined> {
    validateOptions(`saga "${this.name}" recover`, options, { ...executionOptionChecks, owner: isNonEmptyString, leaseMs: integerBetween(3) }, { required: ['owner'] })
    // Checked before claiming, so that a misconfigured recoverer never holds a saga it cannot finish.
    const apis = this.#apisFor(options.apis, this.#graph.compensations)
    const log = options.log ?? silentLogger
    const journal = new Journal(options.sagaLog ?? this.sagaLog, log, this.name, open.sagaId, options.owner)
    const leaseMs = options.leaseMs ?? 30_000
    const record = await journal.claim(open.version, leaseMs)
    if (record === undefined) return undefined
    const stopRenewing = journal.holdLease(leaseMs)
    const chain = record.failure?.compensation ?? this.#graph.chain(this.#graph.recoveryEntries.get(record.started.at(-1) ?? ''))
    const todo = chain.filter((state) => !record.compensated.includes(state))
    const execution: Execution = {
      sagaId: record.sagaId,
      apis,
      payloads: record.payloads,
      results: record.results,
      context: undefined,
      log,
      journal
    }
    try {
      const compensation = await this.#compensate(execution, todo, new Budget(options.deadline, options.signal))
      // Left open for want of time: the next recoverer need not wait for the lease to run out.
      if (compensation.suspended) await journal.releaseLease()
      return compensation
    } finally {
      stopRenewing()
    }
  }

  async #fail (execution: Execution, state: string, outcome: Outcome & { ok: false }, budget: Budget): Promise<never> {
    const catcher = this.#task(state).definition.Catch?.find(({ ErrorEquals }) => matches(ErrorEquals, outcome.error))
    const chain = this.#graph.chain(catcher === undefined ? this.#graph.recoveryEntries.get(state) : catcher.Next)
    // A Catch leads into the failed step's own compensation first (DESIGN: each Book step's Catch goes to its Cancel).
    const ownCompensation = catcher === undefined ? undefined : chain[0]
    const error = errorInfo(outcome.error)
    const changes: SagaChanges = { status: 'compensating', failure: { state, error, compensation: [...chain] } }
    if (catcher?.ResultPath !== undefined) {
      const key = resultKey(catcher.ResultPath)
      // As in Amazon States Language, the caught error is stored for the states that follow to read.
      execution.results[key] = { Error: error.name, Cause: error.message }
      changes.result = { key, value: execution.results[key] }
    }
    await execution.journal.record({ event: 'step-failed', state, attempt: outcome.attempt }, changes, outcome.error)
    const compensating = this.#compensate(execution, chain, budget)
    if (outcome.late !== undefined) this.#undoLateSuccess(execution, state, ownCompensation, outcome.late, compensating)
    const { compensated, pending, errors } = await compensating
    if (pending.length > 0) throw new SagaError(execution.sagaId, state, outcome.error, errors, pending)
    throw new SagaRollback(execution.sagaId, state, outcome.error, compensated)
  }

  async #compensate (execution: Execution, chain: readonly string[], budget: Budget): Promise<SagaCompensation> {
    const { journal } = execution
    const result: SagaCompensation = { compensated: [], pending: [], errors: {}, suspended: false }
    for (const [index, state] of chain.entries()) {
      const outcome = await this.#execute(execution, state, 'compensation', budget)
      if (outcome.ok) {
        const key = this.#task(state).resultKey
        execution.results[key] = outcome.result
        const event = { event: 'compensation-succeeded', state, attempt: outcome.attempt } as const
        await journal.record(event, { compensated: state, result: { key, value: outcome.result } }).catch(async (error: unknown) => {
          // The compensation is done: that is what the log must keep, with or without its result.
          if (!isRecordTooLarge(error)) throw error
          await journal.record(event, { compensated: state })
        })
        result.compensated.push(state)
        continue
      }
      result.errors[state] = outcome.error
      await journal.record({ event: 'compensation-failed', state, attempt: outcome.attempt }, undefined, outcome.error)
      if (outcome.outOfTime) {
        // What is left is a recoverer's job: the saga stays open rather than being marked failed.
        result.pending.push(...chain.slice(index))
        result.suspended = true
        await journal.record({ event: 'suspended' }, { pending: result.pending })
        return result
      }
      result.pending.push(state)
    }
    if (result.pending.length > 0) await journal.record({ event: 'failed' }, { status: 'failed', pending: result.pending })
    else await journal.record({ event: 'rolled-back' }, { status: 'rolled-back' })
    return result
  }

  /** Calls a state's API until it succeeds, or its retries, or the time, run out. */
  async #execute (execution: Execution, state: string, role: 'step' | 'compensation', budget: Budget): Promise<Outcome> {
    if (!budget.canStart()) return { ok: false, error: budget.outOfTime(), attempt: 0, outOfTime: true }
    const { journal } = execution
    const { retriers, resultSchema } = this.#task(state)
    const retriesDone = retriers.map(() => 0)
    const idempotencyKey = createHash('sha256').update(`${execution.sagaId}\n${state}`).digest('base64url')
    const log = stepLogger(execution.log, { saga: this.name, sagaId: execution.sagaId, state })
    for (let attempt = 1; ; attempt++) {
      await journal.record({ event: `${role}-started`, state, attempt }, role === 'step' && attempt === 1 ? { started: state } : undefined)
      let error: unknown
      const controller = new AbortController()
      const call = Promise.resolve().then(() => execution.apis[state](ownValue(execution.payloads, state), {
        saga: this.name,
        sagaId: execution.sagaId,
        state,
        attempt,
        results: execution.results,
        signal: controller.signal,
        idempotencyKey,
        log,
        context: execution.context
      }))
      try {
        const result = await budget.bound(call, controller)
        const problem = resultSchema === undefined ? undefined : firstSchemaError(resultSchema, result)
        if (problem !== undefined) throw new HALO_ERR_VALIDATION(`saga "${this.name}": the result of ${state} is invalid: ${problem}`)
        return { ok: true, result, attempt }
      } catch (thrown) {
        error = thrown
      }
      if (controller.signal.aborted) return { ok: false, error, attempt, outOfTime: true, late: call }
      const index = retriers.findIndex(({ errorEquals }) => matches(errorEquals, error))
      const retrier = retriers[index]
      if (retrier === undefined || retriesDone[index] >= retrier.maxRetries) return { ok: false, error, attempt, outOfTime: false }
      const delay = retrier.intervalMs * retrier.backoffRate ** retriesDone[index]++
      if (!budget.fits(delay)) return { ok: false, error, attempt, outOfTime: true }
      await journal.record({ event: `${role}-failed`, state, attempt, retryInMs: delay }, undefined, error)
      if (!await budget.wait(delay)) return { ok: false, error, attempt, outOfTime: true }
    }
  }

  /**
   * A step that counted as failed with States.Timeout may still succeed: then, once the compensations are
   * done, its own compensation runs once more, and a warning (the `late-success` transition) says so.
   */
  #undoLateSuccess (execution: Execution, state: string, compensation: string | undefined, late: Promise<unknown>, compensating: Promise<unknown>): void {
    const { journal, log } = execution
    late.then(async () => {
      await compensating
      await journal.record({ event: 'late-success', state })
      if (compensation === undefined) return
      const budget = new Budget(undefined, undefined, this.#timeoutMs)
      const outcome = await this.#execute(execution, compensation, 'compensation', budget).finally(() => budget.end())
      if (outcome.ok) await journal.record({ event: 'compensation-succeeded', state: compensation, attempt: outcome.attempt }, { compensated: compensation })
      else await journal.record({ event: 'failed', state: compensation, attempt: outcome.attempt }, { status: 'failed', pending: [compensation] }, outcome.error)
    }, ignore).catch((error: unknown) => {
      log.error({ saga: this.name, sagaId: execution.sagaId, state, event: 'late-success', err: error }, `saga ${this.name} ${state} succeeded after it timed out and could not be undone`)
    })
  }

  get #timeoutMs (): number | undefined {
    const timeoutSeconds = this.definition.TimeoutSeconds
    return timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000
  }

  #task (state: string): CompiledTask {
    return this.#tasks.get(state) as CompiledTask
  }

  #apisFor (overrides: SagaApis | undefined, states: Iterable<string>): SagaApis {
    const apis = overrides === undefined ? this.#apis : { ...this.#apis, ...overrides }
    for (const state of states) {
      // Own properties only: `toString` is no partner API.
      if (!Object.hasOwn(apis, state) || typeof apis[state] !== 'function') {
        throw new HALO_ERR_OPTION(`saga "${this.name}": no API function for state "${state}" in apis (APIs are keyed by state name, not by Resource)`)
      }
    }
    return apis
  }

  #attachSchemas (schemas: Record<string, ResourceSchemas>): void {
    const byResource = new Map<string, CompiledTask[]>()
    for (const task of this.#tasks.values()) {
      const tasks = byResource.get(task.definition.Resource)
      if (tasks === undefined) byResource.set(task.definition.Resource, [task])
      else tasks.push(task)
    }
    for (const [resource, { payload, result }] of Object.entries(schemas)) {
      const tasks = byResource.get(resource)
      if (tasks === undefined) throw new HALO_ERR_OPTION(`saga "${this.name}": option "schemas" names Resource "${resource}", which no state uses`)
      for (const [part, schema] of Object.entries({ payload, result })) {
        if (schema !== undefined && !KindGuard.IsSchema(schema)) {
          throw new HALO_ERR_OPTION(`saga "${this.name}": option "schemas" for Resource "${resource}": ${part} must be a TypeBox schema`)
        }
      }
      for (const task of tasks) Object.assign(task, { payloadSchema: payload, resultSchema: result })
    }
  }

  #checkPayloads (payloads: Record<string, unknown>): void {
    for (const [state, { payloadSchema }] of this.#tasks) {
      const problem = payloadSchema === undefined ? undefined : firstSchemaError(payloadSchema, ownValue(payloads, state))
      if (problem !== undefined) throw new HALO_ERR_VALIDATION(`saga "${this.name}": the payload of ${state} is invalid: ${problem}`)
    }
  }
}

/**
 * Loads a saga definition (checked against `SagaDefinitionSchema` and for a sound graph; HALO_ERR_SAGA_DEFINITION
 * naming the state otherwise) under `name`, the name its runs are recorded and recovered by.
 */
export function loadSaga (name: string, definition: unknown, options?: LoadSagaOptions): Saga {
  return new Saga(name, definition, options)
}
