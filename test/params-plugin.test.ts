import t, { type Test } from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { paramsPlugin, HaloParams, type HaloConfig, type ParamsOptions } from '../plugins/params.js'
import { buildApp } from './helpers/app.js'
import { ssmForTest } from './helpers/ssm-server.js'

const schema = Type.Object({
  db: Type.Object({ url: Type.String(), password: Type.String() }),
  port: Type.Integer(),
  features: Type.Object({ search: Type.Boolean() })
})

async function app (t: Test, options: ParamsOptions): Promise<FastifyInstance> {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(paramsPlugin, options)
  await fastify.ready()
  return fastify
}

/** Every line a pino logger writes, unparsed, so that nothing can hide in a field a parser would drop. */
function logCapture () {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      callback()
    }
  })
  return { stream, lines }
}

t.test('fastify.config is loaded from the path at start-up, coerced and validated', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/booking/prod/db/url', 'postgres://db')
  server.put('/booking/prod/db/password', 'hunter2', 'SecureString')
  server.put('/booking/prod/port', '8080')
  server.put('/booking/prod/features', '{"search":true}')
  const fastify = await app(t, { client, path: '/booking/prod', schema })
  const config = fastify.config as unknown as HaloConfig<typeof schema>
  t.equal(config.db.url, 'postgres://db')
  t.equal(config.db.password, 'hunter2', 'loaded decrypted')
  t.equal(config.port, 8080)
  t.equal(config.features.search, true)
  t.ok(fastify.params instanceof HaloParams)
  t.equal(await fastify.params.get('/booking/prod/port'), '8080')
})

t.test('fastify.params reads through the cache, 300 s by default', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/svc/a', 'a')
  const fastify = await app(t, { client })
  t.notOk(fastify.hasDecorator('config'), 'no config without a path')
  t.equal(await fastify.params.get('/svc/a'), 'a')
  t.equal(await fastify.params.get('/svc/a'), 'a')
  t.equal(server.calls.GetParameter, 1)
  t.same(await fastify.params.getMany(['/svc/a']), { '/svc/a': 'a' })
  t.same(await fastify.params.getByPath('/svc'), { '/svc/a': 'a' })
})

t.test('missing and invalid values stop start-up with one error naming both', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/booking/prod/db/password', 'hunter2', 'SecureString')
  server.put('/booking/prod/port', 'eighty')
  server.put('/booking/prod/features/search', 'yes')
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  fastify.register(paramsPlugin, { client, path: '/booking/prod', schema })
  const error = await fastify.ready().then(() => undefined, (error: unknown) => error) as Error
  t.match(error, { code: 'HALO_ERR_PARAM_INVALID' })
  t.match(error.message, '/booking/prod/db/url is missing')
  t.match(error.message, '/booking/prod/port is invalid')
  t.match(error.message, '/booking/prod/features/search is invalid')
})

t.test('a local file and HALO_PARAM_* overrides give the same API with no AWS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'halo-params-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'params.local.json')
  await writeFile(file, JSON.stringify({
    '/booking/local/db/url': 'postgres://localhost',
    '/booking/local/db/password': 'local',
    '/booking/local/port': '3000'
  }))
  process.env.HALO_PARAM_BOOKING_LOCAL_PORT = '4000'
  process.env.HALO_PARAM_BOOKING_LOCAL_FEATURES_SEARCH = 'true'
  t.teardown(() => {
    delete process.env.HALO_PARAM_BOOKING_LOCAL_PORT
    delete process.env.HALO_PARAM_BOOKING_LOCAL_FEATURES_SEARCH
  })
  const fastify = await app(t, { file, path: '/booking/local', schema, maxAge: 60 })
  const config = fastify.config as unknown as HaloConfig<typeof schema>
  t.same({ url: config.db.url, port: config.port, search: config.features.search }, { url: 'postgres://localhost', port: 4000, search: true })
  t.equal(await fastify.params.get('/booking/local/port', { decrypt: true }), '4000')
  await t.rejects(fastify.params.get('/booking/local/nope'), { code: 'HALO_ERR_PARAM_NOT_FOUND' })
})

