// Type-checked by `tsc --noEmit`, never run: what must compile does, and each `@ts-expect-error` line must not.
import Fastify, { type FastifyContextConfig, type FastifyRequest } from 'fastify'
import { DynamoDBIdempotencyStore, MemoryIdempotencyStore, type IdempotencyStore, type IdempotencyStoreCapabilities } from '../../index.js'
import { idempotencyPlugin, type IdempotencyKeySource, type IdempotencyOptions, type IdempotencyRouteOptions } from '../../plugins/idempotency.js'

const app = Fastify()
await app.register(idempotencyPlugin)
await app.register(idempotencyPlugin, { store: 'memory', key: 'header', hash: 'md5', ttlSeconds: 3600, onStoreError: 'fail' })
await app.register(idempotencyPlugin, {
  store: new DynamoDBIdempotencyStore({ table: 'idempotency' }),
  key: (request) => request.headers['x-request-id'] as string | undefined,
  hash: 'sha256',
  methods: ['POST', 'put'],
  header: 'x-idempotency-key',
  onStoreError: 'continue',
  namespace: 'orders-service'
})
// @ts-expect-error the namespace is a string
await app.register(idempotencyPlugin, { namespace: 7 })
await app.register(idempotencyPlugin, { store: new MemoryIdempotencyStore({ maxEntries: 100 }), key: 'payload' })
const bounded = new MemoryIdempotencyStore({ maxEntries: 100, maxBytes: 16 * 1024 * 1024 })
await app.register(idempotencyPlugin, { store: bounded })
bounded.bytes.toFixed()
// @ts-expect-error maxBytes is a number of bytes
await app.register(idempotencyPlugin, { store: new MemoryIdempotencyStore({ maxBytes: '16 MiB' }) })
// @ts-expect-error store is 'memory' or an IdempotencyStore
await app.register(idempotencyPlugin, { store: 'dynamodb' })
// @ts-expect-error key is 'header', 'payload' or a function
await app.register(idempotencyPlugin, { key: 'body' })
// @ts-expect-error a key function returns a string or undefined
await app.register(idempotencyPlugin, { key: (request: FastifyRequest) => request.headers.length })
// @ts-expect-error hash is md5 or sha256
await app.register(idempotencyPlugin, { hash: 'sha1' })
// @ts-expect-error ttlSeconds is a number
await app.register(idempotencyPlugin, { ttlSeconds: '3600' })
// @ts-expect-error methods is a list
await app.register(idempotencyPlugin, { methods: 'POST' })
// @ts-expect-error onStoreError is 'fail' or 'continue'
await app.register(idempotencyPlugin, { onStoreError: 'ignore' })
// @ts-expect-error unknown option
await app.register(idempotencyPlugin, { keys: 'header' })
await app.register(idempotencyPlugin, { scope: (request) => String(request.headers['x-tenant']), claimGraceMs: 10_000 })
// @ts-expect-error a scope function returns a string
await app.register(idempotencyPlugin, { scope: (request: FastifyRequest) => request.headers['x-tenant'] })
// @ts-expect-error claimGraceMs is a number of milliseconds
await app.register(idempotencyPlugin, { claimGraceMs: '30s' })

const store: IdempotencyStore = app.idempotencyStore
const answersAtOnce: IdempotencyStoreCapabilities = { signal: false }
await app.register(idempotencyPlugin, { store: { ...store, capabilities: answersAtOnce } })
// @ts-expect-error capabilities are flags
await app.register(idempotencyPlugin, { store: { ...store, capabilities: { signal: 'no' } } })
const source: IdempotencyKeySource = 'payload'
const options: IdempotencyOptions = { key: source }
const routeOptions: IdempotencyRouteOptions = { key: 'payload', ttlSeconds: 60 }

app.post('/orders', { config: { idempotency: { key: 'payload', hash: 'sha256', ttlSeconds: 60, onStoreError: 'continue' } } }, async () => 'ok')
app.post('/search', { config: { idempotency: false } }, async () => 'ok')
app.put('/items/:id', { config: { idempotency: routeOptions, timeout: 2000 } }, async () => 'ok')
// @ts-expect-error onStoreError is 'fail' or 'continue'
app.post('/d', { config: { idempotency: { onStoreError: 'retry' } } }, async () => 'ok')
// Fastify infers a route's config type from the literal, which admits extra members: typed configs show the rest.
// @ts-expect-error a route opts out with false, never true
const optedIn: FastifyContextConfig = { idempotency: true }
// @ts-expect-error the store is the plugin's, not a route's
const withStore: FastifyContextConfig = { idempotency: { store: 'memory' } }
// @ts-expect-error methods are the plugin's, not a route's
const withMethods: FastifyContextConfig = { idempotency: { methods: ['POST'] } }

export { store, options, optedIn, withStore, withMethods }
