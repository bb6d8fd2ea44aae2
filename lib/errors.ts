// Every error Halo raises is created here, so that codes, status codes and messages are listed once.
// Constructors follow @fastify/error: `new HALO_ERR_TIMEOUT(300)` has `code`, `statusCode` and a formatted
// message, and Fastify's error handling keeps both.
import createError from '@fastify/error'

/** The deadline passed before the route replied (504). Argument: the elapsed milliseconds. */
export const HALO_ERR_TIMEOUT = createError<'HALO_ERR_TIMEOUT', 504, [number]>(
  'HALO_ERR_TIMEOUT', 'The request did not complete within its deadline (%d ms)', 504)

/** The same idempotency key is being processed by another request (409). */
export const HALO_ERR_IDEMPOTENCY_IN_PROGRESS = createError<'HALO_ERR_IDEMPOTENCY_IN_PROGRESS', 409, []>(
  'HALO_ERR_IDEMPOTENCY_IN_PROGRESS', 'A request with this idempotency key is still in progress; retry later', 409)

/** The idempotency key was used before with another request body (422). */
export const HALO_ERR_IDEMPOTENCY_KEY_REUSED = createError<'HALO_ERR_IDEMPOTENCY_KEY_REUSED', 422, []>(
  'HALO_ERR_IDEMPOTENCY_KEY_REUSED', 'This idempotency key was already used with a different request', 422)

/** The idempotency key header is not a usable key (400). Argument: why. */
export const HALO_ERR_IDEMPOTENCY_KEY_INVALID = createError<'HALO_ERR_IDEMPOTENCY_KEY_INVALID', 400, [string]>(
  'HALO_ERR_IDEMPOTENCY_KEY_INVALID', 'Invalid idempotency-key header: %s', 400)

/** The idempotency store could not be reached (503). Argument: the store's error message. */
export const HALO_ERR_IDEMPOTENCY_STORE = createError<'HALO_ERR_IDEMPOTENCY_STORE', 503, [string]>(
  'HALO_ERR_IDEMPOTENCY_STORE', 'The idempotency store is unavailable: %s', 503)

/** The call chain is too long: services are probably calling each other in a loop (508). */
export const HALO_ERR_LOOP_DETECTED = createError<'HALO_ERR_LOOP_DETECTED', 508, [number, number]>(
  'HALO_ERR_LOOP_DETECTED', 'Call chain length %d reached the limit of %d; refusing a probable loop', 508)

/** Request validation failed (400); the answer lists `errors: [{ path, message }]`. */
export const HALO_ERR_VALIDATION = createError<'HALO_ERR_VALIDATION', 400, [string]>(
  'HALO_ERR_VALIDATION', '%s', 400)

/** No route matches the request (404). Argument: method and URL. */
export const HALO_ERR_NOT_FOUND = createError<'HALO_ERR_NOT_FOUND', 404, [string]>(
  'HALO_ERR_NOT_FOUND', 'Route %s not found', 404)

/** An error without a status of its own reached a client (500); its message is not shown. */
export const HALO_ERR_INTERNAL = createError<'HALO_ERR_INTERNAL', 500, []>(
  'HALO_ERR_INTERNAL', 'An internal error occurred; quote the traceId when reporting it', 500)

/** An SSM parameter does not exist. Argument: the parameter name. */
export const HALO_ERR_PARAM_NOT_FOUND = createError<'HALO_ERR_PARAM_NOT_FOUND', 500, [string]>(
  'HALO_ERR_PARAM_NOT_FOUND', 'Parameter %s not found', 500)

/** SSM could not be read (unreachable, access denied, throttled past retries). Arguments: the parameter(s), why, `{ cause }`. */
export const HALO_ERR_PARAM_UNAVAILABLE = createError<'HALO_ERR_PARAM_UNAVAILABLE', 503, [string, string, { cause: unknown }?]>(
  'HALO_ERR_PARAM_UNAVAILABLE', 'Parameter %s could not be read: %s', 503)

/** Configuration loaded from parameters is missing values or has invalid ones. Argument: the list. */
export const HALO_ERR_PARAM_INVALID = createError<'HALO_ERR_PARAM_INVALID', 500, [string]>(
  'HALO_ERR_PARAM_INVALID', 'Invalid configuration: %s', 500)

/** A saga definition is malformed. Argument: what is wrong, naming the state. */
export const HALO_ERR_SAGA_DEFINITION = createError<'HALO_ERR_SAGA_DEFINITION', 500, [string]>(
  'HALO_ERR_SAGA_DEFINITION', 'Invalid saga definition: %s', 500)

/**
 * A saga's log record is held by another run or recoverer, or a new saga's id is already taken (409): the
 * process that receives it has lost the saga and stops. Argument: the saga id.
 */
export const HALO_ERR_SAGA_CONFLICT = createError<'HALO_ERR_SAGA_CONFLICT', 409, [string]>(
  'HALO_ERR_SAGA_CONFLICT', 'Saga %s is held by another run or recoverer, or its id is taken', 409)

/** An event arrived from a source that `createLambdaHandler`'s `events` maps to no route. Argument: the source. */
export const HALO_ERR_EVENT_ROUTE = createError<'HALO_ERR_EVENT_ROUTE', 500, [string]>(
  'HALO_ERR_EVENT_ROUTE', 'No route for %s events: map the source to a route in createLambdaHandler options.events', 500)

/**
 * Records of an asynchronous invocation (SNS, EventBridge, S3) failed: thrown so that Lambda retries the
 * event and then sends it to its on-failure destination. Arguments: failed, total, source.
 */
