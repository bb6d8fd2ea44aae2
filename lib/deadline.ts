// A request's time budget. Lambda kills an invocation at its timeout and API Gateway then answers a bare
// 502 with no trace id; answering 504 a margin before that, and bounding downstream calls by the same
// instant, keeps every answer ours.
import type { Deadline } from './context.js'
import type { LambdaContextLike } from './lambda.js'

/** API Gateway's limit on an integration: the budget of a request that has no other (README: `timeout.defaultMs`). */
export const API_GATEWAY_LIMIT_MS = 29_000
/** What is kept back from Lambda's remaining time when no `timeout.marginMs` says otherwise. */
export const DEFAULT_MARGIN_MS = 500

/**
 * The milliseconds a request may take: on Lambda the remaining time less the margin (and no more than the
 * route's own timeout); locally the route's timeout, else the default.
 */
export function budgetMs (lambdaContext: LambdaContextLike | undefined, routeTimeoutMs: number | undefined, defaultMs: number, marginMs: number): number {
  if (lambdaContext === undefined) return routeTimeoutMs ?? defaultMs
  const lambdaBudget = lambdaContext.getRemainingTimeInMillis() - marginMs
  return routeTimeoutMs === undefined ? lambdaBudget : Math.min(routeTimeoutMs, lambdaBudget)
}

/**
 * A deadline whose AbortController exists only once someone asks for the signal: most requests finish
 * without ever reading it, and those pay for no controller.
 */
export class RequestDeadline implements Deadline {
  readonly at: number
  readonly startedAt: number
  /**
   * Set once the request's answer entered the send pipeline (its onSend hooks run): a deadline passing after
   * that must not send a second answer.
   */
  answerUnderWay = false
  private controller: AbortController | undefined
  private reason: Error | undefined

  constructor (startedAt: number, budget: number) {
    this.startedAt = startedAt
    this.at = startedAt + budget
  }

  remaining (): number {
    return Math.max(0, this.at - Date.now())
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  get expired (): boolean {
    return this.reason !== undefined
  }

  /** Marks the deadline as passed (or the request as gone) and aborts the signal with `reason`. */
  expire (reason: Error): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.controller?.abort(reason)
  }
}

/**
 * The deadline of a request the timeout part does not answer (the part is off, app-wide or for its route):
 * on Lambda it counts down the invocation's remaining time less the margin and its signal aborts then, for
 * the work that heeds it; locally it never passes. Nothing is answered when it passes, so `expired` stays
 * false: a reader that leaves the answer to an expired deadline (the idempotency part) must not wait for one.
 */
export class PassiveDeadline implements Deadline {
  readonly at: number
  readonly expired = false
  private ownSignal: AbortSignal | undefined

  constructor (at: number) {
    this.at = at
  }

  remaining (): number {
    return Math.max(0, this.at - Date.now())
  }

  get signal (): AbortSignal {
    // Made on first use, one per request: a signal shared by every request would keep their listeners.
    // AbortSignal.timeout's timer holds no process open.
    this.ownSignal ??= this.at === Infinity ? new AbortController().signal : AbortSignal.timeout(this.remaining())
    return this.ownSignal
  }
}

/** A passive deadline: on Lambda the remaining time less `marginMs` from now, locally none. */
export function passiveDeadline (lambdaContext: LambdaContextLike | undefined, marginMs: number): PassiveDeadline {
  if (lambdaContext === undefined) return new PassiveDeadline(Infinity)
  return new PassiveDeadline(Date.now() + Math.max(0, lambdaContext.getRemainingTimeInMillis() - marginMs))
}

/**
 * One timer for every deadline of an app instead of one per request: a request costs an array slot, and
 * the timer ticks only while requests are in flight. On each tick `stillWatched` settles every entry: it
 * answers what is due, and says which entries need watching on. Finished requests leave on the next tick,
 * so a request pays for no hook at its end. An entry is seen due at most `tickMs` late, far inside the
 * margin kept from Lambda's own timeout.
 */
export class DeadlineWatch<K> {
  #watched: K[] = []
  readonly #stillWatched: (key: K, now: number) => boolean
  readonly #tickMs: number
  #timer: NodeJS.Timeout | undefined

  constructor (stillWatched: (key: K, now: number) => boolean, tickMs: number) {
    this.#stillWatched = stillWatched
    this.#tickMs = tickMs
  }

  watch (key: K): void {
    this.#watched.push(key)
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs).unref()
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#watched = []
  }

  #tick (): void {
    const now = Date.now()
    const watched = this.#watched
    // A fresh array: what settling an entry sets off may watch new keys meanwhile.
    this.#watched = []
    for (const key of watched) {
      if (this.#stillWatched(key, now)) this.#watched.push(key)
    }
    if (this.#watched.length === 0) this.stop()
  }
}
