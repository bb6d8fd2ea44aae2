import t, { type Test } from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import {
  HaloParams, SsmSource, FileSource, loadConfig, envOverrideName, REFRESH_RETRY_MS, type ParamsLogger, type HaloParamsOptions
} from '../lib/params/index.js'
import { ssmClient, startSsmServer, type SsmServer } from './helpers/ssm-server.js'

interface Warning { obj: Record<string, unknown>, msg: string }

async function setup (t: Test, options: Partial<HaloParamsOptions> = {}) {
  const server = await startSsmServer()
  const client = ssmClient(server.url)
  const clock = { now: 0 }
  const warnings: Warning[] = []
  const logger: ParamsLogger = { warn (obj, msg) { warnings.push({ obj: obj as Record<string, unknown>, msg }) } }
  const params = new HaloParams({ source: new SsmSource(client), logger, clock: () => clock.now, env: {}, ...options })
  t.teardown(async () => {
    await params.settled()
    client.destroy()
    await server.close()
  })
  return { server, client, params, clock, warnings }
}

/** A URL where nothing listens: connections are refused. */
async function deadEndpoint (): Promise<string> {
  const server = await startSsmServer()
  await server.close()
  return server.url
}

function putMany (server: SsmServer, prefix: string, count: number): string[] {
  const names = Array.from({ length: count }, (_, index) => `${prefix}/p${String(index).padStart(2, '0')}`)
  for (const name of names) server.put(name, `value of ${name}`)
  return names
}

t.test('get returns the value and serves it from the cache within maxAge', async (t) => {
  const { server, params, clock } = await setup(t)
  server.put('/app/url', 'https://example.com')
  t.equal(await params.get('/app/url'), 'https://example.com')
  clock.now += 299_999
  t.equal(await params.get('/app/url'), 'https://example.com')
  t.equal(await params.get('/app/url', { maxAge: 600 }), 'https://example.com')
  t.equal(server.calls.GetParameter, 1, 'the default maxAge is 300 s')
})

t.test('decrypt true and false are separate cache entries', async (t) => {
  const { server, params } = await setup(t)
  server.put('/app/password', 'hunter2', 'SecureString')
  t.equal(await params.get('/app/password'), server.ciphertext('hunter2'))
  t.equal(await params.get('/app/password', { decrypt: true }), 'hunter2')
  t.equal(await params.get('/app/password', { decrypt: false }), server.ciphertext('hunter2'))
  t.equal(await params.get('/app/password', { decrypt: true }), 'hunter2')
  t.equal(server.calls.GetParameter, 2)
})

t.test('transform json parses, cached apart from the raw string', async (t) => {
  const { server, params } = await setup(t)
  server.put('/app/limits', '{"rps":50,"burst":[1,2]}')
  t.same(await params.get('/app/limits', { transform: 'json' }), { rps: 50, burst: [1, 2] })
  t.equal(await params.get('/app/limits'), '{"rps":50,"burst":[1,2]}')
  t.same(await params.get<{ rps: number }>('/app/limits', { transform: 'json' }), { rps: 50, burst: [1, 2] })
  t.equal(server.calls.GetParameter, 2)
})

t.test('transform json on invalid JSON names the parameter and does not quote the value', async (t) => {
  const { server, params } = await setup(t)
  server.put('/app/secret', 'not-json-s3cr3t', 'SecureString')
  const error = await params.get('/app/secret', { decrypt: true, transform: 'json' }).catch((error: unknown) => error)
  t.match(error, { code: 'HALO_ERR_PARAM_INVALID', message: /\/app\/secret is not valid JSON/ })
  t.notMatch((error as Error).message, /s3cr3t/)
})

t.test('ParameterNotFound becomes HALO_ERR_PARAM_NOT_FOUND naming the parameter, and is not cached', async (t) => {
  const { server, params } = await setup(t)
  await t.rejects(params.get('/app/missing'), { code: 'HALO_ERR_PARAM_NOT_FOUND', message: 'Parameter /app/missing not found' })
  server.put('/app/missing', 'here now')
  t.equal(await params.get('/app/missing'), 'here now')
  t.equal(server.calls.GetParameter, 2)
})

