// Hostile input from a client (issue 13): whatever a request holds, the answer is a 2xx or a 4xx problem,
// never a 5xx or Node's bare 400, and header values are read by the letter of their rules.
import { once } from 'node:events'
import { connect, type AddressInfo } from 'node:net'
import type { Socket } from 'node:net'
import t from 'tap'
import type { ConnectionError } from 'fastify'
import { answerClientError } from '../plugins/server-options.js'
import { buildApp } from './helpers/app.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('a JSON body nested 3,000 levels deep on an idempotent route is processed and replayed', async (t) => {
  let runs = 0
  const { app } = await buildApp({ idempotency: { key: 'payload' } }, (app) => {
    app.post('/orders', async () => ({ run: ++runs }))
  })
  t.teardown(() => app.close())
  const depth = 3_000
  const payload = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
  const send = () => app.inject({ method: 'POST', url: '/orders', headers: { 'content-type': 'application/json' }, payload })
  const first = await send()
  t.equal(first.statusCode, 200, first.body)
  t.same(first.json(), { run: 1 })
  const repeat = await send()
  t.same(repeat.json(), { run: 1 }, 'the same deep body replays the first answer')
  t.equal(runs, 1)
})

/** Sends raw bytes over a socket and returns everything the server writes back before closing. */
async function rawExchange (port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  socket.write(request)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await once(socket, 'close')
  return Buffer.concat(chunks).toString()
}

t.test('a bare CR or LF in a header is answered 400 as problem+json with a trace id', async (t) => {
  const { app, logs } = await buildApp({}, (app) => { app.get('/', async () => 'ok') })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  for (const header of ['X-Evil: one\rtwo', 'X-Evil: one\ntwo\u0000']) {
    const answer = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\n${header}\r\n\r\n`)
    const [head, body] = answer.split('\r\n\r\n')
    t.match(head, /^HTTP\/1\.1 400 Bad Request\r\n/)
    t.match(head, /\r\ncontent-type: application\/problem\+json; charset=utf-8\r\n/i)
    const problem = JSON.parse(body) as Record<string, unknown>
    t.match(problem, { status: 400, title: 'Bad Request', code: 'HTTP_400', detail: 'The request is not valid HTTP', traceId: uuid })
    t.match(head, new RegExp(`\r\nx-correlation-id: ${problem.traceId as string}\r\n`))
    t.notMatch(answer, /evil|one|two/i, 'nothing of the request is echoed')
  }
  const overflow = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(overflow, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
  t.match(JSON.parse(overflow.split('\r\n\r\n')[1]), { status: 431, code: 'HTTP_431', traceId: uuid })
  t.notOk(logs.raw.some((line) => line.includes('aaaa')), 'the refused request is not logged')
  t.equal((await app.inject({ url: '/' })).body, 'ok', 'the server still serves')
})

t.test('the client error handler: 408 for a request too slow, nothing for a connection already gone', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const socket = (state: { destroyed?: boolean, writable?: boolean }) => {
    const seen = { written: '', destroyed: 0 }
    const fake = { destroyed: false, writable: true, ...state, write (text: string) { seen.written += text }, destroy () { seen.destroyed++ } }
    return { fake: fake as unknown as Socket, seen }
  }
  const failure = (code: string) => Object.assign(new Error(code), { code }) as ConnectionError
  const slow = socket({})
  answerClientError.call(app, failure('ERR_HTTP_REQUEST_TIMEOUT'), slow.fake)
  t.match(slow.seen.written, /^HTTP\/1\.1 408 Request Timeout\r\n[^]*"detail":"The request was not received in time"/)
  t.equal(slow.seen.destroyed, 1)
  const closing = socket({ writable: false })
  answerClientError.call(app, failure('HPE_INVALID_HEADER_TOKEN'), closing.fake)
  t.same(closing.seen, { written: '', destroyed: 1 }, 'a socket that cannot be written is only closed')
  for (const [code, state] of [['ECONNRESET', {}], ['HPE_INVALID_METHOD', { destroyed: true }]] as const) {
    const gone = socket(state)
    answerClientError.call(app, failure(code), gone.fake)
    t.same(gone.seen, { written: '', destroyed: 0 }, `${code}: nothing to answer`)
  }
})

t.test('call-chain-length takes decimal integers only; a huge one is a loop, anything else a warning', async (t) => {
  const { app, logs } = await buildApp({ correlation: { maxCallChainLength: 10 } }, (app) => {
    app.get('/', async (request) => request.correlationIds['call-chain-length'])
  })
  t.teardown(() => app.close())
  const send = (value: string) => app.inject({ url: '/', headers: { 'call-chain-length': value } })
  for (const looping of ['10', '1000000', '99999999999999999999999']) {
    const refused = await send(looping)
    t.equal(refused.statusCode, 508, `${looping} is at or past the limit`)
    t.equal(refused.json().code, 'HALO_ERR_LOOP_DETECTED')
  }
  t.equal((await send('09')).body, '10', 'leading zeros are still decimal')
  for (const unreadable of ['0x10', '1e1', '-5', '2.5', 'nine']) {
    const response = await send(unreadable)
    t.equal(response.statusCode, 200, `${unreadable} is not a number`)
    t.equal(response.body, '1', 'counted as 0')
  }
  const warnings = logs.lines.filter((line) => line.msg === 'call-chain-length header is not a decimal integer; counted as 0')
  t.equal(warnings.length, 5)
  t.ok(warnings.every((line) => line.level === 'warn'))
})

t.test('a repeated x-correlation-id header is replaced as invalid', async (t) => {
  const { app, logs } = await buildApp({}, (app) => { app.get('/', async (request) => request.correlationId) })
  t.teardown(() => app.close())
  for (const repeated of ['one, two', ['one', 'two']]) {
    const response = await app.inject({ url: '/', headers: { 'x-correlation-id': repeated } })
    t.match(response.body, uuid)
    t.equal(response.headers['x-correlation-id'], response.body)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const overSocket = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Correlation-Id: one\r\nX-Correlation-Id: two\r\nConnection: close\r\n\r\n')
  t.match(overSocket.split('\r\n\r\n')[1], uuid, 'a header sent twice on the wire')
  t.equal(logs.lines.filter((line) => line.reason === 'repeated header').length, 3)
})

t.test('debug-log-enabled takes exactly "true" or "false"; any other spelling is ignored', async (t) => {
  const { app } = await buildApp({ logging: { sampleRate: 0 } }, (app) => {
    app.get('/', async (request) => ({ debug: request.debugLogEnabled, forwarded: request.correlationIds['debug-log-enabled'] }))
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/', headers: { 'debug-log-enabled': 'true' } })).json(), { debug: true, forwarded: 'true' })
  for (const other of ['TRUE', 'True', ' true', 'true, true', '1', 'yes']) {
    const response = await app.inject({ url: '/', headers: { 'debug-log-enabled': other } })
    t.same(response.json(), { debug: false, forwarded: 'false' }, `${JSON.stringify(other)} does not turn debug on`)
  }
})
