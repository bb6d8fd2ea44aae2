// The request context that code without the request object reads (saga steps, SDK middleware, helpers):
// `haloContext()` returns it inside a request and undefined outside one. The plugins store the Fastify
// request itself, which has every member below, so entering the context allocates nothing.
import { AsyncLocalStorage } from 'node:async_hooks'

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
  /** True once the deadline passed or the client left; reading it, unlike the signal, costs nothing. */
  readonly expired: boolean
}

export interface HaloContext {
  readonly correlationId: string
  readonly correlationIds: Record<string, string>
  readonly debugLogEnabled: boolean | null
  readonly log: HaloLogger
  readonly deadline: Deadline | null
  correlationHeaders (): Record<string, string>
  fetch (input: string | URL | Request, init?: RequestInit): Promise<Response>
}

export const requestContextStorage = new AsyncLocalStorage<HaloContext>()

/** The current request's context, or undefined outside any request. */
export function haloContext (): HaloContext | undefined {
  return requestContextStorage.getStore()
}
