import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp, startUpstream, closeUpstream } from './helpers/app.js'
import { lambdaContext, lambdaEvent } from './helpers/lambda.js'
import { createLambdaHandler, HALO_ERR_TIMEOUT } from '../index.js'
import { boundedFetch, retryAfterMs, DEFAULT_FETCH_POLICY } from '../lib/fetch.js'
import { PassiveDeadline, RequestDeadline } from '../lib/deadline.js'

const fastRetries = { correlation: { fetch: { baseDelayMs: 5, maxDelayMs: 20 } } }

t.test('GET: 503, 503, 200 succeeds in three attempts', async (t) => {
  const upstream = await startUpstream((_request, index) => index < 2 ? { status: 503 } : { body: '{"booked":true}' })
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp(fastRetries, (app) => {
    app.get('/', async (request) => (await request.fetch(upstream.url)).json())
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/' })).json(), { booked: true })
  t.equal(upstream.requests.length, 3)
  t.ok(upstream.requests.every((request) => request.headers['x-correlation-id'] === upstream.requests[0]!.headers['x-correlation-id']))
})

t.test('POST without an idempotency-key is tried once; with one it is retried', async (t) => {
  const upstream = await startUpstream((request) => request.headers['idempotency-key'] !== undefined && upstream.requests.length === 3 ? { status: 201 } : { status: 503 })
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp(fastRetries, (app) => {
    app.post('/', async (request) => {
      const plain = await request.fetch(upstream.url, { method: 'POST', body: '{"a":1}' })
      const keyed = await request.fetch(upstream.url, { method: 'POST', body: '{"a":1}', headers: { 'idempotency-key': 'k-1' } })
      return { plain: plain.status, keyed: keyed.status }
    })
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ method: 'POST', url: '/' })).json(), { plain: 503, keyed: 201 })
  t.equal(upstream.requests.length, 3, 'one plain attempt, two keyed ones')
  t.same(upstream.requests.map((request) => request.body), ['{"a":1}', '{"a":1}', '{"a":1}'], 'the body is sent again on retry')
})