t.test('a client made from region and endpoint, destroyed on close', async (t) => {
  const { server } = await ssmForTest(t)
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
  process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST'
  process.env.AWS_SECRET_ACCESS_KEY = 'test-secret'
  t.teardown(() => {
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  server.put('/svc/a', 'a')
  const fastify = await app(t, { region: 'us-east-1', endpoint: server.url })
  t.equal(await fastify.params.get('/svc/a'), 'a')
  await fastify.close()
  t.equal(server.calls.GetParameter, 1)
})

t.test('SSM that never answers fails start-up with HALO_ERR_PARAM_UNAVAILABLE after the 3 s default timeout', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/booking/prod/port', '8080')
  server.hanging = true
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await t.rejects(Promise.resolve(fastify.register(paramsPlugin, { client, path: '/booking/prod', schema }).ready()), {
    code: 'HALO_ERR_PARAM_UNAVAILABLE',
    message: 'Parameter /booking/prod could not be read: no answer within 3000 ms'
  })
  t.equal(server.calls.GetParametersByPath, 1)
})

t.test('inside a request an SSM call ends at the request\'s deadline, and the next request reads the value', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/svc/flag', 'on')
  const { app: fastify } = await buildApp({ params: { client, timeoutMs: 600_000 } }, (fastify) => {
    fastify.get('/flag', { config: { timeout: 1_000 } }, async () => fastify.params.get('/svc/flag'))
    fastify.get('/read-then-wait', { config: { timeout: 1_000 } }, async () => {
      const value = await fastify.params.get('/svc/other')
      await sleep(1_500)
      return value
    })
  })
  t.teardown(() => fastify.close())
  server.hanging = true
  const hung = await fastify.inject({ url: '/flag' })
  t.equal(hung.statusCode, 504)
  t.equal(hung.json().code, 'HALO_ERR_TIMEOUT')
  server.hanging = false
  const next = await fastify.inject({ url: '/flag' })
  t.equal(next.statusCode, 200, 'the hung read was abandoned at the deadline, not left to poison the parameter')
  t.equal(next.body, 'on')

  server.put('/svc/other', 'read')
  t.equal((await fastify.inject({ url: '/read-then-wait' })).statusCode, 504)
  await sleep(1_000)
  t.equal((await fastify.inject({ url: '/flag' })).statusCode, 200)
  server.resetCalls()
  t.equal(await fastify.params.get('/svc/other'), 'read')
  t.equal(server.calls.GetParameter, 0, 'a value read before the deadline passed stays cached')
})

t.test('a decrypted SecureString never appears in a log line, at any level', async (t) => {
  const { server, client } = await ssmForTest(t)
  const secret = 'hunter2-Zq9-secret'
  server.put('/booking/prod/db/url', 'postgres://db')
  server.put('/booking/prod/db/password', secret, 'SecureString')
  server.put('/booking/prod/port', '8080')
  server.put('/booking/prod/features/search', 'true')
  server.put('/booking/prod/token', secret, 'SecureString')
  const { stream, lines } = logCapture()
  const fastify = Fastify({ logger: { level: 'trace', stream } })
  t.teardown(() => fastify.close())
  await fastify.register(paramsPlugin, { client, path: '/booking/prod', schema, maxAge: 0 })
  fastify.get('/token', async () => ({ length: (await fastify.params.get('/booking/prod/token', { decrypt: true })).length }))
  fastify.get('/token-json', async () => fastify.params.get('/booking/prod/token', { decrypt: true, transform: 'json' }))
  await fastify.ready()

  t.equal((await fastify.inject('/token')).json().length, secret.length)
  server.failNext(1, 'AccessDeniedException') // maxAge 0: this read refreshes, and the refresh fails
  t.equal((await fastify.inject('/token')).statusCode, 200)
  await fastify.params.settled()
  t.equal((await fastify.inject('/token-json')).statusCode, 500)
  await fastify.close()

  t.ok(lines.some((line) => line.includes('Refreshing parameter /booking/prod/token failed')), 'the refresh failure was logged')
  t.ok(lines.some((line) => line.includes('/booking/prod/token is not valid JSON')), 'the route error was logged')
  t.notOk(lines.some((line) => line.includes(secret)), 'the secret is in no log line')
})

t.test('wrong options fail register, naming the option; the caller\'s object is not changed', async (t) => {
  const { client } = await ssmForTest(t)
  const cases: Array<[unknown, RegExp]> = [
    ['nope', /options must be an object/],
    [{ clinet: client }, /unknown option "clinet"/],
    [{ client: {} }, /option "client" must be an SSMClient/],
    [{ client: null }, /option "client" must be an SSMClient/],
    [{ region: '' }, /option "region" must be a non-empty string/],
    [{ maxAge: -1 }, /option "maxAge" must be a number from 0/],
    [{ file: 'x.json', path: 'relative', schema }, /option "path" must be a parameter path starting with "\/"/],
    [{ file: 'x.json', path: '/p', schema: { type: 'object' } }, /option "schema" must be a TypeBox schema/],
    [{ file: 'x.json', client }, /option "file" replaces SSM/],
    [{ file: 'x.json', endpoint: 'http://localhost' }, /option "file" replaces SSM/],
    [{ file: 'x.json', timeoutMs: 100 }, /option "file" replaces SSM: it cannot be combined with "client", "region", "endpoint" or "timeoutMs"/],
    [{ client, timeoutMs: 0 }, /option "timeoutMs" must be an integer/],
    [{ client, region: 'us-east-1' }, /"region" and "endpoint" configure a client made here/],
    [{ client, path: '/p' }, /options "path" and "schema" go together/],
    [{ client, schema }, /options "path" and "schema" go together/]
  ]
  for (const [options, message] of cases) {
    const fastify = Fastify()
    if (typeof options === 'object') Object.freeze(options)
    await t.rejects(async () => { await fastify.register(paramsPlugin, options as ParamsOptions) }, { code: 'HALO_ERR_OPTION', message }, String(message))
    await fastify.close()
  }
  const options = Object.freeze({ client, maxAge: 10 })
  await app(t, options)
  t.same(options, { client, maxAge: 10 })
})