t.test('concurrent first reads share one call', async (t) => {
  const { server, params } = await setup(t)
  server.put('/app/url', 'u')
  t.same(await Promise.all([params.get('/app/url'), params.get('/app/url'), params.getMany(['/app/url'])]), ['u', 'u', { '/app/url': 'u' }])
  t.equal(server.calls.GetParameter, 1)
  t.equal(server.calls.GetParameters, 0)
})

t.test('after maxAge, 100 concurrent gets get the stale value at once and cause exactly one call', async (t) => {
  const { server, params, clock } = await setup(t)
  server.put('/app/flag', 'old')
  t.equal(await params.get('/app/flag'), 'old')
  server.put('/app/flag', 'new')
  clock.now += 300_000
  server.pause() // SSM does not answer: a get that waited for it would never resolve
  const values = await Promise.all(Array.from({ length: 100 }, () => params.get('/app/flag')))
  t.ok(values.every((value) => value === 'old'), 'every get resolved with the stale value while SSM was held')
  server.resume()
  await params.settled()
  t.equal(server.calls.GetParameter, 2, 'one background refresh for the 100 gets')
  t.equal(await params.get('/app/flag'), 'new')
  t.equal(server.calls.GetParameter, 2)
})

t.test('a failed refresh keeps the last good value, warns once, and retries later', async (t) => {
  const { server, params, clock, warnings } = await setup(t)
  server.put('/app/url', 'good')
  await params.get('/app/url')
  clock.now += 300_000
  server.failNext(1, 'AccessDeniedException')
  t.equal(await params.get('/app/url'), 'good')
  await params.settled()
  t.equal(await params.get('/app/url'), 'good')
  await params.settled()
  t.equal(warnings.length, 1)
  t.match(warnings[0], { obj: { parameter: '/app/url', err: { code: 'HALO_ERR_PARAM_UNAVAILABLE' } }, msg: /\/app\/url.*last good value/ })
  t.equal(server.calls.GetParameter, 2, 'no new attempt before the retry delay')

  server.put('/app/url', 'better')
  clock.now += REFRESH_RETRY_MS
  t.equal(await params.get('/app/url'), 'good')
  await params.settled()
  t.equal(await params.get('/app/url'), 'better')
  t.equal(server.calls.GetParameter, 3)
})

t.test('without a logger a failed refresh is silent and harmless', async (t) => {
  const { server, params, clock } = await setup(t, { logger: undefined })
  server.put('/app/url', 'good')
  await params.get('/app/url')
  clock.now += 300_000
  server.failNext(1, 'AccessDeniedException')
  t.equal(await params.get('/app/url'), 'good')
  await params.settled()
  t.equal(await params.get('/app/url'), 'good')
})

t.test('throttling is retried by the SDK with backoff', async (t) => {
  const { server, client, params } = await setup(t)
  server.put('/app/url', 'u')
  server.failNext(2, 'ThrottlingException')
  t.equal(await params.get('/app/url'), 'u')
  t.equal(server.calls.GetParameter, 3)
  t.equal(client.retryAttempts.length, 2)
})

t.test('SSM unreachable on a cold read: an error naming the parameter or path', async (t) => {
  const client = ssmClient(await deadEndpoint(), { maxAttempts: 2, retryDelayMs: 1 })
  t.teardown(() => client.destroy())
  const params = new HaloParams({ source: new SsmSource(client), env: {} })
  await t.rejects(params.get('/app/url'), { code: 'HALO_ERR_PARAM_UNAVAILABLE', statusCode: 503, message: /Parameter \/app\/url could not be read: .*ECONNREFUSED/ })
  await t.rejects(params.getMany(['/a', '/b']), { code: 'HALO_ERR_PARAM_UNAVAILABLE', message: /Parameter \/a, \/b could not be read/ })
  await t.rejects(params.getByPath('/app'), { code: 'HALO_ERR_PARAM_UNAVAILABLE', message: /Parameter \/app could not be read/ })
})

