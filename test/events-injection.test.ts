// A record's request and response (lib/events/injection.ts) stand in for Node's: what Fastify and a route do
// with the raw objects of a record works as over HTTP, and the record's outcome follows its answer.
import t from 'tap'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import halo, { createLambdaHandler, haloServerOptions } from '../index.js'
import { RecordRequest, type RecordAnswer } from '../lib/events/injection.js'
import { buildApp } from './helpers/app.js'
import { sqsEvent } from './helpers/events.js'
import { lambdaContext } from './helpers/lambda.js'
import { captureLogs } from './helpers/logs.js'

/** Invokes the handler with one SQS record addressed to `path`; says whether the record failed. */
async function recordFailed (app: FastifyInstance, path: string): Promise<boolean> {
  const handler = createLambdaHandler(app, { events: { sqs: (record) => (record as { body: string }).body } })
  const answer = await handler(sqsEvent([{ body: path }]), lambdaContext())
  return (answer as { batchItemFailures: unknown[] }).batchItemFailures.length > 0
}

t.test('what a route does with the raw request and response of a record', async (t) => {
  const seen: Record<string, unknown> = {}
  const { app, logs } = await buildApp({}, (app) => {
    app.addHook('onTimeout', async () => {})
    app.post('/request', async (request) => {
      seen.ip = request.ip
      seen.protocol = request.protocol
      seen.httpVersion = request.raw.httpVersion
      seen.rawHeaders = request.raw.rawHeaders
      return {}
    })
    app.post('/stream', async (_request, reply) => reply.type('text/plain').send(Readable.from(['a', 'b'])))
    app.post('/hijack', async (_request, reply) => {
      reply.hijack()
      reply.raw.writeHead(201, 'Made', ['x-raw', 'yes'])
      reply.raw.end('done')
    })
    app.post('/hints', async (_request, reply) => {
      await new Promise<void>((resolve) => reply.writeEarlyHints({ link: '</style.css>; rel=preload' }, resolve))
      return {}
    })
    app.post('/trailer', async (_request, reply) => reply.trailer('x-sum', async () => 'abc').send('body'))
    app.post('/headers', async (_request, reply) => {
      reply.raw.setHeader('X-Set', ['1', '2'])
      seen.names = reply.raw.getHeaderNames()
      seen.has = reply.raw.hasHeader('x-set')
      reply.raw.removeHeader('x-set')
      seen.removed = !reply.raw.hasHeader('X-Set')
      seen.before = reply.raw.headersSent
      reply.raw.flushHeaders()
      seen.after = reply.raw.headersSent
      return {}
    })
    app.post('/cut', async (_request, reply) => {
      const stream = new Readable({ read () {} })
      stream.push('first')
      setImmediate(() => stream.destroy(new Error('source broke')))
      return reply.type('text/plain').send(stream)
    })
  })
  t.teardown(() => app.close())

  t.notOk(await recordFailed(app, '/request'))
  t.same(seen, { ip: '127.0.0.1', protocol: 'http', httpVersion: '1.1', rawHeaders: seen.rawHeaders })
  t.ok((seen.rawHeaders as string[]).includes('idempotency-key'), 'raw headers come in name, value pairs')
  t.notOk(await recordFailed(app, '/stream'), 'a streamed answer is piped into the response')
  t.notOk(await recordFailed(app, '/hijack'), 'a hijacked reply answers through the raw response')
  t.notOk(await recordFailed(app, '/hints'), 'early hints are dropped, their callback called')
  t.notOk(await recordFailed(app, '/trailer'), 'trailers are dropped')
  t.notOk(await recordFailed(app, '/headers'))
  t.same(seen.names, ['x-set'])
  t.match(seen, { has: true, removed: true, before: false, after: true })
  t.ok(await recordFailed(app, '/cut'), 'an answer cut off is a failure')
  t.ok(logs.lines.some((line) => line.msg === 'record failed: its answer was cut off' && line.level === 'error'))
})

t.test('a request that fails before its route (a URL rewrite that is not a string) fails its record', async (t) => {
  const logs = captureLogs()
  const app = Fastify({
    ...haloServerOptions({ service: 'test-service', stream: logs.stream }),
    rewriteUrl: (request) => (request.url === '/unroutable' ? 42 : request.url) as string
  })
  await app.register(halo)
  app.post('/unroutable', async () => ({}))
  t.teardown(() => app.close())
  t.ok(await recordFailed(app, '/unroutable'))
  t.ok(logs.lines.some((line) => line.msg === 'record failed: its answer was cut off'))
})

t.test('the response keeps status and headers, as ServerResponse takes them', async (t) => {
  const answers: RecordAnswer[] = []
  const request = new RecordRequest('/x', { 'content-type': 'text/plain' }, 'héllo', (answer) => answers.push(answer))
  t.equal(request.headers['content-length'], '6', 'the body is counted in bytes')
  const response = request.response
  response.writeHead(202, { 'X-One': '1' })
  t.equal(response.getHeader('x-one'), '1')
  response.writeHead(203, 'Fine', ['X-Two', '2'])
  t.same(response.getHeaders(), { 'x-one': '1', 'x-two': '2' })
  t.equal(response.statusMessage, 'Fine')
  response.writeHead(204)
  const early: string[] = []
  response.writeEarlyHints({ link: '</a>' })
  response.writeEarlyHints({ link: '</a>' }, () => early.push('told'))
  t.same(early, ['told'])
  response.addTrailers({ 'x-sum': 'abc' })
  response.end('ignored')
  await once(response, 'close')
  t.same(answers, [{ statusCode: 204, headers: { 'x-one': '1', 'x-two': '2' }, ended: true }], 'one answer')
})
