import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import lambdaLocal from 'lambda-local'
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import { buildApp, closeUpstream, startUpstream } from './helpers/app.js'
import { sqsEvent } from './helpers/events.js'
import { lambdaContext, lambdaEvent } from './helpers/lambda.js'
import { correlationPlugin, createLambdaHandler, haloContext, timeoutPlugin, type Deadline, type HaloOptions } from '../index.js'
import { RequestDeadline } from '../lib/deadline.js'

const problemType = 'application/problem+json; charset=utf-8'

t.test('on Lambda, a slow route is answered 504 a margin before the remaining time runs out', async (t) => {
  let seenDeadline: Deadline | null = null
  let handlerStartedAt = 0
  let lateOutcomes = 0
  const { app, logs } = await buildApp({}, (app) => {
    app.get('/slow', async (request) => {
      handlerStartedAt = Date.now()
      seenDeadline = request.deadline
      await sleep(2500)
      lateOutcomes++
      return { late: true }
    })
  })
  t.teardown(() => app.close())
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })

  const started = Date.now()
  const result = await createLambdaHandler(app)(lambdaEvent('v2', { path: '/slow', requestId: 'slow-call' }), lambdaContext(1500))
  const elapsed = Date.now() - started
  t.equal(result.statusCode, 504)
  t.equal(result.headers['content-type'], problemType)
  t.match(JSON.parse(result.body), { status: 504, code: 'HALO_ERR_TIMEOUT', traceId: 'slow-call' })
  t.ok(elapsed >= 950 && elapsed < 1500, `answered after about 1000 ms (${elapsed} ms), before Lambda's 1500 ms`)
  t.equal(seenDeadline!.signal.aborted, true)
  const warnings = logs.lines.filter((line) => line.level === 'warn' && line.msg === 'request timed out')
  t.equal(warnings.length, 1)
  t.match(warnings[0], { route: '/slow', correlationId: 'slow-call' })
  // Counted from the request's start, which a loaded machine may reach well after the context was made: so
  // bounded by the deadline's instant less the handler's start, and by the whole call.
  const logged = warnings[0]!.elapsed as number
  t.ok(logged >= seenDeadline!.at - handlerStartedAt && logged <= elapsed, `elapsed ${logged} ms logged`)

  // The handler ends 2.5 s after it started; waited for, not timed, since a loaded machine starts it late.
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (lateOutcomes > 0) break
    await sleep(50)
  }
  t.equal(lateOutcomes, 1, 'the handler did finish, late')
  t.equal(logs.lines.filter((line) => line.level === 'error').length, 0, 'no error line for the late reply')
  t.same(unhandled, [])
})

t.test('a late throw and a late reply.send are dropped quietly', async (t) => {
  const { app, logs } = await buildApp({}, (app) => {
    app.get('/throws', { config: { timeout: 50 } }, async () => { await sleep(120); throw new Error('too late') })
    app.get('/sends', { config: { timeout: 50 } }, (_request, reply) => { setTimeout(() => reply.code(200).send('late'), 120) })
  })
  t.teardown(() => app.close())
  const [throws, sends] = await Promise.all([app.inject({ url: '/throws' }), app.inject({ url: '/sends' })])
  t.equal(throws.statusCode, 504)
  t.equal(sends.statusCode, 504)
  await sleep(150)
  t.equal(logs.lines.filter((line) => line.level === 'error' || line.msg === 'Reply was already sent').length, 0)
  t.equal(logs.lines.filter((line) => line.msg === 'request timed out').length, 2)
})

t.test('deadline.remaining() is the remaining time less the margin; at is an epoch-ms instant', async (t) => {
  const { app } = await buildApp({ timeout: { marginMs: 200 } }, (app) => {
    app.get('/', async (request) => ({ remaining: request.deadline!.remaining(), at: request.deadline!.at, viaContext: haloContext()?.deadline?.at, now: Date.now() }))
  })
  t.teardown(() => app.close())
  const context = lambdaContext(10_000)
  const contextEnd = Date.now() + context.getRemainingTimeInMillis()
  const result = await createLambdaHandler(app)(lambdaEvent('v1', { path: '/' }), context)
  const body = JSON.parse(result.body)
  // The deadline reads the clock, then the remaining time: a stall between the two makes it that much earlier,
  // never later, than the context's end less the margin.
  const early = contextEnd - 200 - body.at
  t.ok(body.remaining <= 9800 && early >= 0 && early < 100, `remaining ${body.remaining}, ${early} ms before the context's end less the margin`)
  t.ok(Math.abs(body.at - (body.now + body.remaining)) < 50, 'at is epoch milliseconds')
  t.equal(body.viaContext, body.at, 'haloContext() exposes the same deadline')
})