/** HaloParams on an SSM whose calls time out after `timeoutMs`. */
async function setupTimed (t: Test, timeoutMs: number) {
  const server = await startSsmServer()
  const client = ssmClient(server.url)
  const clock = { now: 0 }
  const warnings: Warning[] = []
  const logger: ParamsLogger = { warn (obj, msg) { warnings.push({ obj: obj as Record<string, unknown>, msg }) } }
  const params = new HaloParams({ source: new SsmSource(client, { timeoutMs }), logger, clock: () => clock.now, env: {} })
  t.teardown(async () => {
    await params.settled()
    client.destroy()
    await server.close()
  })
  return { server, params, clock, warnings }
}

t.test('SSM that never answers: a first read fails after the timeout and does not poison the parameter', async (t) => {
  const { server, params } = await setupTimed(t, 1_000)
  server.put('/app/url', 'u')
  server.put('/app/list/a', '1')
  server.hanging = true
  const noAnswer = { code: 'HALO_ERR_PARAM_UNAVAILABLE', statusCode: 503, message: /could not be read: no answer within 1000 ms/ }
  await t.rejects(params.get('/app/url'), noAnswer)
  await t.rejects(params.getMany(['/app/url', '/app/other']), noAnswer)
  await t.rejects(params.getByPath('/app/list'), noAnswer)
  server.hanging = false
  t.equal(await params.get('/app/url'), 'u', 'once SSM answers again, so does the parameter')
  t.same(await params.getMany(['/app/url']), { '/app/url': 'u' })
  t.same(await params.getByPath('/app/list'), { '/app/list/a': '1' })
})

t.test('SSM that never answers a refresh: the stale value is served, a warning logged, and the next read tries again', async (t) => {
  const { server, params, clock, warnings } = await setupTimed(t, 1_000)
  server.put('/app/url', 'old')
  t.equal(await params.get('/app/url'), 'old')
  t.same(await params.getMany(['/app/url'], { decrypt: true }), { '/app/url': 'old' })
  clock.now += 300_000
  server.hanging = true
  t.equal(await params.get('/app/url'), 'old')
  t.same(await params.getMany(['/app/url'], { decrypt: true }), { '/app/url': 'old' })
  await params.settled()
  t.equal(warnings.length, 2, 'one warning per hung refresh')
  t.ok(warnings.every(({ obj, msg }) => /last good value/.test(msg) && /no answer within 1000 ms/.test((obj.err as Error).message)))
  server.hanging = false
  server.put('/app/url', 'new', 'String')
  clock.now += REFRESH_RETRY_MS
  t.equal(await params.get('/app/url'), 'old')
  t.same(await params.getMany(['/app/url'], { decrypt: true }), { '/app/url': 'old' })
  await params.settled()
  t.equal(await params.get('/app/url'), 'new', 'the value is not frozen')
  t.same(await params.getMany(['/app/url'], { decrypt: true }), { '/app/url': 'new' })
})

t.test('getMany batches 10 names per GetParameters call and caches each name', async (t) => {
  const { server, params } = await setup(t)
  const names = putMany(server, '/app', 23)
  const values = await params.getMany(names)
  t.equal(Object.keys(values).length, 23)
  t.equal(values['/app/p22'], 'value of /app/p22')
  t.equal(server.calls.GetParameters, 3)
  t.same(await params.getMany([names[0], names[0], names[1]]), { [names[0]]: 'value of /app/p00', [names[1]]: 'value of /app/p01' })
  t.equal(await params.get(names[5]), 'value of /app/p05')
  t.equal(server.calls.GetParameters, 3)
  t.equal(server.calls.GetParameter, 0)
})

t.test('getMany names every missing parameter at once', async (t) => {
  const { server, params } = await setup(t)
  server.put('/app/a', 'a')
  await t.rejects(params.getMany(['/app/a', '/app/x', '/app/y']), { code: 'HALO_ERR_PARAM_NOT_FOUND', message: 'Parameter /app/x, /app/y not found' })
  t.same(await params.getMany(['/app/a']), { '/app/a': 'a' })
  t.equal(server.calls.GetParameters, 1)
})

