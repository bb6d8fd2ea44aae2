// RFC 9457 problem details: every error a client sees has the same shape and tells it the trace id to
// quote. Internal messages and stacks stay in the logs unless the service chooses to expose them.
import { STATUS_CODES } from './builtins.js'
import { HALO_ERR_INTERNAL, HALO_ERR_VALIDATION } from './errors.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  code: string
  traceId: string
  errors?: Array<{ path: string, message: string }>
  [extension: string]: unknown
}

/** What Halo reads of a thrown value: Fastify and @fastify/error errors, Ajv validation results, anything. */
export interface ErrorLike {
  message?: string
  statusCode?: number
  status?: number
  code?: string
  validation?: Array<{ instancePath?: string, message?: string, params?: Record<string, unknown> }>
  validationContext?: string
  /** Extra members a Halo error wants in its problem body (e.g. a saga's failedState). */
  problemExtensions?: () => Record<string, unknown>
}

export function problemStatus (error: ErrorLike): number {
  const status = error.statusCode ?? error.status
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500
}

/**
 * The problem body for an error. 4xx details are the error's own message (they describe the client's
 * mistake); a 5xx detail is generic unless `exposeErrors`, and a 5xx without a code of its own gets
 * HALO_ERR_INTERNAL so that a driver's code (ECONNREFUSED…) says nothing about the internals either.
 */
export function toProblem (error: ErrorLike, traceId: string, exposeErrors: boolean): ProblemDetails {
  const status = problemStatus(error)
  if (error.validation !== undefined) {
    const validation = new HALO_ERR_VALIDATION(error.message ?? 'Request validation failed')
    return {
      type: problemType(validation.code),
      title: STATUS_CODES[400] as string,
      status: 400,
      detail: validation.message,
      code: validation.code,
      traceId,
      errors: error.validation.map((issue) => ({ path: validationPath(error.validationContext, issue), message: issue.message ?? 'is invalid' }))
    }
  }
  // A 5xx that did not set its own status and code is an accident, not an answer: say nothing about it.
  const internal = status >= 500 && (typeof error.code !== 'string' || (error.statusCode ?? error.status) !== status)
  const shown = internal ? new HALO_ERR_INTERNAL() : undefined
  const code = shown?.code ?? (typeof error.code === 'string' ? error.code : `HTTP_${status}`)
  const title = STATUS_CODES[status] ?? 'Error'
  const detail = status < 500 || exposeErrors ? (error.message ?? title) : shown?.message ?? title
  const problem: ProblemDetails = {
    type: problemType(code),
    title,
    status,
    detail,
    code,
    traceId
  }
  if (error.problemExtensions !== undefined) Object.assign(problem, error.problemExtensions())
  return problem
}

function problemType (code: string): string {
  return `urn:fastify-halo:problem:${code}`
}

function validationPath (context: string | undefined, issue: { instancePath?: string, params?: Record<string, unknown> }): string {
  const missing = issue.params?.missingProperty
  const pointer = (issue.instancePath ?? '') + (typeof missing === 'string' ? `/${missing}` : '')
  return `${context ?? 'body'}${pointer === '' ? '' : pointer}`
}