t.test('locally: the route\'s config.timeout, the default, and timeout: false', async (t) => {
  const { app } = await buildApp({ timeout: { defaultMs: 5000 } }, (app) => {
    app.get('/short', { config: { timeout: 300 } }, async () => { await sleep(1000); return 'late' })
    app.get('/unbounded', { config: { timeout: false } }, async (request) => { await sleep(400); return { remaining: String(request.deadline.remaining()) } })
    app.get('/default', async (request) => ({ at: request.deadline.at, now: Date.now() }))
  })
  t.teardown(() => app.close())
  const started = Date.now()
  const short = await app.inject({ url: '/short' })
  const elapsed = Date.now() - started
  t.equal(short.statusCode, 504)
  t.ok(elapsed >= 290 && elapsed < 900, `answered after about 300 ms (${elapsed} ms)`)
  const unbounded = await app.inject({ url: '/unbounded' })
  t.equal(unbounded.statusCode, 200)
  t.same(unbounded.json(), { remaining: 'Infinity' })
  // The budget starts with the request, somewhere between the inject and the handler.
  const injectedAt = Date.now()
  const { at, now } = (await app.inject({ url: '/default' })).json()
  t.ok(at - injectedAt >= 5000 && at - now <= 5000, `default budget: ${at - injectedAt} ms from the inject`)
})

t.test('a route\'s own onRequest hooks, one or a list, run before the deadline starts: they see one that never passes', async (t) => {
  const order: string[] = []
  const { app } = await buildApp({}, (app) => {
    app.get('/one', { onRequest: (request, _reply, done) => { order.push(`one saw ${request.deadline.remaining()}`); done() } }, async (request) => ({ bounded: Number.isFinite(request.deadline.remaining()) }))
    app.get('/list', { onRequest: [(_request, _reply, done) => { order.push('list'); done() }] }, async (request) => ({ bounded: Number.isFinite(request.deadline.remaining()) }))
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/one' })).json(), { bounded: true })
  t.same((await app.inject({ url: '/list' })).json(), { bounded: true })
  t.same(order, ['one saw Infinity', 'list'])
})

/** What a route sees of its deadline, Infinity spelt out (JSON has none). */
function deadlineSeen (request: FastifyRequest): Record<string, unknown> {
  const deadline = request.deadline
  return {
    at: String(deadline.at),
    remaining: String(deadline.remaining()),
    expired: deadline.expired,
    aborted: deadline.signal.aborted,
    sameOnEveryRead: request.deadline === deadline && request.deadline.signal === deadline.signal,
    sameViaContext: haloContext() === undefined || haloContext()?.deadline === deadline
  }
}

t.test('locally, with the timeout part off (for the route, for the app, or not registered), request.deadline never passes and answers nothing', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => closeUpstream(upstream))
  const routes = (routeConfig: Record<string, unknown>) => (app: FastifyInstance): void => {
    app.get('/', { config: routeConfig }, async (request) => {
      const response = await request.fetch(upstream.url)
      return { ...deadlineSeen(request), fetched: response.status }
    })
  }
  const correlationOnly = Fastify()
  await correlationOnly.register(correlationPlugin)
  routes({})(correlationOnly)
  const apps: Array<[string, FastifyInstance]> = [
    ['timeout: false on the route', (await buildApp({}, routes({ timeout: false }))).app],
    ['timeout: false in the umbrella', (await buildApp({ timeout: false }, routes({}))).app],
    ['the correlation part alone', correlationOnly]
  ]
  for (const [label, app] of apps) {
    t.teardown(() => app.close())
    const response = await app.inject({ url: '/' })
    t.same([response.statusCode, response.json()], [200, {
      at: 'Infinity', remaining: 'Infinity', expired: false, aborted: false, sameOnEveryRead: true, sameViaContext: true, fetched: 200
    }], label)
  }
  t.equal(upstream.requests.length, apps.length, 'request.fetch went out once per app')
})