t.test('getMany refreshes stale names in the background, in batches', async (t) => {
  const { server, params, clock, warnings } = await setup(t)
  const names = putMany(server, '/app', 12)
  server.put('/app/json', '{"a":1}')
  await params.getMany(names)
  t.same(await params.getMany(['/app/json'], { transform: 'json' }), { '/app/json': { a: 1 } })
  for (const name of names) server.put(name, 'new')
  server.put('/app/json', 'broken{')
  clock.now += 300_000
  server.resetCalls()

  const stale = await params.getMany(names)
  t.equal(stale[names[0]], 'value of /app/p00', 'stale values served at once')
  await params.settled()
  t.equal(server.calls.GetParameters, 2, 'one refresh, two batches')
  t.ok(Object.values(await params.getMany(names)).every((value) => value === 'new'))

  t.same(await params.getMany(['/app/json'], { transform: 'json' }), { '/app/json': { a: 1 } })
  await params.settled()
  t.same(await params.getMany(['/app/json'], { transform: 'json' }), { '/app/json': { a: 1 } }, 'a value that fails to decode keeps the old one')
  t.match(warnings, [{ obj: { parameter: '/app/json', err: { code: 'HALO_ERR_PARAM_INVALID' } } }])

  clock.now += 300_000
  server.failNext(2, 'AccessDeniedException')
  t.equal((await params.getMany(names))[names[11]], 'new')
  await params.settled()
  t.equal(warnings.length, 1 + 12, 'one warning per parameter whose refresh failed')
})

t.test('getByPath pages through NextToken and caches the listing', async (t) => {
  const { server, params, clock } = await setup(t)
  const names = putMany(server, '/app', 25)
  server.put('/app/deep/secret', 'hunter2', 'SecureString')
  const values = await params.getByPath('/app')
  t.same(Object.keys(values).sort(), names)
  t.equal(server.calls.GetParametersByPath, 3)
  t.same(await params.getByPath('/app', { maxAge: 600 }), values)
  t.equal(server.calls.GetParametersByPath, 3)

  const recursive = await params.getByPath('/app', { recursive: true, decrypt: true })
  t.equal(recursive['/app/deep/secret'], 'hunter2')
  t.equal(Object.keys(recursive).length, 26)

  server.put('/app/p00', 'changed')
  clock.now += 300_000
  t.equal((await params.getByPath('/app'))['/app/p00'], 'value of /app/p00')
  await params.settled()
  t.equal((await params.getByPath('/app'))['/app/p00'], 'changed')
})

t.test('HALO_PARAM_* environment variables override SSM values', async (t) => {
  const env = { HALO_PARAM_APP_URL: 'from-env', HALO_PARAM_APP_P01: 'env-01' }
  const { server, params } = await setup(t, { env })
  server.put('/app/url', 'from-ssm')
  const names = putMany(server, '/app', 3)
  t.equal(await params.get('/app/url'), 'from-env')
  t.equal(server.calls.GetParameter, 0)
  t.same(await params.getMany(['/app/url', ...names]), {
    '/app/url': 'from-env', '/app/p00': 'value of /app/p00', '/app/p01': 'env-01', '/app/p02': 'value of /app/p02'
  })
  t.same(await params.getMany(['/app/url'], { decrypt: true }), { '/app/url': 'from-env' })
  t.equal(server.calls.GetParameters, 1)
  t.equal((await params.getByPath('/app'))['/app/url'], 'from-env')
  t.equal(params.override('/app/url'), 'from-env')
})

t.test('process.env is the default override source', async (t) => {
  process.env.HALO_PARAM_HALO_TEST_DEFAULT_ENV = 'yes'
  t.teardown(() => { delete process.env.HALO_PARAM_HALO_TEST_DEFAULT_ENV })
  const params = new HaloParams({ source: new FileSource({}) })
  t.equal(await params.get('/halo-test/default-env'), 'yes')
  t.equal(await params.get('/halo-test/default-env'), 'yes')
})

t.test('the override name rule', async (t) => {
  t.equal(envOverrideName('/booking/prod/db-url'), 'HALO_PARAM_BOOKING_PROD_DB_URL')
  t.equal(envOverrideName('--a..b//c__'), 'HALO_PARAM_A_B_C')
  t.equal(envOverrideName('plain'), 'HALO_PARAM_PLAIN')
})

