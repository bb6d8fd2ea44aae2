// The outgoing HTTP client of a request: `fetch` with the correlation headers, bounded by the request's
// deadline, retrying what is safe to retry. A downstream call must never outlive the answer it serves.
import { sleep } from './builtins.js'
import type { Deadline } from './context.js'

export interface FetchPolicy {
  /** Attempts in all, the first included. Default 3. */
  attempts: number
  /** The longest one attempt may take, whatever the deadline leaves. Default 10 000 ms. */
  perAttemptMs: number
  /** First backoff step; doubled per retry, with full jitter. Default 100 ms. */
  baseDelayMs: number
  /** The longest wait between attempts. Default 2 000 ms. */
  maxDelayMs: number
}

export const DEFAULT_FETCH_POLICY: Readonly<FetchPolicy> = Object.freeze({
  attempts: 3,
  perAttemptMs: 10_000,
  baseDelayMs: 100,
  maxDelayMs: 2_000
})

export interface FetchCaller {
  correlationHeaders (): Record<string, string>
  readonly deadline: Deadline
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])
/** An attempt is not started with less time than this left: it could not get an answer anyway. */
const MIN_ATTEMPT_MS = 10

/**
 * `fetch` with the caller's correlation headers (the caller's own headers win), each attempt bounded by
 * min(time left, perAttemptMs), and retries with exponential backoff and jitter on network errors, 5xx
 * and 429 (honouring `retry-after` when it fits) for idempotent methods or requests with an
 * `idempotency-key`. The caller's `signal` still aborts everything.
 */
export async function boundedFetch (
  caller: FetchCaller,
  input: string | URL | Request,
  init: RequestInit | undefined,
  policy: FetchPolicy
): Promise<Response> {
  const isRequest = input instanceof Request
  const headers = new Headers(init?.headers ?? (isRequest ? input.headers : undefined))
  const forwarded = caller.correlationHeaders()
  for (const name in forwarded) {
    if (!headers.has(name)) headers.set(name, forwarded[name] as string)
  }
  const method = (init?.method ?? (isRequest ? input.method : 'GET')).toUpperCase()
  // A Request's body is a stream that can be read once; a retry could not send it again.
  const replayable = !(isRequest && input.body !== null) && !(init?.body instanceof ReadableStream)
  const retryable = replayable && (IDEMPOTENT_METHODS.has(method) || headers.has('idempotency-key'))
  const attempts = retryable ? policy.attempts : 1
  const callerSignal = init?.signal ?? (isRequest ? input.signal : undefined)
  const deadline = caller.deadline
  const send = (): Promise<Response> => fetch(input, { ...init, method, headers, signal: attemptSignal(policy, deadline, callerSignal) })

  for (let attempt = 1; attempt < attempts; attempt++) {
    let response: Response
    try {
      response = await send()
    } catch (error) {
      const delay = backoffMs(policy, attempt)
      // A retry that cannot finish before the deadline is not started; the caller gets the failure.
      if (callerSignal?.aborted === true || !fitsBeforeDeadline(delay, deadline)) throw error
      await waitBeforeRetry(delay, deadline, callerSignal)
      continue
    }
    if (response.status < 500 && response.status !== 429) return response
    const delay = retryAfterMs(response.headers.get('retry-after')) ?? backoffMs(policy, attempt)
    if (!fitsBeforeDeadline(delay, deadline)) return response
    await response.body?.cancel()
    await waitBeforeRetry(delay, deadline, callerSignal)
  }
  return await send()
}

/**
 * The attempt ends at perAttemptMs, at the deadline, or when the caller aborts, whichever comes first. When
 * the deadline comes first its own signal cuts the attempt: it aborts just as the 504 goes out, so the
 * route's failure cannot overtake the timeout answer.
 */
function attemptSignal (policy: FetchPolicy, deadline: Deadline, callerSignal: AbortSignal | null | undefined): AbortSignal {
  const signals = deadline.remaining() > policy.perAttemptMs ? [AbortSignal.timeout(policy.perAttemptMs), deadline.signal] : [deadline.signal]
  if (callerSignal != null) signals.push(callerSignal)
  return AbortSignal.any(signals)
}

function backoffMs (policy: FetchPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.floor(Math.random() * cap)
}

/** `retry-after` in seconds or as an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs (value: string | null): number | undefined {
  if (value === null) return undefined
  const seconds = Number(value)
  if (value.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

function fitsBeforeDeadline (delayMs: number, deadline: Deadline): boolean {
  return delayMs + MIN_ATTEMPT_MS < deadline.remaining()
}

async function waitBeforeRetry (delayMs: number, deadline: Deadline, callerSignal: AbortSignal | null | undefined): Promise<void> {
  await sleep(delayMs, undefined, { signal: callerSignal == null ? deadline.signal : AbortSignal.any([deadline.signal, callerSignal]) })
}
