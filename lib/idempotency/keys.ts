// Key derivation for idempotent requests. Everything is hashed: the store never sees a caller's
// `authorization` header or a request body, only fixed-length hex digests of them.
import { hash } from 'node:crypto'

/** md5 is the default (the original Halo's, and ample against accidental collisions); sha256 on request. */
export type HashAlgorithm = 'md5' | 'sha256'

/** What identifies one idempotent operation. */
export interface IdempotencyKeyParts {
  /** The service that owns the record, so that services sharing a table never answer with each other's. */
  namespace: string
  /** The caller: its `authorization` header value, or '' when it sends none. */
  scope: string
  /** The HTTP method, e.g. 'POST'. */
  method: string
  /** The route pattern, e.g. '/orders/:id'. */
  route: string
  /** The key material: the `idempotency-key` header, a canonical body, or what a key function returned. */
  key: string | Uint8Array
}

/**
 * JSON text of a value with the keys of every object sorted, so that two values differing only in key order
 * give the same text. Otherwise as `JSON.stringify` (toJSON honoured, undefined members dropped), and ''
 * for a value JSON cannot represent at all (undefined, a function).
 */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? ''
}

function sortKeys (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  const { toJSON } = value as { toJSON?: unknown }
  if (typeof toJSON === 'function') return sortKeys(toJSON.call(value))
  // fromEntries defines own properties, so even a '__proto__' member stays data.
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]))
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