t.test('on Lambda with the timeout part off, the deadline counts down the remaining time less the margin, aborts its signal then, and answers nothing', async (t) => {
  const cases: Array<[string, HaloOptions, Record<string, unknown>, number]> = [
    ['off for the app: the default margin', { timeout: false }, {}, 500],
    ['off for the route: the part\'s margin', { timeout: { marginMs: 200 } }, { timeout: false }, 200]
  ]
  for (const [label, options, routeConfig, marginMs] of cases) {
    const { app, logs } = await buildApp(options, (app) => {
      app.get('/late', { config: routeConfig }, async (request) => {
        const deadline = request.deadline
        const seenAt = deadline.at
        // Polled: the signal's own timer, like AbortSignal.timeout's, holds no process open.
        while (!deadline.signal.aborted) await sleep(10)
        // Past the deadline, and still this handler's answer is the one the invocation returns.
        return { ...deadlineSeen(request), seenAt, reason: (deadline.signal.reason as Error).name }
      })
    })
    t.teardown(() => app.close())
    const before = Date.now()
    const context = lambdaContext(1500)
    const after = Date.now()
    const result = await createLambdaHandler(app)(lambdaEvent('v2', { path: '/late' }), context)
    t.equal(result.statusCode, 200, `${label}: no 504`)
    const body = JSON.parse(result.body)
    t.match(body, { remaining: '0', expired: false, aborted: true, sameOnEveryRead: true, sameViaContext: true, reason: 'TimeoutError' }, label)
    t.equal(Number(body.at), body.seenAt)
    t.ok(body.seenAt >= before + 1500 - marginMs - 50 && body.seenAt <= after + 1500 - marginMs,
      `${label}: at is the invocation's end less ${marginMs} ms (${body.seenAt - before - 1500} ms from it)`)
    t.equal(logs.lines.filter((line) => line.level === 'warn').length, 0, `${label}: no timeout warning`)
  }
})

t.test('on Lambda with the timeout part off, a record\'s request has the invocation\'s deadline too', async (t) => {
  const seen: number[] = []
  const { app } = await buildApp({ timeout: false }, (app) => {
    app.post('/records', async (request) => {
      seen.push(request.deadline.at)
      return { ok: true }
    })
  })
  t.teardown(() => app.close())
  const before = Date.now()
  const result = await createLambdaHandler(app, { events: { sqs: '/records' } })(sqsEvent([{ body: '{}' }, { body: '{}' }]), lambdaContext(10_000))
  t.same(result, { batchItemFailures: [] })
  t.equal(seen.length, 2)
  t.ok(seen.every((at) => at >= before + 9_400 && at <= Date.now() + 9_500), `both records count down the invocation's time (${seen.map((at) => at - before).join(', ')} ms)`)
})

t.test('a request arriving with less time than the margin is answered 504 at once', async (t) => {
  let ran = false
  const { app } = await buildApp({}, (app) => { app.get('/', async () => { ran = true; return 'ran' }) })
  t.teardown(() => app.close())
  const result = await createLambdaHandler(app)(lambdaEvent('alb', { path: '/' }), lambdaContext(400))
  t.equal(result.statusCode, 504)
  t.match(JSON.parse(result.body), { code: 'HALO_ERR_TIMEOUT' })
  t.equal(ran, false)
})

t.test('a streamed answer already under way is cut at the deadline', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.get('/stream', { config: { timeout: 100 } }, (_request, reply) => {
      const neverEnding = new Readable({ read () {} })
      neverEnding.push('partial')
      return reply.type('text/plain').send(neverEnding)
    })
  })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const response = await fetch(`${address}/stream`)
  t.equal(response.status, 200)
  await t.rejects(response.text(), 'the body is cut, not completed')
})

