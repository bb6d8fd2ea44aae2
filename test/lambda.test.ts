import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './helpers/app.js'
import { EVENT_SHAPES, lambdaContext, lambdaEvent } from './helpers/lambda.js'
import { createLambdaHandler } from '../index.js'
import { isBinaryResponse } from '../plugins/lambda.js'

const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80])

function routes (app: FastifyInstance): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
  app.get('/hello', async (request) => ({ hello: request.query, correlationId: request.correlationId }))
  app.post('/echo', async (request) => ({ received: request.body }))
  app.post('/bytes', async (request, reply) => {
    const bytes = request.body as Buffer
    return reply.type('application/octet-stream').send(Buffer.from(bytes.map((byte) => 255 - byte)))
  })
  app.get('/fail', async () => { throw new Error('secret') })
}

interface Answer { status: number, contentType: string, correlationId: string, body: Buffer }

t.test('the same app answers the same through inject, a real socket and four Lambda event shapes', async (t) => {
  const { app } = await buildApp({}, routes)
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const handler = createLambdaHandler(app)

  const calls = [
    { method: 'GET', path: '/hello', query: { name: 'halo' } },
    { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' },
    { method: 'POST', path: '/bytes', headers: { 'content-type': 'application/octet-stream' }, body: png, binary: true },
    { method: 'GET', path: '/fail' },
    { method: 'GET', path: '/missing' }
  ]
  for (const call of calls) {
    const headers = { ...call.headers, 'x-correlation-id': 'same-everywhere' }
    const url = call.path + (call.query === undefined ? '' : `?${new URLSearchParams(call.query).toString()}`)
    const injected = await app.inject({ method: call.method as 'GET', url, headers, ...(call.body !== undefined && { payload: call.body }) })
    const expected: Answer = { status: injected.statusCode, contentType: injected.headers['content-type'] as string, correlationId: injected.headers['x-correlation-id'] as string, body: injected.rawPayload }

    const socket = await fetch(address + url, { method: call.method, headers, ...(call.body !== undefined && { body: call.body }) })
    t.same({ status: socket.status, contentType: socket.headers.get('content-type'), correlationId: socket.headers.get('x-correlation-id'), body: Buffer.from(await socket.arrayBuffer()) }, expected, `socket ${call.method} ${call.path}`)

    for (const shape of EVENT_SHAPES) {
      const result = await handler(lambdaEvent(shape, { method: call.method, path: call.path, headers, ...(call.query !== undefined && { query: call.query }), ...(call.body !== undefined && { body: call.body, binary: call.binary === true }) }), lambdaContext())
      const body = result.isBase64Encoded === true ? Buffer.from(result.body, 'base64') : Buffer.from(result.body)
      t.same({ status: result.statusCode, contentType: result.headers['content-type'], correlationId: result.headers['x-correlation-id'], body }, expected, `${shape} ${call.method} ${call.path}`)
    }
  }
  t.same((await app.inject({ method: 'POST', url: '/bytes', headers: { 'content-type': 'application/octet-stream' }, payload: png })).rawPayload, Buffer.from(png.map((byte) => 255 - byte)))
})

t.test('the handler readies the app once and never waits for the event loop', async (t) => {
  const { app } = await buildApp({}, routes)
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { binaryMimeTypes: ['image/png'] })
  const context = lambdaContext()
  const [first, second] = await Promise.all([handler(lambdaEvent('v2', { path: '/hello' }), context), handler(lambdaEvent('v1', { path: '/hello' }), lambdaContext())])
  t.equal(first.statusCode, 200)
  t.equal(second.statusCode, 200)
  t.equal(context.callbackWaitsForEmptyEventLoop, false)
})

t.test('binary detection', async (t) => {
  const answer = (headers: Record<string, string>): Parameters<typeof isBinaryResponse>[0] => ({ headers } as unknown as Parameters<typeof isBinaryResponse>[0])
  t.equal(isBinaryResponse(answer({ 'content-type': 'application/json; charset=utf-8' })), false)
  t.equal(isBinaryResponse(answer({ 'content-type': 'application/problem+json; charset=utf-8' })), false)
  t.equal(isBinaryResponse(answer({ 'content-type': 'text/html' })), false)
  t.equal(isBinaryResponse(answer({ 'content-type': 'application/xml' })), false)
  t.equal(isBinaryResponse(answer({})), false)
  t.equal(isBinaryResponse(answer({ 'content-type': 'image/png' })), true)
  t.equal(isBinaryResponse(answer({ 'content-type': 'text/plain', 'content-encoding': 'gzip' })), true)
  t.equal(isBinaryResponse(answer({ 'content-type': 'text/plain', 'content-encoding': 'identity' })), false)
})

t.test('a wrong handler option fails at once', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  // @ts-expect-error not an option of the handler
  t.throws(() => createLambdaHandler(app, { payloadAsStream: true }), /createLambdaHandler: unknown option "payloadAsStream"/)
  t.throws(() => createLambdaHandler(app, { binaryMimeTypes: [1 as unknown as string] }), /must be an array of strings/)
})
