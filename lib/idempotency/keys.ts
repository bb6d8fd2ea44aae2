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
  // Most members are absent on most requests: their part is one constant, not a new string each time.
  if (typeof value !== 'string' || value === '') return '0:'
  return `${value.length}:${value}`
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
  return shallowCanonicalJson(root, SHALLOW_DEPTH) ?? deepCanonicalJson(root)
}

/** How deep a body is written by recursion, the quick way: a typical body is a few levels deep. */
const SHALLOW_DEPTH = 32

/**
 * Canonical JSON text of `value` (its toJSON already applied, and representable) when no deeper than `depth`,
 * else null (a cycle is too deep as well). It writes straight into the text, where the explicit stack below
 * allocates an entry per member and a set of open containers.
 */
function shallowCanonicalJson (value: unknown, depth: number): string | null {
  if (value === null || typeof value !== 'object' || value instanceof Number || value instanceof String || value instanceof Boolean) {
    return JSON.stringify(value)
  }
  if (depth === 0) return null
  if (Array.isArray(value)) {
    let text = '['
    for (let index = 0; index < value.length; index++) {
      const element = jsonValue(value[index])
      // JSON writes an unrepresentable element as null.
      const elementText = omitted(element) ? 'null' : shallowCanonicalJson(element, depth - 1)
      if (elementText === null) return null
      text += index === 0 ? elementText : `,${elementText}`
    }
    return `${text}]`
  }
  let text = ''
  for (const key of sortedKeys(value)) {
    const member = jsonValue((value as Record<string, unknown>)[key])
    if (omitted(member)) continue
    const memberText = shallowCanonicalJson(member, depth - 1)
    if (memberText === null) return null
    text += `${text === '' ? '' : ','}${JSON.stringify(key)}:${memberText}`
  }
  return `{${text}}`
}

/**
 * The own enumerable keys in code-unit order, as `sort()` gives them. A body's objects have a few keys, and
 * `sort()` allocates its work space even for two: a few keys are sorted by insertion, in place.
 */
function sortedKeys (value: object): string[] {
  const keys = Object.keys(value)
  if (keys.length > INSERTION_SORT_MAX) return keys.sort()
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]
    let at = index
    for (; at > 0 && keys[at - 1] > key; at--) keys[at] = keys[at - 1]
    keys[at] = key
  }
  return keys
}
const INSERTION_SORT_MAX = 16

/** canonicalJson for a value of any depth: an explicit stack, not the call stack. */
function deepCanonicalJson (root: unknown): string {
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
        const keys = sortedKeys(item)
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
 * The fingerprint of a request, stored with the record to detect a key reused for another request: a digest of
 * its URL and body, a Buffer or string body as it is, anything else (a parsed JSON body) as its canonical JSON.
 */
export function requestFingerprint (url: string, body: unknown, algorithm: HashAlgorithm): string {
  const material = typeof body === 'string' || Buffer.isBuffer(body) ? body : canonicalJson(body)
  return hashKey([url, material], algorithm)
}
