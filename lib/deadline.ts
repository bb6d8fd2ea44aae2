// A request's time budget. Lambda kills an invocation at its timeout and API Gateway then answers a bare
// 502 with no trace id; answering 504 a margin before that, and bounding downstream calls by the same
// instant, keeps every answer ours.
import type { Deadline } from './context.js'
import type { LambdaContextLike } from './lambda.js'

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
 * One timer for every deadline of an app instead of one per request: a request costs a Map entry, and the
 * timer ticks only while requests are in flight. An entry is seen due at most `tickMs` late, far inside
 * the margin kept from Lambda's own timeout.
 */
export class DeadlineWatch<K, V> {
  readonly #watched = new Map<K, V>()
  readonly #isDue: (key: K, now: number) => boolean
  readonly #onDue: (key: K, value: V) => void
  readonly #tickMs: number
  #timer: NodeJS.Timeout | undefined

  constructor (isDue: (key: K, now: number) => boolean, onDue: (key: K, value: V) => void, tickMs: number) {
    this.#isDue = isDue
    this.#onDue = onDue
    this.#tickMs = tickMs
  }

  watch (key: K, value: V): void {
    this.#watched.set(key, value)
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs).unref()
  }

  unwatch (key: K): void {
    this.#watched.delete(key)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #tick (): void {
    const now = Date.now()
    for (const [key, value] of this.#watched) {
      if (this.#isDue(key, now)) {
        this.#watched.delete(key)
        this.#onDue(key, value)
      }
    }
    if (this.#watched.size === 0) this.stop()
  }
}