export const HALO_ERR_RECORD_FAILED = createError<'HALO_ERR_RECORD_FAILED', 500, [number, number, string]>(
  'HALO_ERR_RECORD_FAILED', '%d of %d %s records failed', 500)

/** The saga log could not be read or written (503). Argument: the store's error message; `cause` is the SDK's error. */
export const HALO_ERR_SAGA_LOG = createError<'HALO_ERR_SAGA_LOG', 503, [string]>(
  'HALO_ERR_SAGA_LOG', 'The saga log is unavailable: %s', 503)

/**
 * A saga's record would outgrow what its log can store (500): a step whose result does not fit fails with
 * it, and its compensations run. Argument: what did not fit, and the sizes.
 */
export const HALO_ERR_SAGA_RECORD_TOO_LARGE = createError<'HALO_ERR_SAGA_RECORD_TOO_LARGE', 500, [string]>(
  'HALO_ERR_SAGA_RECORD_TOO_LARGE', 'The saga record would be too large for its log: %s', 500)

/** A plugin option is wrong; raised by `register`. Argument: the plugin, the option and why. */
export const HALO_ERR_OPTION = createError<'HALO_ERR_OPTION', 500, [string]>(
  'HALO_ERR_OPTION', '%s', 500)

/**
 * A Halo plugin was registered a second time on the same Fastify instance, directly or through the umbrella
 * plugin. Argument: the plugin's name.
 */
export const HALO_ERR_ALREADY_REGISTERED = createError<'HALO_ERR_ALREADY_REGISTERED', 500, [string]>(
  'HALO_ERR_ALREADY_REGISTERED', '%s is registered twice on this Fastify instance; register it once (fastify-halo registers every part)', 500)

/**
 * A Step Functions task invocation names a saga or state this app does not serve, or its answer could not
 * be made (500). Argument: what is wrong.
 */
export const HALO_ERR_SAGA_TASK = createError<'HALO_ERR_SAGA_TASK', 500, [string]>(
  'HALO_ERR_SAGA_TASK', '%s', 500)

/** What both saga failures carry: the saga, the state that failed and why; both are answered 500. */
abstract class SagaFailure extends Error {
  readonly statusCode = 500
  readonly sagaId: string
  readonly failedState: string
  override readonly cause: unknown

  constructor (message: string, sagaId: string, failedState: string, cause: unknown) {
    super(message)
    this.sagaId = sagaId
    this.failedState = failedState
    this.cause = cause
  }
}

/** A saga failed and every compensation succeeded: the transaction was rolled back (500). */
export class SagaRollback extends SagaFailure {
  readonly code = 'HALO_ERR_SAGA_ROLLBACK'
  override readonly name = 'SagaRollback'
  readonly compensated: string[]

  constructor (sagaId: string, failedState: string, cause: unknown, compensated: string[]) {
    super(`Saga ${sagaId} rolled back: state ${failedState} failed (${errorMessage(cause)}); compensated ${compensated.join(', ') || 'nothing'}`, sagaId, failedState, cause)
    this.compensated = compensated
  }

  /** Members of its problem+json answer: the client learns which saga failed where, and what was undone. */
  problemExtensions (): Record<string, unknown> {
    return { sagaId: this.sagaId, failedState: this.failedState, compensated: this.compensated }
  }
}

/** A saga failed and at least one compensation still failed after its retries: an operator must act (500). */
export class SagaError extends SagaFailure {
  readonly code = 'HALO_ERR_SAGA_COMPENSATION'
  override readonly name = 'SagaError'
  readonly compensationErrors: Record<string, unknown>
  readonly pending: string[]

  constructor (sagaId: string, failedState: string, cause: unknown, compensationErrors: Record<string, unknown>, pending: string[]) {
    super(`Saga ${sagaId} failed at ${failedState} (${errorMessage(cause)}) and compensations are pending: ${pending.join(', ')}`, sagaId, failedState, cause)
    this.compensationErrors = compensationErrors
    this.pending = pending
  }

  /** Members of its problem+json answer: the saga, where it failed, and the compensations still owed. */
  problemExtensions (): Record<string, unknown> {
    return { sagaId: this.sagaId, failedState: this.failedState, pending: this.pending }
  }
}

/** Every Halo error code and the constructor of its errors, as Fastify's `errorCodes` lists its own. */
export const errorCodes = {
  HALO_ERR_TIMEOUT,
  HALO_ERR_IDEMPOTENCY_IN_PROGRESS,
  HALO_ERR_IDEMPOTENCY_KEY_REUSED,
  HALO_ERR_IDEMPOTENCY_KEY_INVALID,
  HALO_ERR_IDEMPOTENCY_STORE,
  HALO_ERR_LOOP_DETECTED,
  HALO_ERR_VALIDATION,
  HALO_ERR_NOT_FOUND,
  HALO_ERR_INTERNAL,
  HALO_ERR_PARAM_NOT_FOUND,
  HALO_ERR_PARAM_INVALID,
  HALO_ERR_PARAM_UNAVAILABLE,
  HALO_ERR_SAGA_DEFINITION,
  HALO_ERR_SAGA_CONFLICT,
  HALO_ERR_SAGA_TASK,
  HALO_ERR_EVENT_ROUTE,
  HALO_ERR_RECORD_FAILED,
  HALO_ERR_SAGA_ROLLBACK: SagaRollback,
  HALO_ERR_SAGA_COMPENSATION: SagaError,

  HALO_ERR_SAGA_LOG,
  HALO_ERR_SAGA_RECORD_TOO_LARGE,
  HALO_ERR_OPTION,
  HALO_ERR_ALREADY_REGISTERED
}

/** The message of anything thrown, for log lines and wrapped errors. */
export function errorMessage (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
