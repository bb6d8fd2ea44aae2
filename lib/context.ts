// The request context that code without the request object reads (saga steps, SDK middleware, helpers):
// `haloContext()` returns it inside a request and undefined outside one. The plugins store the Fastify
// request itself, which has every member below, so entering the context allocates nothing.
import { AsyncLocalStorage } from './builtins.js'

/** Log methods as pino and Fastify's request logger have them. */
export interface HaloLogFn {
  (msg: string): void
  (obj: object, msg?: string): void
}

export interface HaloLogger {
  level: string
  trace: HaloLogFn
  debug: HaloLogFn
  info: HaloLogFn
  warn: HaloLogFn
  error: HaloLogFn
  fatal: HaloLogFn
  isLevelEnabled?: (level: string) => boolean
}

/** The time budget of a request: an epoch-ms instant, the milliseconds left, and a signal that aborts then. */
export interface Deadline {
  readonly at: number
  remaining (): number
  readonly signal: AbortSignal
  /**
   * True once the timeout part's deadline passed (it answered 504) or the client left; always false for a
   * deadline that answers nothing. Reading it, unlike the signal, costs nothing.
   */
  readonly expired: boolean
}

/** What Halo adds to every request: the Fastify request augmentation is built from this. */
export interface HaloRequestFields {
  /** This request's correlation id: also its `request.id`, its log lines' `correlationId` and its answers' `x-correlation-id`. */
  correlationId: string
  /** Every id to forward: incoming `x-correlation-*` headers, `x-correlation-id`, `call-chain-length`, `debug-log-enabled`. */
  correlationIds: Record<string, string>
  /** Whether this request logs at debug: the incoming `debug-log-enabled` header, else a sampled roll. */
  debugLogEnabled: boolean | null
  /**
   * The request's time budget, never null. Set by `timeoutPlugin`; with that part off (app-wide or for the
   * route) it answers nothing, and counts down Lambda's remaining time less the margin (locally, never passes).
   */
  readonly deadline: Deadline
  /** A fresh copy of the headers to send downstream. */
  correlationHeaders (): Record<string, string>
  /** `fetch` with the correlation headers, bounded by the deadline, retrying what is safe to retry. */
  fetch (input: string | URL | Request, init?: RequestInit): Promise<Response>
}

/** The current request as code without the request object sees it: its Halo fields and its logger. */
export interface HaloContext extends Readonly<HaloRequestFields> {
  readonly log: HaloLogger
}

export const requestContextStorage = new AsyncLocalStorage<HaloContext>()

/** The current request's context, or undefined outside any request. */
export function haloContext (): HaloContext | undefined {
  return requestContextStorage.getStore()
}
