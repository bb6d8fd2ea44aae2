import t from 'tap'
import Fastify from 'fastify'
import { spawnSync } from 'node:child_process'
import { buildApp, startUpstream, closeUpstream } from './helpers/app.js'
import { lambdaContext, lambdaEvent } from './helpers/lambda.js'
import { createLambdaHandler, correlationPlugin, haloServerOptions, loggingPlugin } from '../index.js'
import { isoTime as isoTimeField, redactSecrets, sampleRateFromEnvironment } from '../lib/logging.js'

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('each line is one JSON object with level label, ISO time, service, msg and correlationId', async (t) => {
  const { app, logs } = await buildApp({}, (app) => {
    app.get('/', async (request) => {
      request.log.info({ order: 7 }, 'handled')
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  await app.inject({ url: '/', headers: { 'x-correlation-id': 'line-check' } })
  const requestLines = logs.lines.filter((line) => line.correlationId === 'line-check')
  t.equal(requestLines.length, 3)
  for (const line of requestLines) {
    t.equal(line.level, 'info')
    t.match(line.time, isoTime)
    t.equal(line.service, 'test-service')
    t.type(line.msg, 'string')
    t.notOk('awsRequestId' in line, 'no Lambda fields locally')
  }
  t.ok(logs.raw.every((raw) => !raw.includes('\n')))
})

t.test('the time field is the ISO time of the current millisecond, whatever its digits and second', async (t) => {
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  const base = Date.parse('2026-03-04T05:06:07.000Z')
  for (const instant of [base + 5, base + 5, base + 42, base + 999, base + 1000, base + 1007, Date.parse('2030-12-31T23:59:59.123Z')]) {
    Date.now = () => instant
    t.equal(JSON.parse(`{"x":1${isoTimeField()}}`).time, new Date(instant).toISOString())
  }
})

t.test('on Lambda every request line carries the function fields; coldStart only on the first invocation', async (t) => {
  const { app, logs } = await buildApp({}, (app) => { app.get('/', async (request) => { request.log.info('in handler'); return 'ok' }) })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app)
  const first = lambdaContext()
  const second = lambdaContext()
  await handler(lambdaEvent('v2', { requestId: 'first' }), first)
  await handler(lambdaEvent('v2', { requestId: 'second' }), second)
  const firstLines = logs.lines.filter((line) => line.correlationId === 'first')
  const secondLines = logs.lines.filter((line) => line.correlationId === 'second')
  t.equal(firstLines.length, 3)
  t.equal(secondLines.length, 3)
  for (const line of firstLines) t.match(line, { awsRequestId: first.awsRequestId, functionName: 'halo-test', functionVersion: '$LATEST', coldStart: true })
  for (const line of secondLines) t.match(line, { awsRequestId: second.awsRequestId, coldStart: false })
})

t.test('authorization and cookie values never appear, even when a handler logs the headers', async (t) => {
  const { app, logs } = await buildApp({}, (app) => {
    app.get('/', async (request) => {
      request.log.info(request.headers, 'headers at top level')
      request.log.info({ headers: request.headers }, 'headers nested')
      request.log.info({ deep: { raw: { headers: { Authorization: 'Bearer deep-secret' } } } }, 'deeper')
      request.log.info({ 'set-cookie': ['a=secret-one', 'b=secret-two'] }, 'cookies out')
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  await app.inject({ url: '/', headers: { authorization: 'Bearer top-secret', cookie: 'session=s3cr3t"quoted', 'x-api-key': 'key-secret' } })
  const all = logs.raw.join('\n')
  for (const secret of ['top-secret', 's3cr3t', 'deep-secret', 'secret-one', 'secret-two', 'key-secret']) t.notOk(all.includes(secret), secret)
  t.ok(all.includes('"authorization":"[Redacted]"'))
  t.ok(logs.lines.some((line) => line.msg === 'headers nested'), 'the lines are still valid JSON')
  t.equal(redactSecrets('{"Cookie":"a\\"b","x":1}'), '{"Cookie":"[Redacted]","x":1}')
  const time = '"time":"2026-11-27T02:55:12.123Z"'
  t.equal(redactSecrets(`{${time},"msg":"plain"}`), `{${time},"msg":"plain"}`, 'the ISO time alone is no hint of a secret')
  t.equal(redactSecrets(`{${time},"PROXY-AUTHORIZATION":"p"}`), `{${time},"PROXY-AUTHORIZATION":"[Redacted]"}`)
  t.equal(redactSecrets('{"AUTHORIZATION":"a"}'), '{"AUTHORIZATION":"[Redacted]"}', 'found without a time field too')
  t.equal(redactSecrets('{"msg":"Z"}'), '{"msg":"Z"}')
})

t.test('no secret in any shape a line can hold it, at any depth, and every line stays valid JSON', async (t) => {
  const { app, logs } = await buildApp({ logging: { sampleRate: 1 } }, (app) => {
    app.post('/', async (request) => {
      request.log.debug({ rawHeaders: request.raw.rawHeaders }, 'raw headers')
      request.log.debug({ pairs: Object.entries(request.headers), deep: [[[Object.entries(request.headers)]]] }, 'header pairs')
      request.log.debug({ authorization: { token: 'object-secret', scheme: 'Bearer' }, cookie: [{ value: 'cookie-object-secret' }] }, 'objects under secret names')
      request.log.debug({ body: JSON.stringify({ headers: { 'X-Api-Key': 'json-text-secret' }, nested: JSON.stringify({ cookie: 'twice-nested-secret' }) }) }, 'JSON text in a string')
      request.log.debug({ upstream: '{"authorization":"Bearer broken-json-secret"' }, 'JSON text cut short')
      request.log.debug(`retrying with Bearer free-text-secret.part_2~ and basic ${Buffer.from('ada:basic-secret').toString('base64')}`)
      request.log.debug({ err: new Error('upstream refused authorization=Bearer error-secret') }, 'error message')
      request.log.debug({ 'set-cookie': [['a=nested-one'], 'b=nested-two'], after: 'kept' }, 'nested set-cookie')
      request.log.debug({ list: ['Authorization'] }, 'a secret name last in an array')
      request.log.debug('Basic information is kept')
      return 'ok'
    })
  }, 'debug')
  t.teardown(() => app.close())
  await app.inject({
    method: 'POST',
    url: '/',
    headers: { 'content-type': 'text/plain', authorization: 'Bearer header-secret', cookie: 'session=cookie-secret', 'x-api-key': 'api-key-secret', 'proxy-authorization': 'Basic cHJveHk6cHJveHktc2VjcmV0' },
    payload: 'x'
  })
  const all = logs.raw.join('\n')
  for (const secret of [
    'header-secret', 'cookie-secret', 'api-key-secret', 'cHJveHk6cHJveHktc2VjcmV0', 'object-secret', 'cookie-object-secret', 'json-text-secret',
    'twice-nested-secret', 'broken-json-secret', 'free-text-secret', Buffer.from('ada:basic-secret').toString('base64'), 'error-secret', 'nested-one', 'nested-two'
  ]) t.notOk(all.includes(secret), secret)
  t.equal(logs.lines.length, logs.raw.length, 'every line parsed as JSON')
  const line = (msg: string) => logs.lines.find((line) => line.msg === msg)!
  t.same((line('raw headers').rawHeaders as string[]).slice(2, 6), ['authorization', '[Redacted]', 'cookie', '[Redacted]'])
  t.same((line('header pairs').pairs as string[][]).slice(1, 3), [['authorization', '[Redacted]'], ['cookie', '[Redacted]']])
  t.match(line('objects under secret names'), { authorization: '[Redacted]', cookie: '[Redacted]' })
  t.same(JSON.parse(line('JSON text in a string').body as string), { headers: { 'X-Api-Key': '[Redacted]' }, nested: '{"cookie":"[Redacted]"}' })
  t.match(line('retrying with Bearer [Redacted] and basic [Redacted]'), {})
  t.match(line('nested set-cookie'), { 'set-cookie': '[Redacted]', after: 'kept' })
  t.same(line('a secret name last in an array').list, ['Authorization'])
  t.ok(line('Basic information is kept'), '"Basic" followed by anything but user:password is kept')
  t.equal(redactSecrets('{"cookie":1,"msg":"not JSON'), '{"msg":"[Redacted] a log line that is not JSON"}')
  t.equal(redactSecrets('{"authorization":"x"}\n'), '{"authorization":"[Redacted]"}\n')
  t.equal(redactSecrets('{"__proto__":"Bearer proto-secret"}'), '{"__proto__":"Bearer [Redacted]"}')
  t.equal(redactSecrets('"a line that is a string, Bearer string-secret"'), '"a line that is a string, Bearer [Redacted]"')
  const plain = '{"level":"info","time":"2026-11-27T02:55:12.123Z","service":"orders","msg":"request completed"}'
  t.equal(redactSecrets(plain), plain, 'a line with no secret name is returned as it is')
})

t.test('sampleRate 0 writes no debug line; 1 writes them', async (t) => {
  for (const [sampleRate, expected] of [[0, 0], [1, 1]] as const) {
    const { app, logs } = await buildApp({ logging: { sampleRate } }, (app) => {
      app.get('/', async (request) => { request.log.debug('detail'); return { debug: request.debugLogEnabled } })
    })
    const response = await app.inject({ url: '/' })
    t.equal(response.json().debug, sampleRate === 1)
    t.equal(logs.lines.filter((line) => line.level === 'debug').length, expected, `rate ${sampleRate}`)
    await app.close()
  }
})

t.test('an incoming debug-log-enabled: true turns debug on for that request only, and is forwarded', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => closeUpstream(upstream))
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app, logs } = await buildApp({ logging: { sampleRate: 0 } }, (app) => {
    app.get('/', async (request) => {
      await gate
      request.log.debug('detail')
      await request.fetch(upstream.url)
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  const debugged = app.inject({ url: '/', headers: { 'x-correlation-id': 'debugged', 'debug-log-enabled': 'true' } })
  const plain = app.inject({ url: '/', headers: { 'x-correlation-id': 'plain' } })
  const forcedOff = app.inject({ url: '/', headers: { 'x-correlation-id': 'off', 'debug-log-enabled': 'false' } })
  setTimeout(release, 20)
  await Promise.all([debugged, plain, forcedOff])
  const debugLines = logs.lines.filter((line) => line.level === 'debug')
  t.equal(debugLines.length, 1)
  t.equal(debugLines[0]!.correlationId, 'debugged')
  const forwarded = Object.fromEntries(upstream.requests.map((request) => [request.headers['x-correlation-id'], request.headers['debug-log-enabled']]))
  t.same(forwarded, { debugged: 'true', plain: 'false', off: 'false' })
})

t.test('SAMPLE_DEBUG_LOG_RATE sets the rate when the option is absent', async (t) => {
  t.equal(sampleRateFromEnvironment(undefined, 0.01), 0.01)
  t.equal(sampleRateFromEnvironment(' ', 0.01), 0.01)
  t.equal(sampleRateFromEnvironment('1', 0.01), 1)
  t.equal(sampleRateFromEnvironment('2', 0.01), 0.01, 'out of range')
  t.equal(sampleRateFromEnvironment('abc', 0.01), 0.01)
  const previous = process.env.SAMPLE_DEBUG_LOG_RATE
  process.env.SAMPLE_DEBUG_LOG_RATE = '1'
  t.teardown(() => { if (previous === undefined) delete process.env.SAMPLE_DEBUG_LOG_RATE; else process.env.SAMPLE_DEBUG_LOG_RATE = previous })
  const { app, logs } = await buildApp({}, (app) => { app.get('/', async (request) => { request.log.debug('from env'); return 'ok' }) })
  t.teardown(() => app.close())
  await app.inject({ url: '/' })
  t.ok(logs.lines.some((line) => line.msg === 'from env' && line.level === 'debug'))
})

t.test('a debug root logger stays at debug whatever the sample says', async (t) => {
  const { app, logs } = await buildApp({ logging: { sampleRate: 1 } }, (app) => { app.get('/', async (request) => { request.log.trace('fine'); request.log.debug('detail'); return 'ok' }) }, 'debug')
  t.teardown(() => app.close())
  await app.inject({ url: '/' })
  t.ok(logs.lines.some((line) => line.msg === 'detail'))
  t.notOk(logs.lines.some((line) => line.msg === 'fine'))
})

t.test('stdout lines of a real process, with the default destination', async (t) => {
  const script = `
    import Fastify from 'fastify'
    import halo, { haloServerOptions } from './index.ts'
    const app = Fastify(haloServerOptions({ service: 'stdout-check' }))
    await app.register(halo)
    app.get('/', async (request) => { request.log.info({ headers: request.headers }, 'seen'); return 'ok' })
    await app.inject({ url: '/', headers: { 'x-correlation-id': 'abc', authorization: 'Bearer leak' } })
    await app.close()
  `
  // The child loads the sources with this test's own loaders, so its coverage maps onto the same code.
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'info' } })
  t.equal(child.status, 0, child.stderr)
  const lines = child.stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.ok(lines.length >= 3)
  t.ok(lines.filter((line) => line.msg !== 'Server listening').every((line) => line.service === 'stdout-check'))
  t.ok(lines.filter((line) => line.correlationId !== undefined).every((line) => line.correlationId === 'abc' && line.level === 'info'))
  t.notOk(child.stdout.includes('leak'))
})

t.test('wrong options fail, naming them', async (t) => {
  t.throws(() => haloServerOptions({ service: '' }), /haloServerOptions: option "service" must be a non-empty string/)
  // @ts-expect-error service is required
  t.throws(() => haloServerOptions({}), /option "service" is required/)
  // @ts-expect-error not a level
  t.throws(() => haloServerOptions({ service: 's', level: 'loud' }), /option "level" must be one of/)
  await t.rejects(Promise.resolve(Fastify().register(correlationPlugin).register(loggingPlugin, { sampleRate: 2 }).ready()), /loggingPlugin: option "sampleRate" must be a number from 0 to 1, got 2/)
})
