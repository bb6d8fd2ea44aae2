// Node's built-in modules as their CommonJS objects, the one place Halo takes them from. An ES `import` of a
// built-in makes Node build the module's ES facade, which reads every export once: reading node:http's
// `WebSocket` loads undici, node:crypto's `webcrypto` the Web Crypto layer. In a bundled Lambda that was
// about a tenth of the instructions of a cold start, spent on exports Halo never uses.
// `process.getBuiltinModule` (Node 22.3+) hands over the module without building a facade.
const crypto = process.getBuiltinModule('node:crypto')

export const { AsyncLocalStorage } = process.getBuiltinModule('node:async_hooks')
export const { EventEmitter } = process.getBuiltinModule('node:events')
export const { Readable, Writable } = process.getBuiltinModule('node:stream')
export const { STATUS_CODES } = process.getBuiltinModule('node:http')
export const { isUtf8 } = process.getBuiltinModule('node:buffer')
export const { createHash, hash, randomFillSync } = crypto
export const { setTimeout: sleep } = process.getBuiltinModule('node:timers/promises')
export const { readFile } = process.getBuiltinModule('node:fs/promises')
export const { resolve: resolvePath } = process.getBuiltinModule('node:path')
export const { promisify } = process.getBuiltinModule('node:util')

/** node:zlib, loaded when first needed: only a DynamoDB store compressing large answers uses it. */
export function zlib (): typeof import('node:zlib') {
  return process.getBuiltinModule('node:zlib')
}
