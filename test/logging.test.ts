import t from 'tap'
import Fastify from 'fastify'
import { spawnSync } from 'node:child_process'
import { buildApp, startUpstream, closeUpstream } from './helpers/app.js'
import { lambdaContext, lambdaEvent } from './helpers/lambda.js'
import { createLambdaHandler, correlationPlugin, haloServerOptions, loggingPlugin } from '../index.js'
import { redactSecrets } from '../lib/logging.js'
import { sampleRateFromEnvironment } from '../lib/logging.js'

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