t.test('429 with retry-after is honoured when it fits, returned when it does not', async (t) => {
  const upstream = await startUpstream((request) => request.url === '/soon'
    ? (upstream.requests.filter((seen) => seen.url === '/soon').length === 1 ? { status: 429, headers: { 'retry-after': '0.05' } } : {})
    : { status: 429, headers: { 'retry-after': '120' } })
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp(fastRetries, (app) => {
    app.get('/', async (request) => ({ soon: (await request.fetch(`${upstream.url}/soon`)).status, later: (await request.fetch(`${upstream.url}/later`)).status }))
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/' })).json(), { soon: 200, later: 429 })
  t.equal(upstream.requests.filter((request) => request.url === '/later').length, 1, 'a two-minute wait does not fit a 29 s deadline')
})

t.test('network errors are retried, then thrown', async (t) => {
  const upstream = await startUpstream()
  const closedUrl = upstream.url
  await closeUpstream(upstream)
  const { app } = await buildApp({ correlation: { fetch: { baseDelayMs: 1, attempts: 2 } } }, (app) => {
    app.get('/', async (request) => {
      const started = Date.now()
      const error = await request.fetch(closedUrl).catch((failure: Error) => failure)
      return { message: (error as Error).message, elapsed: Date.now() - started }
    })
  })
  t.teardown(() => app.close())
  t.match((await app.inject({ url: '/' })).json(), { message: 'fetch failed' })
})

t.test('a hanging upstream is cut at the deadline; the client still gets its 504 in time', async (t) => {
  const upstream = await startUpstream(() => ({ delayMs: 10_000 }))
  t.teardown(() => closeUpstream(upstream))
  let fetchError: Error | undefined
  const { app } = await buildApp({}, (app) => {
    app.get('/', async (request) => {
      try {
        return await request.fetch(upstream.url)
      } catch (error) {
        fetchError = error as Error
        throw error
      }
    })
  })
  t.teardown(() => app.close())
  const started = Date.now()
  const result = await createLambdaHandler(app)(lambdaEvent('v2', { path: '/' }), lambdaContext(1300))
  t.equal(result.statusCode, 504)
  t.ok(Date.now() - started < 1300, 'before Lambda\'s own timeout')
  await sleep(20)
  t.equal(upstream.requests.length, 1, 'no retry was started without time for it')
  t.ok(fetchError !== undefined, 'the hanging fetch was aborted, not left running')
})

t.test('each attempt is bounded by perAttemptMs, and retried while time is left', async (t) => {
  const upstream = await startUpstream((_request, index) => index === 0 ? { delayMs: 2000 } : {})
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp({ correlation: { fetch: { perAttemptMs: 100, baseDelayMs: 1 } } }, (app) => {
    app.get('/', async (request) => (await request.fetch(upstream.url)).status)
  })
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/' })).body, '200')
  t.equal(upstream.requests.length, 2)
})

t.test('the caller\'s own signal still aborts, and is never retried', async (t) => {
  const upstream = await startUpstream(() => ({ delayMs: 2000 }))
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp({}, (app) => {
    app.get('/', async (request) => {
      const error = await request.fetch(upstream.url, { signal: AbortSignal.timeout(50) }).catch((failure: Error) => failure)
      return { name: (error as Error).name }
    })
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/' })).json(), { name: 'TimeoutError' })
  t.equal(upstream.requests.length, 1)
})

t.test('boundedFetch with a deadline that never passes, with a Request carrying a body, and with a stream body', async (t) => {
  const upstream = await startUpstream(() => ({ status: 500 }))
  t.teardown(() => closeUpstream(upstream))
  const caller = { correlationHeaders: () => ({ 'x-correlation-id': 'lib' }), deadline: new PassiveDeadline(Infinity) }
  const policy = { ...DEFAULT_FETCH_POLICY, baseDelayMs: 1 }
  t.equal((await boundedFetch(caller, upstream.url, undefined, policy)).status, 500)
  t.equal(upstream.requests.length, 3, 'a deadline that never passes: the attempts bound the retries')
  t.equal((await boundedFetch(caller, new Request(upstream.url, { method: 'PUT', body: 'once' }), undefined, policy)).status, 500)
  t.equal(upstream.requests.length, 4, 'a Request body can be read once, so it is not retried')
  const stream = new ReadableStream({ start (controller) { controller.enqueue(new TextEncoder().encode('streamed')); controller.close() } })
  t.equal((await boundedFetch(caller, upstream.url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit, policy)).status, 500)
  t.equal(upstream.requests.length, 5, 'a stream body is not retried either')
  const expired = new RequestDeadline(Date.now() - 10, 5)
  expired.expire(new HALO_ERR_TIMEOUT(5))
  t.equal((await boundedFetch({ ...caller, deadline: expired }, upstream.url, undefined, policy).catch((error: { code: string }) => error.code)), 'HALO_ERR_TIMEOUT', 'a passed deadline cuts the attempt at once')
  t.equal(upstream.requests.length, 5)
})

t.test('a retry wait with the caller\'s own signal', async (t) => {
  const upstream = await startUpstream((_request, index) => ({ status: index === 0 ? 503 : 200 }))
  t.teardown(() => closeUpstream(upstream))
  const caller = { correlationHeaders: () => ({}), deadline: new PassiveDeadline(Infinity) }
  const response = await boundedFetch(caller, upstream.url, { signal: AbortSignal.timeout(5000) }, { ...DEFAULT_FETCH_POLICY, baseDelayMs: 1 })
  t.equal(response.status, 200)
})

t.test('a HEAD answer without a body is retried too', async (t) => {
  const upstream = await startUpstream((_request, index) => ({ status: index === 0 ? 503 : 200 }))
  t.teardown(() => closeUpstream(upstream))
  const caller = { correlationHeaders: () => ({}), deadline: new PassiveDeadline(Infinity) }
  t.equal((await boundedFetch(caller, upstream.url, { method: 'HEAD' }, { ...DEFAULT_FETCH_POLICY, baseDelayMs: 1 })).status, 200)
  t.equal(upstream.requests.length, 2)
})

t.test('retry-after parsing', async (t) => {
  t.equal(retryAfterMs(null), undefined)
  t.equal(retryAfterMs('2'), 2000)
  t.equal(retryAfterMs('-3'), 0)
  t.equal(retryAfterMs('soon'), undefined)
  t.equal(retryAfterMs(''), undefined)
  const inAMinute = retryAfterMs(new Date(Date.now() + 60_000).toUTCString()) as number
  t.ok(inAMinute > 58_000 && inAMinute <= 60_000)
  t.equal(retryAfterMs(new Date(Date.now() - 60_000).toUTCString()), 0)
})
