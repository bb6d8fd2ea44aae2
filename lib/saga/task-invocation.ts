// The shape of a Step Functions Task's invocation of the app's function, told apart from HTTP and event
// invocations. Kept free of the saga engine, so that the Lambda handler recognises one without loading it.
import { CALL_CHAIN_LENGTH_HEADER, CORRELATION_HEADER_PREFIX, DEBUG_LOG_HEADER } from '../correlation.js'

/** The execution's data: the payloads, the correlation headers, Halo's bookkeeping and the results so far. */
export interface SagaExecutionData {
  payloads: Record<string, unknown>
  __context__: Record<string, string>
  __halo__: {
    /** The run's `context` option. */
    context?: unknown
    /** JSON of what a rollback came to, for the Fail state's cause (a string at a path). */
    rollback: string
    /** A caught error, when its Catch had no ResultPath of its own. */
    error?: unknown
  }
  [result: string]: unknown
}

/** What a task invocation's payload holds (the Task's `Parameters.Payload`). */
export interface SagaTaskInvocation {
  __halo__: { saga: string, state: string, executionId: string, retryCount?: number }
  __context__?: Record<string, unknown>
  input: SagaExecutionData
}

/** Whether a direct invocation's event is a Task of an exported saga. */
export function isSagaTaskInvocation (event: unknown): event is SagaTaskInvocation {
  const halo = (event as { __halo__?: { saga?: unknown, state?: unknown, executionId?: unknown } } | null)?.__halo__
  const input = (event as { input?: unknown } | null)?.input
  return typeof halo?.saga === 'string' && typeof halo.state === 'string' && typeof halo.executionId === 'string' &&
    typeof input === 'object' && input !== null
}

/** The correlation headers a task carries in `__context__`, as its request's incoming headers. */
export function taskHeaders (invocation: SagaTaskInvocation): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(invocation.__context__ ?? {})) {
    const header = name.toLowerCase()
    if (typeof value === 'string' && (header.startsWith(CORRELATION_HEADER_PREFIX) || header === CALL_CHAIN_LENGTH_HEADER || header === DEBUG_LOG_HEADER)) {
      headers[header] = value
    }
  }
  return headers
}