t.test('a hijacked reply manages its own lifecycle: the deadline only aborts the signal', async (t) => {
  let signal: AbortSignal | undefined
  const { app } = await buildApp({}, (app) => {
    app.get('/own', { config: { timeout: 50 } }, (request, reply) => {
      reply.hijack()
      signal = request.deadline!.signal
      setTimeout(() => { reply.raw.writeHead(200, { 'content-type': 'text/plain' }); reply.raw.end('mine') }, 150)
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/own' })
  t.equal(response.statusCode, 200)
  t.equal(response.body, 'mine')
  t.equal(signal?.aborted, true)
})

t.test('200 concurrent invocations each get their own deadline; nothing is left after close', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.get('/', async (request) => {
      await sleep(5)
      return { at: request.deadline!.at }
    })
  })
  const handler = createLambdaHandler(app)
  const timersBefore = process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
  const budgets = Array.from({ length: 200 }, (_, index) => 2000 + index * 100)
  const madeAt = Date.now()
  const contexts = budgets.map((budget) => lambdaContext(budget))
  const madeBy = Date.now()
  const results = await Promise.all(contexts.map((context) => handler(lambdaEvent('v2', { path: '/' }), context)))
  for (const [index, result] of results.entries()) {
    // Each context ends at its own instant, 100 ms from the next one's, and the deadline is that instant less
    // the margin however long the 200 invocations took to start: never later, and earlier only by a stall
    // between the deadline's reading of the clock and of the remaining time.
    const at = JSON.parse(result.body).at
    const earliest = madeAt + budgets[index]! - 500 - 1
    const latest = madeBy + budgets[index]! - 500
    t.ok(at >= earliest - 99 && at <= latest, `invocation ${index}: deadline ${at - earliest} ms after the earliest it may be (${latest - earliest} ms window)`)
  }
  await app.close()
  const timersAfter = process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
  t.ok(timersAfter <= timersBefore, `no timer left behind (${timersBefore} before, ${timersAfter} after)`)
})

t.test('the client going away aborts the deadline signal', async (t) => {
  let signal: AbortSignal | undefined
  const { app } = await buildApp({}, (app) => {
    app.get('/wait', async (request) => {
      signal = request.deadline!.signal
      await sleep(300)
      return 'done'
    })
  })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const controller = new AbortController()
  const pending = fetch(`${address}/wait`, { signal: controller.signal }).catch(() => 'aborted')
  await sleep(100)
  controller.abort()
  t.equal(await pending, 'aborted')
  await sleep(50)
  t.equal(signal?.aborted, true)
})

t.test('an independent Lambda runner agrees: lambda-local with a 2 s timeout gets our 504', async (t) => {
  const { app } = await buildApp({}, (app) => { app.get('/slow', async () => { await sleep(3000); return 'late' }) })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app)
  const result = await lambdaLocal.execute({
    event: lambdaEvent('v1', { path: '/slow', requestId: 'runner' }),
    lambdaFunc: { handler },
    lambdaHandler: 'handler',
    timeoutMs: 2000,
    verboseLevel: 0
  }) as { statusCode: number, body: string }
  t.equal(result.statusCode, 504)
  t.match(JSON.parse(result.body), { code: 'HALO_ERR_TIMEOUT', traceId: 'runner' })
})

t.test('on Lambda a route timeout shorter than the remaining time wins', async (t) => {
  const { app } = await buildApp({}, (app) => { app.get('/', { config: { timeout: 1000 } }, async (request) => ({ at: request.deadline.at, now: Date.now() })) })
  t.teardown(() => app.close())
  const invokedAt = Date.now()
  const { at, now } = JSON.parse((await createLambdaHandler(app)(lambdaEvent('v2', { path: '/' }), lambdaContext(20_000))).body)
  t.ok(at - invokedAt >= 1000 && at - now <= 1000, `the route's 1000 ms, not Lambda's 19 500: ${at - invokedAt} ms from the call`)
})

t.test('timeoutPlugin alone answers with the request id as trace id', async (t) => {
  const app = Fastify()
  await app.register(timeoutPlugin)
  app.get('/', { config: { timeout: 20 } }, async () => { await sleep(100); return 'late' })
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/' })
  t.equal(response.statusCode, 504)
  t.match(response.json().traceId, /^req-/)
})

