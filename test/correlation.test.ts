import t from 'tap'
import Fastify from 'fastify'
import { buildApp, startUpstream, closeUpstream } from './helpers/app.js'
import { lambdaContext, lambdaEvent } from './helpers/lambda.js'
import halo, { createLambdaHandler, correlationPlugin } from '../index.js'
import { captureLogs } from './helpers/logs.js'
import { collectCorrelationIds, correlationIdProblem, incomingCallChainLength } from '../lib/correlation.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('x-correlation-id flows into the answer, every log line and downstream calls', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => closeUpstream(upstream))
  const { app, logs } = await buildApp({ logging: { sampleRate: 0 } }, (app) => {
    app.get('/call', async (request) => {
      request.log.info('calling downstream')
      const response = await request.fetch(`${upstream.url}/down`, { headers: { 'x-own': 'mine' } })
      return { status: response.status, ids: request.correlationIds }
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({
    url: '/call',
    headers: { 'x-correlation-id': 'abc', 'x-correlation-user-id': 'u-42', 'call-chain-length': '3' }
  })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['x-correlation-id'], 'abc')
  t.same(response.json().ids, { 'x-correlation-user-id': 'u-42', 'x-correlation-id': 'abc', 'call-chain-length': '4', 'debug-log-enabled': 'false' })
  const requestLines = logs.lines.filter((line) => line.correlationId !== undefined)
  t.ok(requestLines.length >= 3, 'incoming, handler and completion lines')
  t.ok(requestLines.every((line) => line.correlationId === 'abc'))
  const sent = upstream.requests[0]!.headers
  t.equal(sent['x-correlation-id'], 'abc')
  t.equal(sent['x-correlation-user-id'], 'u-42')
  t.equal(sent['call-chain-length'], '4')
  t.equal(sent['debug-log-enabled'], 'false')
  t.equal(sent['x-own'], 'mine')
})

t.test('the caller\'s own headers win over forwarded ones', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => closeUpstream(upstream))
  const { app } = await buildApp({}, (app) => {
    app.get('/call', async (request) => {
      await request.fetch(new Request(`${upstream.url}/r`, { headers: { 'x-correlation-id': 'chosen' } }))
      return request.correlationHeaders()
    })
  })
  t.teardown(() => app.close())
  const headers = (await app.inject({ url: '/call', headers: { 'x-correlation-id': 'abc' } })).json()
  t.equal(headers['x-correlation-id'], 'abc')
  t.equal(upstream.requests[0]!.headers['x-correlation-id'], 'chosen')
})

t.test('a call chain at the limit is refused with 508', async (t) => {
  const { app } = await buildApp({ correlation: { maxCallChainLength: 10 } }, (app) => {
    app.get('/', async () => 'ran')
  })
  t.teardown(() => app.close())
  const refused = await app.inject({ url: '/', headers: { 'call-chain-length': '10', 'x-correlation-id': 'loop' } })
  t.equal(refused.statusCode, 508)
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(refused.headers['x-correlation-id'], 'loop')
  t.match(refused.json(), { code: 'HALO_ERR_LOOP_DETECTED', status: 508, traceId: 'loop' })
  t.equal((await app.inject({ url: '/', headers: { 'call-chain-length': '9' } })).statusCode, 200)
})

t.test('without the header: a UUID v4 locally', async (t) => {
  const { app } = await buildApp({}, (app) => { app.get('/', async (request) => ({ id: request.correlationId, requestId: request.id })) })
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/' })
  const body = response.json()
  t.match(body.id, uuid)
  t.equal(body.requestId, body.id, 'request.id is the correlation id')
  t.equal(response.headers['x-correlation-id'], body.id)
})

t.test('without the header on Lambda: the event request id, else the awsRequestId', async (t) => {
  const { app } = await buildApp({}, (app) => { app.get('/', async (request) => ({ id: request.correlationId })) })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app)
  for (const shape of ['v1', 'v2', 'url'] as const) {
    const result = await handler(lambdaEvent(shape, { requestId: `event-${shape}` }), lambdaContext())
    t.equal(JSON.parse(result.body).id, `event-${shape}`, shape)
    t.equal(result.headers['x-correlation-id'], `event-${shape}`)
  }
  const context = lambdaContext()
  const alb = await handler(lambdaEvent('alb'), context)
  t.equal(JSON.parse(alb.body).id, context.awsRequestId, 'alb')
  const withHeader = await handler(lambdaEvent('v2', { headers: { 'x-correlation-id': 'given' } }), lambdaContext())
  t.equal(JSON.parse(withHeader.body).id, 'given', 'the header wins over the event')
})

