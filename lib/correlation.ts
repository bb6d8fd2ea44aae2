// Correlation ids: one id follows a call across services. The rules live here, free of Fastify, so the
// server options (genReqId) and the plugin apply the very same ones.
import { uuidV4 } from './uuid.js'
import { eventRequestId, type LambdaInvocation } from './lambda.js'

export const CORRELATION_ID_HEADER = 'x-correlation-id'
export const CORRELATION_HEADER_PREFIX = 'x-correlation-'
export const CALL_CHAIN_LENGTH_HEADER = 'call-chain-length'
export const DEBUG_LOG_HEADER = 'debug-log-enabled'
export const MAX_CORRELATION_ID_LENGTH = 128
/** The member of a JSON payload (EventBridge detail, Kinesis data, Lambda and Step Functions input) that carries the correlation headers. */
export const CORRELATION_CONTEXT_FIELD = '__context__'
/** More x-correlation-* headers than this are not forwarded: a caller must not make us amplify headers. */
export const MAX_FORWARDED_CORRELATION_HEADERS = 32

/** Whether a header (or message attribute) is one that follows a call: x-correlation-*, call-chain-length, debug-log-enabled. */
export function isCorrelationHeader (name: string): boolean {
  return name.startsWith(CORRELATION_HEADER_PREFIX) || name === CALL_CHAIN_LENGTH_HEADER || name === DEBUG_LOG_HEADER
}

/**
 * Why a header value cannot be used as a correlation id, or undefined when it can. Values are kept to
 * printable ASCII so that they are safe in headers and log lines, and bounded so they cannot bloat either.
 */
export function correlationIdProblem (value: unknown): string | undefined {
  if (typeof value !== 'string') return value === undefined ? undefined : 'repeated header'
  if (value.length === 0) return 'empty'
  if (value.length > MAX_CORRELATION_ID_LENGTH) return `longer than ${MAX_CORRELATION_ID_LENGTH} characters`
  // A header sent twice arrives joined by commas (Node, API Gateway): neither of the two is the id.
  if (value.includes(',')) return 'repeated header'
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code < 0x20 || code > 0x7e) return 'characters outside printable ASCII'
  }
  return undefined
}

export interface CorrelationIdResolution {
  id: string
  /** Set when the incoming header was refused and replaced; the refused value itself is never kept. */
  rejected?: string
}

/**
 * The incoming header if usable; else the event's request id (API Gateway v1/v2, Function URL); else the
 * invocation's awsRequestId (ALB, other events); else a new UUID v4.
 */
export function resolveCorrelationId (headerValue: unknown, invocation: LambdaInvocation | undefined): CorrelationIdResolution {
  if (headerValue !== undefined) {
    const rejected = correlationIdProblem(headerValue)
    if (rejected === undefined) return { id: headerValue as string }
    return { id: fallbackCorrelationId(invocation), rejected }
  }
  return { id: fallbackCorrelationId(invocation) }
}

function fallbackCorrelationId (invocation: LambdaInvocation | undefined): string {
  if (invocation === undefined) return uuidV4()
  return eventRequestId(invocation.event) ?? invocation.context.awsRequestId
}

/**
 * The incoming `call-chain-length`: 0 when absent; its value when it is a decimal integer, however large (a
 * huge one is past any limit, never read as 0); undefined when it is anything else (`0x10`, `1e1`, `-1`).
 */
export function incomingCallChainLength (value: unknown): number | undefined {
  if (value === undefined) return 0
  return typeof value === 'string' && decimalInteger.test(value) ? Number(value) : undefined
}

const decimalInteger = /^[0-9]+$/

/**
 * The ids of this request, as forwarded downstream: every valid incoming x-correlation-* header, the
 * correlation id, and this hop's call-chain length (incoming + 1).
 */
export function collectCorrelationIds (
  headers: Record<string, string | string[] | undefined>,
  correlationId: string,
  callChainLength: number
): Record<string, string> {
  const ids: Record<string, string> = {}
  let forwarded = 0
  for (const name in headers) {
    if (name.startsWith(CORRELATION_HEADER_PREFIX) && name !== CORRELATION_ID_HEADER && forwarded < MAX_FORWARDED_CORRELATION_HEADERS) {
      const value = headers[name]
      if (correlationIdProblem(value) === undefined) {
        ids[name] = value as string
        forwarded++
      }
    }
  }
  ids[CORRELATION_ID_HEADER] = correlationId
  ids[CALL_CHAIN_LENGTH_HEADER] = String(callChainLength + 1)
  return ids
}