t.test('the deadline object', async (t) => {
  const deadline = new RequestDeadline(Date.now(), 1000)
  t.equal(deadline.expired, false)
  const signal = deadline.signal
  t.equal(deadline.signal, signal, 'one controller, made on first use')
  deadline.expire(new Error('first'))
  deadline.expire(new Error('second'))
  t.equal((signal.reason as Error).message, 'first')
  const late = new RequestDeadline(Date.now() - 2000, 1000)
  t.equal(late.remaining(), 0)
  late.expire(new Error('gone'))
  t.equal(late.signal.aborted, true, 'a signal asked for after expiry is already aborted')
})

t.test('bad options and route settings fail register, naming them', async (t) => {
  await t.rejects(Promise.resolve(Fastify().register(timeoutPlugin, { marginMs: -1 }).ready()), /timeoutPlugin: option "marginMs" must be an integer/)
  await t.rejects(Promise.resolve(Fastify().register(timeoutPlugin, { defaultMs: 'fast' as unknown as number }).ready()), /option "defaultMs"/)
  await t.rejects(Promise.resolve(Fastify().register(timeoutPlugin, { marginMs: 1000, defaultMs: 1000 }).ready()), /"marginMs" \(1000\) must be less than "defaultMs" \(1000\)/)
  for (const bad of [-5, 0, 1.5, 'soon']) {
    const app = Fastify()
    await app.register(timeoutPlugin)
    t.throws(() => app.get('/x', { config: { timeout: bad as number } }, async () => 'x'), /route GET \/x config\.timeout must be a positive integer/)
  }
  const app = Fastify()
  await app.register(timeoutPlugin)
  app.route({ method: 'GET', url: '/hooks', onRequest: async () => {}, onResponse: [async () => {}], handler: async () => 'ok' })
  t.equal((await app.inject({ url: '/hooks' })).body, 'ok', 'existing route hooks are kept')
})

t.test('a deadline that passes while the answer is in an async onSend hook sends no second answer; a 504 never carries another answer\'s body', async (t) => {
  const { app, logs } = await buildApp({}, (app) => {
    app.register(async (scope) => {
      scope.addHook('onSend', async (_request, _reply, payload) => {
        await sleep(1500)
        return payload
      })
      scope.post('/fast', { config: { timeout: 500 } }, async () => ({ ok: true }))
      scope.post('/slow', { config: { timeout: 500 } }, async (_request, reply) => {
        await sleep(1000)
        reply.code(201).header('x-late', 'yes')
        return { ok: true }
      })
    })
  })
  t.teardown(() => app.close())
  const underWay = await app.inject({ method: 'POST', url: '/fast' })
  t.same([underWay.statusCode, underWay.headers['content-type'], underWay.json()], [200, 'application/json; charset=utf-8', { ok: true }],
    'the answer under way is the one answer')
  const timedOut = await app.inject({ method: 'POST', url: '/slow' })
  t.same([timedOut.statusCode, timedOut.headers['content-type'], timedOut.json().code], [504, problemType, 'HALO_ERR_TIMEOUT'])
  t.equal(timedOut.headers['x-late'], undefined)
  await sleep(2000)
  t.equal(logs.lines.filter((line) => line.level === 'error').length, 0, 'no error line')
  t.match(logs.lines.filter((line) => line.level === 'warn').map((line) => line.msg),
    ['deadline passed while the answer was being sent; that answer stands', 'request timed out'])
})

t.test('over a real socket, the late answer after a 504 never reaches the client', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.post('/slow', { config: { timeout: 300 } }, async (_request, reply) => {
      await sleep(800)
      return reply.code(201).send({ late: true })
    })
  })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const response = await fetch(`${address}/slow`, { method: 'POST' })
  t.equal(response.status, 504)
  t.match(await response.json(), { code: 'HALO_ERR_TIMEOUT' })
  await sleep(1000)
  const next = await fetch(`${address}/slow`, { method: 'POST' })
  t.equal(next.status, 504, 'the server still serves')
})
