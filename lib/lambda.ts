// The Lambda invocation being served, for the code that runs inside it: the correlation id falls back to
// the event's request id, log lines carry the function's fields, and the deadline counts down from the
// context's remaining time. Locally there is no invocation and every reader gets undefined.
import { AsyncLocalStorage } from './builtins.js'
import type { EventSourceName } from './event-sources.js'

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
  /** The record's own id, on the lines of a request that serves a queue, topic, stream or bus record. */
  recordId?: string
}

/** The record a request serves, when the invocation hands records to routes. */
export interface InvocationRecord {
  readonly source: EventSourceName
  readonly record: unknown
  readonly id: string
}

export interface LambdaInvocation {
  readonly event: unknown
  readonly context: LambdaContextLike
  readonly coldStart: boolean
  readonly logFields: LambdaLogFields
  /** Set while one record of the event goes through its route. */
  readonly record?: InvocationRecord
  /** Routes that serve records only: an HTTP event addressed to one gets 404. */
  readonly eventRoutes?: ReadonlySet<string>
}

export const lambdaInvocationStorage = new AsyncLocalStorage<LambdaInvocation>()

// Locally no invocation ever starts: every request's readers then skip the storage lookup, which costs
// more than its share while async hooks are on.
let invocationStarted = false

export function currentInvocation (): LambdaInvocation | undefined {
  return invocationStarted ? lambdaInvocationStorage.getStore() : undefined
}

export function createInvocation (event: unknown, context: LambdaContextLike, coldStart: boolean, eventRoutes?: ReadonlySet<string>): LambdaInvocation {
  invocationStarted = true
  // Written out, as in recordInvocation, so that every invocation the hooks read has one shape.
  return {
    event,
    context,
    coldStart,
    eventRoutes,
    record: undefined,
    logFields: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      coldStart
    }
  }
}

/**
 * The invocation as one of its records sees it: the same context and deadline, with the record on every log
 * line. Made once per record: the members are written out rather than spread, which costs a record less.
 */
export function recordInvocation (invocation: LambdaInvocation, record: InvocationRecord): LambdaInvocation {
  const { logFields } = invocation
  return {
    event: invocation.event,
    context: invocation.context,
    coldStart: invocation.coldStart,
    eventRoutes: invocation.eventRoutes,
    record,
    logFields: {
      awsRequestId: logFields.awsRequestId,
      functionName: logFields.functionName,
      functionVersion: logFields.functionVersion,
      coldStart: logFields.coldStart,
      recordId: record.id
    }
  }
}

/** `requestContext.requestId` of API Gateway v1/v2 and Function URL events; undefined for ALB and others. */
export function eventRequestId (event: unknown): string | undefined {
  const requestContext = (event as { requestContext?: { requestId?: unknown } } | null)?.requestContext
  const requestId = requestContext?.requestId
  return typeof requestId === 'string' && requestId.length > 0 ? requestId : undefined
}
