// Key derivation for idempotent requests. Everything is hashed: the store never sees a caller's
// credentials or a request body, only fixed-length hex digests of them.
import { hash } from '../builtins.js'

/** md5 is the default (the original Halo's, and ample against accidental collisions); sha256 on request. */
export type HashAlgorithm = 'md5' | 'sha256'

/** What identifies one idempotent operation. */
export interface IdempotencyKeyParts {
  /** The service that owns the record, so that services sharing a table never answer with each other's. */
  namespace: string
  /** The caller: see `callerScope`, or what the app's `scope` function returned. */
  scope: string
  /** The HTTP method, e.g. 'POST'. */
  method: string
  /** The route pattern, e.g. '/orders/:id'. */
  route: string
  /** The key material: the `idempotency-key` header, a canonical body, or what a key function returned. */
  key: string | Uint8Array
}

/** The credentials a request may carry in its headers (Node joins a repeated header, set-cookie aside). */
export interface CallerHeaders {
  readonly authorization?: string
  readonly 'x-api-key'?: string | string[]
  readonly cookie?: string
}

type Claims = Record<string, unknown> | undefined
interface AuthorizedEvent {
  requestContext?: {
    authorizer?: {
      principalId?: unknown
      claims?: Claims
      jwt?: { claims?: Claims }
      iam?: { userArn?: unknown }
    }
    identity?: { userArn?: unknown }
  }
}

/**
 * Who the caller is, so that one caller never receives another's answer: the `authorization`, `x-api-key`
 * and `cookie` headers and, on Lambda, the principal API Gateway's authorizer vouched for: a JWT's or
 * Cognito's `sub` (HTTP API `authorizer.jwt.claims`, REST `authorizer.claims`), a Lambda authorizer's
 * `principalId`, an IAM caller's user ARN (HTTP API `authorizer.iam`, REST `identity`). Each member is
 * length-prefixed, so that no value can pose as two.
 */
export function callerScope (headers: CallerHeaders, lambdaEvent?: unknown): string {
  const apiKey = headers['x-api-key']
  let scope = part(headers.authorization) + part(Array.isArray(apiKey) ? apiKey.join(', ') : apiKey) + part(headers.cookie)
  const requestContext = (lambdaEvent as AuthorizedEvent | null | undefined)?.requestContext
  if (requestContext !== undefined) {
    const authorizer = requestContext.authorizer
    scope += part(authorizer?.jwt?.claims?.sub) + part(authorizer?.claims?.sub) + part(authorizer?.principalId) +
      part(authorizer?.iam?.userArn) + part(requestContext.identity?.userArn)
  }
  return scope
}

/** One scope member, length-prefixed; absent (or not text) is empty. */
function part (value: unknown): string {
  const text = typeof value === 'string' ? value : ''
  return `${text.length}:${text}`
}

/** Text written between values, and the end of a container (which leaves the set of open ones). */
class Punctuation {
  constructor (readonly text: string, readonly closes?: object) {}
}
const COMMA = new Punctuation(',')

/**
 * JSON text of a value with the keys of every object sorted, so that two values differing only in key order
 * give the same text. Otherwise as `JSON.stringify` (toJSON honoured, undefined members dropped, a cycle a
 * TypeError), and '' for a value JSON cannot represent at all (undefined, a function). It walks an explicit
 * stack, not the call stack: a client's body nested 100 000 levels deep is hashed like any other.
 */
export function canonicalJson (value: unknown): string {
  const root = jsonValue(value)
  if (omitted(root)) return ''
  const open = new Set<object>()
  const pending: unknown[] = [root]
  let text = ''
  while (pending.length > 0) {
    const item = pending.pop()
    if (item instanceof Punctuation) {
      text += item.text
      if (item.closes !== undefined) open.delete(item.closes)
    } else if (item === null || typeof item !== 'object' || item instanceof Number || item instanceof String || item instanceof Boolean) {
      // Only array elements reach here unrepresentable, and JSON writes those as null.
      text += JSON.stringify(item) ?? 'null'
    } else {
      if (open.has(item)) throw new TypeError('Converting circular structure to JSON')
      open.add(item)
      if (Array.isArray(item)) {
        text += '['
        pending.push(new Punctuation(']', item))
        for (let index = item.length - 1; index >= 0; index--) {
          pending.push(jsonValue(item[index]))
          if (index > 0) pending.push(COMMA)
        }
      } else {
        text += '{'
        pending.push(new Punctuation('}', item))
        const keys = Object.keys(item).sort()
        let first = true
        for (let index = keys.length - 1; index >= 0; index--) {
          const member = jsonValue((item as Record<string, unknown>)[keys[index]])
          if (omitted(member)) continue
          if (!first) pending.push(COMMA)
          pending.push(member, new Punctuation(JSON.stringify(keys[index]) + ':'))
          first = false
        }
      }
    }
  }
  return text
}

/** What JSON writes for a value: its toJSON() result when it has one. */
function jsonValue (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  const { toJSON } = value as { toJSON?: unknown }
  return typeof toJSON === 'function' ? toJSON.call(value) : value
}

function omitted (value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol'
}

/**
 * Hex digest of a list of parts. Each part is length-prefixed, so ['ab', 'c'] and ['a', 'bc'] differ. The
 * material is hashed in one call: a Hash object per digest costs more than the digest of a short key.
 */
export function hashKey (parts: ReadonlyArray<string | Uint8Array>, algorithm: HashAlgorithm): string {
  let text = ''
  for (const part of parts) {
    if (typeof part !== 'string') return hash(algorithm, lengthPrefixed(parts), 'hex')
    text += `${Buffer.byteLength(part)}:${part}`
  }
  return hash(algorithm, text, 'hex')
}

function lengthPrefixed (parts: ReadonlyArray<string | Uint8Array>): Buffer {
  return Buffer.concat(parts.flatMap((part) => [Buffer.from(`${Buffer.byteLength(part)}:`), typeof part === 'string' ? Buffer.from(part) : part]))
}

/**
 * The id of an operation's record: a digest of namespace, caller scope, method, route and key material, so
 * that two callers (or two services) using the same key never share a record.
 */
export function idempotencyRecordId (parts: IdempotencyKeyParts, algorithm: HashAlgorithm): string {
  return hashKey([parts.namespace, parts.scope, parts.method, parts.route, parts.key], algorithm)
}

/**
 * The fingerprint of a request body, stored with the record to detect a key reused with another body:
 * a Buffer or string body is hashed as it is, anything else (a parsed JSON body) as its canonical JSON.
 */
export function payloadFingerprint (body: unknown, algorithm: HashAlgorithm): string {
  const material = typeof body === 'string' || Buffer.isBuffer(body) ? body : canonicalJson(body)
  return hashKey([material], algorithm)
}
