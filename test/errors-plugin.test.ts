import t from 'tap'
import Fastify from 'fastify'
import { buildApp } from './helpers/app.js'
import { errorsPlugin, HALO_ERR_TIMEOUT } from '../index.js'
import { toProblem } from '../lib/problem.js'

const problemType = 'application/problem+json; charset=utf-8'

async function appWithRoutes (exposeErrors?: boolean): ReturnType<typeof buildApp> {
  return await buildApp(exposeErrors === undefined ? {} : { errors: { exposeErrors } }, (app) => {
    app.get('/boom', async () => { throw new Error('database password is hunter2') })
    app.get('/driver', async () => { throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.3:5432'), { code: 'ECONNREFUSED' }) })
    app.get('/teapot', async () => { throw Object.assign(new Error('short and stout'), { statusCode: 418, code: 'TEAPOT' }) })
    app.get('/unavailable', async () => { throw Object.assign(new Error('maintenance window'), { statusCode: 503, code: 'MAINTENANCE' }) })
    app.get('/timeout', async () => { throw new HALO_ERR_TIMEOUT(10) })
    app.post('/items', {
      schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, count: { type: 'integer', minimum: 1 } } } }
    }, async (request) => request.body)
  })
}

t.test('a thrown error is a 500 problem with the trace id and nothing internal', async (t) => {
  const { app, logs } = await appWithRoutes()
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/boom', headers: { 'x-correlation-id': 'trace-1' } })
  t.equal(response.statusCode, 500)
  t.equal(response.headers['content-type'], problemType)
  t.equal(response.headers['x-correlation-id'], 'trace-1')
  const body = response.json()
  t.same(Object.keys(body).sort(), ['code', 'detail', 'status', 'title', 'traceId', 'type'])
  t.match(body, { status: 500, title: 'Internal Server Error', code: 'HALO_ERR_INTERNAL', traceId: 'trace-1' })
  t.notOk(response.body.includes('hunter2'))
  t.notOk(response.body.includes('at '), 'no stack')
  const errorLines = logs.lines.filter((line) => line.level === 'error')
  t.equal(errorLines.length, 1, 'logged once at error level')
  t.equal(errorLines[0]!.correlationId, 'trace-1')
  t.match(errorLines[0], { err: { message: 'database password is hunter2' } })
  const driver = (await app.inject({ url: '/driver' })).json()
  t.equal(driver.code, 'HALO_ERR_INTERNAL', 'a driver code without a status of its own is not shown')
  t.notOk(driver.detail.includes('10.0.0.3'))
})

t.test('exposeErrors: true shows the message', async (t) => {
  const { app } = await appWithRoutes(true)
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/boom' })).json().detail, 'database password is hunter2')
})

t.test('errors with a statusCode and code keep them', async (t) => {
  const { app, logs } = await appWithRoutes()
  t.teardown(() => app.close())
  t.match((await app.inject({ url: '/teapot' })).json(), { status: 418, code: 'TEAPOT', detail: 'short and stout', title: "I'm a Teapot" })
  t.match((await app.inject({ url: '/unavailable' })).json(), { status: 503, code: 'MAINTENANCE', detail: 'Service Unavailable' })
  t.match((await app.inject({ url: '/timeout' })).json(), { status: 504, code: 'HALO_ERR_TIMEOUT', type: 'urn:fastify-halo:problem:HALO_ERR_TIMEOUT' })
  t.ok(logs.lines.some((line) => line.level === 'info' && line.code === 'TEAPOT'), '4xx logged at info')
})

t.test('404s, malformed JSON, huge bodies and validation failures are problems too', async (t) => {
  const { app } = await appWithRoutes()
  t.teardown(() => app.close())
  const notFound = await app.inject({ url: '/nowhere', headers: { 'x-correlation-id': 'lost' } })
  t.equal(notFound.statusCode, 404)
  t.equal(notFound.headers['content-type'], problemType)
  t.equal(notFound.headers['x-correlation-id'], 'lost')
  t.match(notFound.json(), { code: 'HALO_ERR_NOT_FOUND', traceId: 'lost', detail: 'Route GET:/nowhere not found' })

  const malformed = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: '{"name": ' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.headers['content-type'], problemType)
  t.match(malformed.json(), { status: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' })

  const huge = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: `{"name":"${'x'.repeat(1_100_000)}"}` })
  t.equal(huge.statusCode, 413)
  t.match(huge.json(), { status: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })

  const missing = await app.inject({ method: 'POST', url: '/items', payload: { count: 2 } })
  t.equal(missing.statusCode, 400)
  t.equal(missing.headers['content-type'], problemType)
  t.match(missing.json(), { code: 'HALO_ERR_VALIDATION', errors: [{ path: 'body/name', message: "must have required property 'name'" }] })
  const invalid = await app.inject({ method: 'POST', url: '/items', payload: { name: 'x', count: 0 } })
  t.match(invalid.json(), { code: 'HALO_ERR_VALIDATION', errors: [{ path: 'body/count', message: 'must be >= 1' }] })

  const unsupported = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'text/x-mystery' }, payload: 'x' })
  t.match(unsupported.json(), { status: 415 })
})

t.test('problem bodies for odd thrown values', async (t) => {
  t.match(toProblem({}, 't', false), { status: 500, code: 'HALO_ERR_INTERNAL' })
  t.match(toProblem({ statusCode: 302 }, 't', false), { status: 500 })
  t.match(toProblem({ status: 409, message: 'conflict' }, 't', false), { status: 409, code: 'HTTP_409', detail: 'conflict' })
  t.match(toProblem({ statusCode: 599, code: 'ODD' }, 't', false), { status: 599, title: 'Error', detail: 'Error' })
  t.match(toProblem({ statusCode: 499 }, 't', false), { status: 499, title: 'Error', detail: 'Error' })
  t.match(toProblem({ validation: [{}] }, 't', false), { detail: 'Request validation failed', errors: [{ path: 'body', message: 'is invalid' }] })
  t.match(toProblem({ statusCode: 500, code: 'HALO_ERR_SAGA_ROLLBACK', problemExtensions: () => ({ failedState: 'BookFlight' }) }, 't', false), { failedState: 'BookFlight' })
})

t.test('errorsPlugin alone uses the request id as trace id', async (t) => {
  const app = Fastify()
  await app.register(errorsPlugin)
  app.get('/', async () => { throw new Error('x') })
  t.teardown(() => app.close())
  const body = (await app.inject({ url: '/' })).json()
  t.match(body.traceId, /^req-/)
  await t.rejects(Promise.resolve(Fastify().register(errorsPlugin, { exposeErrors: 'yes' as unknown as boolean }).ready()), /errorsPlugin: option "exposeErrors" must be a boolean/)
})