t.test('a hostile correlation id is replaced, never echoed and never logged', async (t) => {
  const { app, logs } = await buildApp({}, (app) => { app.get('/', async (request) => ({ id: request.correlationId })) })
  t.teardown(() => app.close())
  const long = 'x'.repeat(300)
  for (const hostile of [long, 'abc\u0007def', 'caf\u00e9', '']) {
    const response = await app.inject({ url: '/', headers: { 'x-correlation-id': hostile } })
    t.match(response.json().id, uuid)
    t.equal(response.headers['x-correlation-id'], response.json().id)
  }
  t.notOk(logs.raw.some((line) => line.includes(long) || line.includes('\\u0007')), 'the refused value never reaches a log line')
  t.equal(logs.lines.filter((line) => line.msg.includes('x-correlation-id header refused')).length, 4)
  t.equal(logs.lines.filter((line) => line.level === 'warn').length, 4)
})

t.test('correlationPlugin alone, on an app built without haloServerOptions', async (t) => {
  const app = Fastify()
  await app.register(correlationPlugin)
  app.get('/', async (request) => ({ id: request.correlationId, requestId: request.id }))
  t.teardown(() => app.close())
  const given = (await app.inject({ url: '/', headers: { 'x-correlation-id': 'own' } })).json()
  t.equal(given.id, 'own')
  t.not(given.requestId, 'own', 'Fastify keeps its own request ids')
  const refused = await app.inject({ url: '/', headers: { 'x-correlation-id': 'bad\u0001' } })
  t.match(refused.json().id, uuid)
})

t.test('on an app built without haloServerOptions, registering halo warns once, naming what is lost and the fix', async (t) => {
  const logs = captureLogs()
  const app = Fastify({ logger: { stream: logs.stream } })
  t.teardown(() => app.close())
  await app.register(halo)
  await app.ready()
  const warnings = logs.lines.filter((line) => Number(line.level) === 40)
  t.equal(warnings.length, 1)
  t.match(warnings[0]?.msg, /not made with haloServerOptions.*reqId, not the correlationId.*JSON format.*Fastify\(haloServerOptions\(\{ service \}\)\)/)
  const { app: haloApp, logs: haloLogs } = await buildApp()
  t.teardown(() => haloApp.close())
  t.notOk(haloLogs.lines.some((line) => /haloServerOptions/.test(line.msg)), 'no warning with haloServerOptions')
})

t.test('correlation rules', async (t) => {
  t.equal(correlationIdProblem(undefined), undefined)
  t.equal(correlationIdProblem(['a', 'b']), 'repeated header')
  t.equal(correlationIdProblem('x'.repeat(128)), undefined)
  t.match(correlationIdProblem('x'.repeat(129)), /longer than 128/)
  t.equal(incomingCallChainLength(undefined), 0)
  t.equal(incomingCallChainLength('7'), 7)
  t.equal(incomingCallChainLength('007'), 7)
  for (const unreadable of ['-1', '1.5', '', '0x10', '1e1', ' 7', '7 ', '1, 2', ['1', '2']]) {
    t.equal(incomingCallChainLength(unreadable), undefined, `${JSON.stringify(unreadable)} is not a decimal integer`)
  }
  t.equal(incomingCallChainLength('9999999999'), 9999999999, 'a huge length is past any limit, never 0')
  t.equal(incomingCallChainLength('9'.repeat(400)), Number.POSITIVE_INFINITY)
  t.equal(correlationIdProblem('one, two'), 'repeated header', 'a header sent twice, joined')
  t.equal(correlationIdProblem('one,two'), 'repeated header')
  const many: Record<string, string | string[]> = { 'x-correlation-bad': 'a\nb', 'x-correlation-twice': ['a', 'b'] }
  for (let i = 0; i < 40; i++) many[`x-correlation-h${i}`] = String(i)
  const ids = collectCorrelationIds(many, 'id', 0)
  t.equal(Object.keys(ids).length, 32 + 2, 'at most 32 forwarded headers, plus the id and the chain length')
  t.notOk('x-correlation-bad' in ids)
  t.notOk('x-correlation-twice' in ids)
})

t.test('register fails on a wrong option, naming it', async (t) => {
  const app = Fastify()
  await t.rejects(Promise.resolve(app.register(correlationPlugin, { maxCallChainLength: 0 }).ready()), /correlationPlugin: option "maxCallChainLength" must be an integer from 1 to 1000, got 0/)
  const other = Fastify()
  // @ts-expect-error an unknown option
  await t.rejects(Promise.resolve(other.register(correlationPlugin, { maxChain: 3 }).ready()), /unknown option "maxChain"/)
  const third = Fastify()
  await t.rejects(Promise.resolve(third.register(correlationPlugin, { fetch: { attempts: 0 } }).ready()), /correlationPlugin fetch: option "attempts"/)
})
