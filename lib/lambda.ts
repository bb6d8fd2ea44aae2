// The Lambda invocation being served, for the code that runs inside it: the correlation id falls back to
// the event's request id, log lines carry the function's fields, and the deadline counts down from the
// context's remaining time. Locally there is no invocation and every reader gets undefined.
import { AsyncLocalStorage } from 'node:async_hooks'

/** The parts of the Lambda context object that Halo reads. */
export interface LambdaContextLike {
  awsRequestId: string
  functionName: string
  functionVersion: string
  getRemainingTimeInMillis (): number
  callbackWaitsForEmptyEventLoop?: boolean
}

/** Fields added to every log line of a request served on Lambda. */
export interface LambdaLogFields {
  awsRequestId: string
  functionName: string
  functionVersion: string
  coldStart: boolean
}

export interface LambdaInvocation {
  readonly event: unknown
  readonly context: LambdaContextLike
  readonly coldStart: boolean
  readonly logFields: LambdaLogFields
}

export const lambdaInvocationStorage = new AsyncLocalStorage<LambdaInvocation>()

// Locally no invocation ever starts: every request's readers then skip the storage lookup, which costs
// more than its share while async hooks are on.
let invocationStarted = false

export function currentInvocation (): LambdaInvocation | undefined {
  return invocationStarted ? lambdaInvocationStorage.getStore() : undefined
}

export function createInvocation (event: unknown, context: LambdaContextLike, coldStart: boolean): LambdaInvocation {
  invocationStarted = true
  return {
    event,
    context,
    coldStart,
    logFields: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      coldStart
    }
  }
}

/** `requestContext.requestId` of API Gateway v1/v2 and Function URL events; undefined for ALB and others. */
export function eventRequestId (event: unknown): string | undefined {
  const requestContext = (event as { requestContext?: { requestId?: unknown } } | null)?.requestContext
  const requestId = requestContext?.requestId
  return typeof requestId === 'string' && requestId.length > 0 ? requestId : undefined
}