t.test('a local file gives the same API without AWS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'halo-params-'))
  t.teardown(() => rm(dir, { recursive: true }))
  const file = join(dir, 'params.json')
  await writeFile(file, JSON.stringify({
    '/booking/prod/db/url': 'postgres://db',
    '/booking/prod/db/pool': 5,
    '/booking/prod/limits': { rps: 10 },
    '/booking/prod/name': 'booking',
    '/other': 'x'
  }))
  const params = new HaloParams({ source: await FileSource.fromFile(file), env: { HALO_PARAM_BOOKING_PROD_NAME: 'overridden' } })
  t.equal(await params.get('/booking/prod/db/url', { decrypt: true }), 'postgres://db')
  t.equal(await params.get('/booking/prod/db/pool'), '5')
  t.same(await params.get('/booking/prod/limits', { transform: 'json' }), { rps: 10 })
  t.equal(await params.get('/booking/prod/name'), 'overridden')
  await t.rejects(params.get('/nope'), { code: 'HALO_ERR_PARAM_NOT_FOUND' })
  t.same(await params.getMany(['/other', '/booking/prod/db/url']), { '/other': 'x', '/booking/prod/db/url': 'postgres://db' })
  await t.rejects(params.getMany(['/other', '/nope']), { message: 'Parameter /nope not found' })
  t.same(await params.getByPath('/booking/prod/'), {
    '/booking/prod/limits': '{"rps":10}', '/booking/prod/name': 'overridden'
  })
  t.same(Object.keys(await params.getByPath('/booking', { recursive: true })).sort(), [
    '/booking/prod/db/pool', '/booking/prod/db/url', '/booking/prod/limits', '/booking/prod/name'
  ])
})

t.test('a relative parameter file is resolved from the working directory, and a missing one named by its full path', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'halo-params-'))
  const previous = process.cwd()
  t.teardown(async () => {
    process.chdir(previous)
    await rm(dir, { recursive: true })
  })
  await writeFile(join(dir, 'params.local.json'), '{ "/svc/name": "local" }')
  process.chdir(dir)
  t.equal(await new HaloParams({ source: await FileSource.fromFile('params.local.json') }).get('/svc/name'), 'local')
  const error = await FileSource.fromFile('missing.json').catch((error: unknown) => error) as Error
  t.ok(error.message.includes(`cannot read parameter file ${join(process.cwd(), 'missing.json')}: ENOENT`), error.message)
})

t.test('a parameter file that cannot be used is refused, naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'halo-params-'))
  t.teardown(() => rm(dir, { recursive: true }))
  await t.rejects(FileSource.fromFile(join(dir, 'missing.json')), { code: 'HALO_ERR_PARAM_INVALID', message: /cannot read parameter file .*missing\.json: ENOENT/ })
  const broken = join(dir, 'broken.json')
  await writeFile(broken, '{ "/secret": "s3cr3t" ')
  const error = await FileSource.fromFile(broken).catch((error: unknown) => error) as Error
  t.match(error.message, /broken\.json is not valid JSON/)
  t.notMatch(error.message, /s3cr3t/)
  const array = join(dir, 'array.json')
  await writeFile(array, '["/a"]')
  await t.rejects(FileSource.fromFile(array), { message: /array\.json must hold a JSON object/ })
})

t.test('config: a 50-parameter path loads in at most 5 calls, nested, coerced and validated', async (t) => {
  const { server, params } = await setup(t)
  const schema = Type.Object({
    db: Type.Object({ url: Type.String(), pool: Type.Integer(), ssl: Type.Boolean() }),
    port: Type.Number(),
    debug: Type.Boolean(),
    verbose: Type.Boolean(),
    limits: Type.Object({ rps: Type.Number() }),
    hosts: Type.Array(Type.String()),
    retries: Type.Number({ default: 3 }),
    extra: Type.Record(Type.String(), Type.String()),
    password: Type.String()
  })
  server.put('/svc/prod/db/url', 'postgres://db')
  server.put('/svc/prod/db/pool', '10')
  server.put('/svc/prod/db/ssl', 'TRUE')
  server.put('/svc/prod/port', '8080.5')
  server.put('/svc/prod/debug', 'false')
  server.put('/svc/prod/verbose', '1')
  server.put('/svc/prod/limits', '{"rps":25}')
  server.put('/svc/prod/hosts', '["a","b"]')
  server.put('/svc/prod/extra/x', 'y')
  server.put('/svc/prod/password', 'hunter2', 'SecureString')
  server.put('/svc/prod/db/admin-password', 'other-secret', 'SecureString')
  server.put('/svc/prod/extra-secret', 'other-secret', 'SecureString')
  putMany(server, '/svc/prod/unlisted', 38)
  const config = await loadConfig(params, { path: '/svc/prod', schema })
  t.ok(server.calls.GetParametersByPath <= 5, `${server.calls.GetParametersByPath} calls`)
  t.match(config, {
    db: { url: 'postgres://db', pool: 10, ssl: true },
    port: 8080.5,
    debug: false,
    verbose: true,
    limits: { rps: 25 },
    hosts: ['a', 'b'],
    retries: 3,
    extra: { x: 'y' },
    password: 'hunter2'
  })
  t.notOk('unlisted' in config, 'parameters the schema does not name are left out')
  t.notMatch(JSON.stringify(config), 'other-secret', 'a secret outside the schema is not in the configuration')
  const port: number = config.port
  t.equal(port, 8080.5)
})

t.test('config: missing and invalid values fail in one error naming each, values never quoted', async (t) => {
  const { server, params } = await setup(t)
  const schema = Type.Object({
    db: Type.Object({ url: Type.String(), pool: Type.Integer() }),
    port: Type.Number(),
    debug: Type.Boolean(),
    limits: Type.Object({ rps: Type.Number() }),
    name: Type.String({ minLength: 3, pattern: '^[a-z]+$' }),
    empty: Type.Number()
  })
  server.put('/svc/db/pool', '2.5')
  server.put('/svc/port', 'eighty')
  server.put('/svc/debug', 'maybe')
  server.put('/svc/limits', '{"rps":')
  server.put('/svc/name', 'S3')
  server.put('/svc/empty', ' ')
  const error = await loadConfig(params, { path: '/svc', schema }).catch((error: unknown) => error) as Error
  t.match(error, { code: 'HALO_ERR_PARAM_INVALID' })
  t.match(error.message, '/svc/db/url is missing')
  t.match(error.message, '/svc/db/pool is invalid: Expected integer')
  t.match(error.message, '/svc/port is invalid: Expected number')
  t.match(error.message, '/svc/debug is invalid: Expected boolean')
  t.match(error.message, '/svc/limits is not valid JSON')
  t.match(error.message, '/svc/empty is invalid: Expected number')
  t.equal(error.message.match(/\/svc\/name/g)?.length, 1, 'one problem per parameter')
  t.notMatch(error.message, /eighty|maybe|S3/)
})

t.test('config: a parameter below another parameter is a conflict', async (t) => {
  const { server, params } = await setup(t)
  server.put('/svc/db', 'postgres://db')
  server.put('/svc/db/url', 'postgres://other')
  const schema = Type.Object({ db: Type.String() })
  await t.rejects(loadConfig(params, { path: '/svc/', schema }), { message: /\/svc\/db\/url conflicts with parameter \/svc\/db/ })
})

t.test('config: environment overrides apply, also to names the source lacks', async (t) => {
  const env = { HALO_PARAM_SVC_DB_URL: 'postgres://env', HALO_PARAM_SVC_LIMITS: '{"rps":7}', HALO_PARAM_SVC_PORT: '9000' }
  const { server, params } = await setup(t, { env })
  server.put('/svc/db/url', 'postgres://ssm')
  server.put('/svc/__proto__', 'odd')
  const schema = Type.Object({
    db: Type.Object({ url: Type.String() }),
    limits: Type.Object({ rps: Type.Number() }),
    port: Type.Integer()
  })
  const config = await loadConfig(params, { path: '/svc', schema })
  t.equal(config.db.url, 'postgres://env')
  t.equal(config.limits.rps, 7)
  t.equal(config.port, 9000)
  t.equal(Object.getPrototypeOf(config), null)
  t.equal(Object.getOwnPropertyDescriptor(config, '__proto__')?.value, 'odd', 'a parameter named __proto__ is a plain key')
})
