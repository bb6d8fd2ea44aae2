// Idempotent invocations through the plugin (issue 4, acceptance 1-10): one behavioural suite run against the
// memory store and DynamoDBIdempotencyStore on the helper's DynamoDB (DynamoDB Local when Java is there), then
// what only DynamoDB shows (cost per request, a killed process, an unreachable endpoint), Lambda, a real socket,
// and the options.
import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { createLambdaHandler, type HaloOptions } from '../index.js'
import { DynamoDBIdempotencyStore, MemoryIdempotencyStore, type IdempotencyStore } from '../lib/idempotency/index.js'
import { idempotencyPlugin, type IdempotencyOptions } from '../plugins/idempotency.js'
import { buildApp, type TestApp } from './helpers/app.js'
import { freePort, recordCommands, startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'
import { httpApiEvent, lambdaContext, restApiEvent } from './helpers/lambda.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
const KEY = 'idempotency-key'
const REPLAYED = 'idempotent-replayed'

/**
 * A Halo app with idempotency. The routes are added in a plugin of their own, loaded after idempotencyPlugin,
 * whose onRoute hook must see them.
 */
async function idempotentApp (
  t: Test,
  options: IdempotencyOptions,
  routes: (app: FastifyInstance) => void,
  haloOptions: HaloOptions = {},
  level: 'info' | 'debug' = 'info'
): Promise<TestApp> {
  const built = await buildApp({ ...haloOptions, idempotency: options }, (app) => {
    app.register(async (scope) => {
      scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
      routes(scope)
    })
  }, level)
  t.teardown(() => built.app.close())
  return built
}

/** A promise and the function that settles it: lets a test hold a handler mid-request. */
function latch (): { released: Promise<void>, release: () => void } {
  let release = (): void => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  return { released, release }
}

/** The same store, with some of its operations replaced. */
function storeWith (store: IdempotencyStore, overrides: Partial<IdempotencyStore>): IdempotencyStore {
  return {
    claim: overrides.claim ?? store.claim.bind(store),
    complete: overrides.complete ?? store.complete.bind(store),
    release: overrides.release ?? store.release.bind(store)
  }
}

/** An endpoint where nothing listens. */
async function closedEndpoint (): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`
}

/** An endpoint that accepts connections and never answers. */
async function blackHole (t: Test): Promise<string> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => { sockets.add(socket) }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function unreachableClient (t: Test, endpoint: string): DynamoDBClient {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 2 })
  t.teardown(() => client.destroy())
  return client
}

function problemCode (response: LightMyRequestResponse): string {
  return response.json().code
}

const dynamodb = await startDynamoDB()
t.teardown(dynamodb.stop)
const table = uniqueTableName('idempotency-plugin')
await new DynamoDBIdempotencyStore({ table, client: dynamodb.client }).ensureTable()
const commands = recordCommands(dynamodb.client)

const stores: Array<{ name: string, store: () => IdempotencyStore }> = [
  { name: 'memory', store: () => new MemoryIdempotencyStore() },
  { name: `dynamodb on ${dynamodb.engine}`, store: () => new DynamoDBIdempotencyStore({ table, client: dynamodb.client }) }
]

for (const { name, store: newStore } of stores) {
  t.test(`${name}: a repeat replays status, body byte for byte, content-type and the route's headers; the handler ran once`, async (t) => {
    let runs = 0
    const image = randomBytes(4096)
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.addHook('onRequest', async (request, reply) => { reply.header('x-seen-by', request.correlationId) })
      app.post<{ Body: { amount: number } }>('/orders', async (request, reply) => {
        runs++
        reply.code(201).header('x-order-id', `order-${runs}`).header('x-items', 3).header('cache-control', 'no-store').header('set-cookie', 'session=first')
        return { order: runs, amount: request.body.amount, note: 'café ✓' }
      })
      app.post('/images', async (_request, reply) => {
        runs++
        return reply.type('image/png').send(image)
      })
      app.post('/empty', async (_request, reply) => {
        runs++
        return reply.code(201).send()
      })
      app.delete('/orders/:id', async (_request, reply) => {
        runs++
        return reply.code(204).send()
      })
    })
    const key = randomUUID()
    const order = { method: 'POST' as const, url: '/orders', payload: { amount: 10 } }
    const first = await app.inject({ ...order, headers: { [KEY]: key, 'x-correlation-id': 'first-call' } })
    const repeat = await app.inject({ ...order, headers: { [KEY]: key, 'x-correlation-id': 'second-call' } })
    t.equal(first.statusCode, 201)
    t.equal(first.headers[REPLAYED], undefined, 'a first answer is not a replay')
    t.equal(repeat.statusCode, 201)
    t.equal(repeat.headers[REPLAYED], 'true')
    t.ok(repeat.rawPayload.equals(first.rawPayload), 'the same bytes')
    t.same(repeat.json(), { order: 1, amount: 10, note: 'café ✓' })
    for (const header of ['content-type', 'content-length', 'x-order-id', 'x-items', 'cache-control']) {
      t.equal(repeat.headers[header], first.headers[header], header)
    }
    t.equal(repeat.headers['x-correlation-id'], 'second-call', 'the replay carries the current correlation id')
    t.equal(repeat.headers['x-seen-by'], 'second-call', 'a header set for the current request keeps its current value')
    t.equal(first.headers['set-cookie'], 'session=first')
    t.equal(repeat.headers['set-cookie'], undefined, 'cookies are never replayed')
    t.equal(runs, 1)

    const upload = { method: 'POST' as const, url: '/images', payload: randomBytes(512), headers: { [KEY]: key, 'content-type': 'application/octet-stream' } }
    const firstImage = await app.inject(upload)
    const replayedImage = await app.inject(upload)
    t.equal(replayedImage.headers['content-type'], 'image/png')
    t.equal(replayedImage.headers[REPLAYED], 'true')
    t.ok(replayedImage.rawPayload.equals(image) && firstImage.rawPayload.equals(image), 'a binary body, byte for byte')
    t.equal(runs, 2, 'the same key on another route is another operation')

    for (const request of [{ method: 'POST' as const, url: '/empty' }, { method: 'DELETE' as const, url: '/orders/7' }]) {
      const emptyFirst = await app.inject({ ...request, headers: { [KEY]: key } })
      const emptyRepeat = await app.inject({ ...request, headers: { [KEY]: key } })
      t.equal(emptyRepeat.statusCode, emptyFirst.statusCode, request.url)
      t.equal(emptyRepeat.headers[REPLAYED], 'true')
      t.equal(emptyRepeat.headers['content-type'], undefined, 'an empty answer gains no content-type')
      t.equal(emptyRepeat.headers['content-length'], emptyFirst.headers['content-length'])
      t.equal(emptyRepeat.payload, '')
    }
    t.equal(runs, 4)
  })

  t.test(`${name}: no key, GET and HEAD, and opted-out routes are never deduplicated`, async (t) => {
    const runs = { post: 0, get: 0, optedOut: 0 }
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post('/orders', async () => ({ run: ++runs.post }))
      app.get('/orders', async () => ({ run: ++runs.get }))
      app.post('/search', { config: { idempotency: false } }, async () => ({ run: ++runs.optedOut }))
    })
    await app.inject({ method: 'POST', url: '/orders', payload: { a: 1 } })
    const second = await app.inject({ method: 'POST', url: '/orders', payload: { a: 1 } })
    t.same(second.json(), { run: 2 }, 'without a key, every request runs')
    const key = randomUUID()
    for (const method of ['GET', 'HEAD', 'GET'] as const) {
      const response = await app.inject({ method, url: '/orders', headers: { [KEY]: key } })
      t.equal(response.headers[REPLAYED], undefined, method)
    }
    t.equal(runs.get, 3)
    for (let i = 0; i < 2; i++) await app.inject({ method: 'POST', url: '/search', headers: { [KEY]: key }, payload: {} })
    t.equal(runs.optedOut, 2, 'config.idempotency: false opts a route out')
  })

  t.test(`${name}: the same key with another body is refused 422; another caller gets an execution of its own`, async (t) => {
    const runs: string[] = []
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post<{ Body: { amount: number } }>('/payments', async (request) => {
        runs.push(`${request.headers.authorization} ${request.body.amount}`)
        return { paid: request.body.amount, by: request.headers.authorization }
      })
      app.post<{ Params: { id: string } }>('/accounts/:id/payments', async (request) => {
        runs.push(`account ${request.params.id}`)
        return { account: request.params.id }
      })
    })
    const key = randomUUID()
    const pay = (authorization: string, payload: Record<string, unknown>): Promise<LightMyRequestResponse> =>
      app.inject({ method: 'POST', url: '/payments', headers: { [KEY]: key, authorization }, payload })
    t.equal((await pay('Bearer alice', { amount: 10, currency: 'EUR' })).statusCode, 200)
    const sameInOtherOrder = await pay('Bearer alice', { currency: 'EUR', amount: 10 })
    t.equal(sameInOtherOrder.headers[REPLAYED], 'true', 'JSON key order does not make another body')
    const reused = await pay('Bearer alice', { amount: 99, currency: 'EUR' })
    t.equal(reused.statusCode, 422)
    t.equal(reused.headers['content-type'], PROBLEM)
    t.match(reused.json(), { status: 422, code: 'HALO_ERR_IDEMPOTENCY_KEY_REUSED', traceId: reused.headers['x-correlation-id'] })
    const bob = await pay('Bearer bob', { amount: 10, currency: 'EUR' })
    t.equal(bob.headers[REPLAYED], undefined)
    t.same(bob.json(), { paid: 10, by: 'Bearer bob' }, 'never the other caller\'s answer')
    t.same(runs, ['Bearer alice 10', 'Bearer bob 10'])

    await app.inject({ method: 'POST', url: '/accounts/1/payments', headers: { [KEY]: key }, payload: {} })
    const otherAccount = await app.inject({ method: 'POST', url: '/accounts/2/payments', headers: { [KEY]: key }, payload: {} })
    t.equal(problemCode(otherAccount), 'HALO_ERR_IDEMPOTENCY_KEY_REUSED', 'the same key for another URL of the route is another request')
  })

  t.test(`${name}: key 'payload', globally and per route: identical bodies in any key order run once`, async (t) => {
    const runs: string[] = []
    const routes = (app: FastifyInstance): void => {
      app.put<{ Params: { id: string } }>('/items/:id', { config: { idempotency: { key: 'payload' } } }, async (request) => {
        runs.push(`item ${request.params.id}`)
        return { item: request.params.id, run: runs.length }
      })
      app.post('/events', async () => {
        runs.push('event')
        return { run: runs.length }
      })
    }
    const perRoute = await idempotentApp(t, { store: newStore() }, routes)
    const item = (id: string, payload: Record<string, unknown>, headers = {}): Promise<LightMyRequestResponse> =>
      perRoute.app.inject({ method: 'PUT', url: `/items/${id}`, payload, headers })
    await item('1', { name: 'lamp', tags: { colour: 'red', size: 'M' } })
    t.equal((await item('1', { tags: { size: 'M', colour: 'red' }, name: 'lamp' })).headers[REPLAYED], 'true')
    t.equal((await item('2', { name: 'lamp', tags: { colour: 'red', size: 'M' } })).headers[REPLAYED], undefined, 'another URL is another request')
    t.equal((await item('1', { name: 'desk' })).headers[REPLAYED], undefined, 'another body is another request')
    const key = randomUUID()
    await item('1', { name: 'lamp', tags: { colour: 'red', size: 'M' } }, { [KEY]: key })
    t.equal((await item('1', { name: 'lamp', tags: { size: 'M', colour: 'red' } }, { [KEY]: key })).headers[REPLAYED], 'true', 'the header, when given, is part of the key')
    t.same(runs, ['item 1', 'item 2', 'item 1', 'item 1'])
    await perRoute.app.inject({ method: 'POST', url: '/events', payload: { id: 1 } })
    await perRoute.app.inject({ method: 'POST', url: '/events', payload: { id: 1 } })
    t.equal(runs.length, 6, 'other routes keep the plugin\'s key: \'header\'')

    runs.length = 0
    const global = await idempotentApp(t, { store: newStore(), key: 'payload' }, routes)
    const event = { method: 'POST' as const, url: '/events' }
    const first = await global.app.inject({ ...event, payload: { id: 1, at: 'noon' } })
    const repeat = await global.app.inject({ ...event, payload: { at: 'noon', id: 1 } })
    t.equal(repeat.headers[REPLAYED], 'true')
    t.equal(repeat.payload, first.payload)
    t.same(runs, ['event'])
  })

  t.test(`${name}: 50 concurrent identical requests run the handler once; the others replay or get 409, none 500`, async (t) => {
    let runs = 0
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post('/bookings', async (_request, reply) => {
        runs++
        await sleep(100)
        return reply.code(201).send({ booking: 'B-1' })
      })
    })
    const key = randomUUID()
    const responses = await Promise.all(Array.from({ length: 50 }, () =>
      app.inject({ method: 'POST', url: '/bookings', headers: { [KEY]: key }, payload: { seat: '12A' } })))
    t.equal(runs, 1)
    const statuses = responses.map((response) => response.statusCode)
    t.ok(statuses.every((status) => status === 201 || status === 409), `only 201 and 409: ${statuses.join(',')}`)
    t.equal(responses.filter((response) => response.statusCode === 201 && response.headers[REPLAYED] === undefined).length, 1, 'one original')
    const conflicts = responses.filter((response) => response.statusCode === 409)
    t.ok(conflicts.length > 0)
    t.ok(conflicts.every((conflict) => problemCode(conflict) === 'HALO_ERR_IDEMPOTENCY_IN_PROGRESS' && Number(conflict.headers['retry-after']) >= 1),
      'every 409 is HALO_ERR_IDEMPOTENCY_IN_PROGRESS with retry-after')
    const later = await app.inject({ method: 'POST', url: '/bookings', headers: { [KEY]: key }, payload: { seat: '12A' } })
    t.same([later.statusCode, later.headers[REPLAYED], later.json()], [201, 'true', { booking: 'B-1' }])
  })

  t.test(`${name}: a thrown error or a 5xx frees the key; a rejected duplicate never frees the owner's claim`, async (t) => {
    const runs = { throws: 0, unavailable: 0, slow: 0 }
    const slow = latch()
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post('/throws', async () => {
        if (++runs.throws === 1) throw new Error('database down')
        return { run: runs.throws }
      })
      app.post('/unavailable', async (_request, reply) => {
        if (++runs.unavailable === 1) return reply.code(503).send({ busy: true })
        return { run: runs.unavailable }
      })
      app.post('/slow', async () => {
        runs.slow++
        await slow.released
        return { done: true }
      })
    })
    const key = randomUUID()
    for (const url of ['/throws', '/unavailable']) {
      const failed = await app.inject({ method: 'POST', url, headers: { [KEY]: key }, payload: {} })
      t.ok(failed.statusCode >= 500, `${url} failed first`)
      const retry = await app.inject({ method: 'POST', url, headers: { [KEY]: key }, payload: {} })
      t.same([retry.statusCode, retry.headers[REPLAYED], retry.json()], [200, undefined, { run: 2 }], `${url}: the retry ran`)
    }

    const owner = app.inject({ method: 'POST', url: '/slow', headers: { [KEY]: key }, payload: { n: 1 } })
    await sleep(50)
    const duplicate = await app.inject({ method: 'POST', url: '/slow', headers: { [KEY]: key }, payload: { n: 1 } })
    t.equal(duplicate.statusCode, 409)
    t.equal(duplicate.headers['content-type'], PROBLEM)
    t.match(duplicate.json(), { code: 'HALO_ERR_IDEMPOTENCY_IN_PROGRESS', status: 409 })
    const retryAfter = Number(duplicate.headers['retry-after'])
    t.ok(retryAfter >= 58 && retryAfter <= 59, `retry after the owner's claim expires: its deadline and the grace (${retryAfter} s)`)
    t.equal(problemCode(await app.inject({ method: 'POST', url: '/slow', headers: { [KEY]: key }, payload: { n: 2 } })), 'HALO_ERR_IDEMPOTENCY_KEY_REUSED')
    t.equal((await app.inject({ method: 'POST', url: '/slow', headers: { [KEY]: key }, payload: { n: 1 } })).statusCode, 409, 'the owner still holds its claim')
    slow.release()
    t.same((await owner).json(), { done: true })
    t.equal((await app.inject({ method: 'POST', url: '/slow', headers: { [KEY]: key }, payload: { n: 1 } })).headers[REPLAYED], 'true', 'and stored its answer')
    t.equal(runs.slow, 1)
  })

  t.test(`${name}: a request whose instance died holds its key until its deadline plus the grace; then a retry runs`, async (t) => {
    const store = newStore()
    let dyingRuns = 0
    let retryRuns = 0
    // The first instance stops answering mid-request (a frozen or killed Lambda): its deadline passes with the
    // record IN_PROGRESS.
    const dying = await idempotentApp(t, { store, claimGraceMs: 300 }, (app) => {
      app.post('/payments', { config: { timeout: 400 } }, async () => {
        dyingRuns++
        return await new Promise(() => {})
      })
    })
    const retrying = await idempotentApp(t, { store }, (app) => {
      app.post('/payments', async () => ({ retry: ++retryRuns }))
    })
    const key = randomUUID()
    const request = { method: 'POST' as const, url: '/payments', headers: { [KEY]: key }, payload: { amount: 5 } }
    const startedAt = Date.now()
    const lost = dying.app.inject(request)
    await sleep(100)
    const early = await retrying.app.inject(request)
    t.equal(early.statusCode, 409)
    t.equal(early.headers['retry-after'], '1', 'retry once the holder\'s claim has expired')
    // The deadline's timer does not hold the process open: this sleep does, past the deadline.
    await sleep(400)
    t.equal((await lost).statusCode, 504)
    t.equal((await retrying.app.inject(request)).statusCode, 409, 'past the deadline, within the grace')
    await sleep(startedAt + 800 - Date.now())
    const retry = await retrying.app.inject(request)
    t.same([retry.statusCode, retry.json()], [200, { retry: 1 }])
    t.same([dyingRuns, retryRuns], [1, 1])
  })

  t.test(`${name}: with the timeout part off, a claim still frees itself in 29 s and the grace, and the answer is stored`, async (t) => {
    const store = newStore()
    const expiries: number[] = []
    const claiming = storeWith(store, {
      claim: async (id, fingerprint, inProgressExpiry, ttlSeconds, signal) => {
        expiries.push(inProgressExpiry)
        return await store.claim(id, fingerprint, inProgressExpiry, ttlSeconds, signal)
      }
    })
    let runs = 0
    const { app } = await idempotentApp(t, { store: claiming }, (app) => { app.post('/orders', async () => ({ run: ++runs })) }, { timeout: false })
    const request: InjectOptions = { method: 'POST', url: '/orders', headers: { [KEY]: randomUUID() }, payload: {} }
    const startedAt = Date.now()
    const first = await app.inject(request)
    t.same([first.statusCode, first.json()], [200, { run: 1 }])
    const repeat = await app.inject(request)
    t.same([repeat.statusCode, repeat.headers[REPLAYED], repeat.json()], [200, 'true', { run: 1 }], 'stored, then replayed')
    t.ok(expiries[0]! >= startedAt + 59_000 && expiries[0]! <= Date.now() + 59_000, `a finite in-progress expiry (${expiries[0]! - startedAt} ms)`)
  })

  t.test(`${name}: an answer past its ttlSeconds counts as absent`, async (t) => {
    let runs = 0
    const { app } = await idempotentApp(t, { store: newStore(), ttlSeconds: 1 }, (app) => {
      app.post('/quotes', async () => ({ quote: ++runs }))
    })
    const key = randomUUID()
    await app.inject({ method: 'POST', url: '/quotes', headers: { [KEY]: key }, payload: { a: 1 } })
    const completedAt = Date.now()
    t.equal((await app.inject({ method: 'POST', url: '/quotes', headers: { [KEY]: key }, payload: { a: 1 } })).headers[REPLAYED], 'true')
    // Expirations are whole epoch seconds: the record is absent once the second after its expiration began.
    await sleep((Math.floor(completedAt / 1000) + 2) * 1000 - Date.now() + 20)
    const afterExpiry = await app.inject({ method: 'POST', url: '/quotes', headers: { [KEY]: key }, payload: { a: 2 } })
    t.same([afterExpiry.statusCode, afterExpiry.json()], [200, { quote: 2 }], 'neither replayed nor a reused key: it runs')
  })
}

/** The same store, its completion write taking `delayMs` more whatever its signal says (a slow, throttled table). */
function slowCompletion (store: IdempotencyStore, delayMs: number): IdempotencyStore {
  return storeWith(store, {
    complete: async (...args) => {
      await sleep(delayMs)
      return await store.complete(...args)
    }
  })
}

/** Sends `request` until it gets something else than 409 (a run still going), for up to `withinMs`. */
async function untilSettled (app: FastifyInstance, request: InjectOptions, withinMs = 15_000): Promise<LightMyRequestResponse> {
  const giveUpAt = Date.now() + withinMs
  for (;;) {
    const response = await app.inject(request)
    if (response.statusCode !== 409 || Date.now() > giveUpAt) return response
    await sleep(200)
  }
}

for (const { name, store: newStore } of stores) {
  t.test(`${name}: a deadline passing while the answer is being stored sends no second answer, inject and Lambda alike`, async (t) => {
    let runs = 0
    const { app, logs } = await idempotentApp(t, { store: slowCompletion(newStore(), 2500) }, (app) => {
      app.post('/orders', { config: { timeout: 1000 } }, async (_request, reply) => reply.code(201).send({ order: ++runs }))
    })
    const order = { method: 'POST' as const, url: '/orders', headers: { [KEY]: randomUUID() }, payload: { amount: 5 } }
    const first = await app.inject(order)
    t.same([first.statusCode, first.headers['content-type'], first.json()], [201, 'application/json; charset=utf-8', { order: 1 }],
      'the answer under way is the one answer')
    const repeat = await untilSettled(app, order)
    t.same([repeat.statusCode, repeat.headers[REPLAYED], repeat.json()], [201, 'true', { order: 1 }], 'stored when the write ended')

    const handler = createLambdaHandler(app)
    const event = (): Record<string, unknown> => httpApiEvent({
      method: 'POST', path: '/orders', headers: { [KEY]: randomUUID(), 'content-type': 'application/json' }, body: '{"amount":6}'
    })
    const onLambda = await handler(event(), lambdaContext())
    t.same([onLambda.statusCode, JSON.parse(onLambda.body)], [201, { order: 2 }])
    await sleep(2700)
    t.equal(runs, 2)
    t.equal(logs.lines.filter((line) => line.level === 'error').length, 0, 'no error line')
    t.ok(logs.lines.some((line) => line.msg === 'deadline passed while the answer was being sent; that answer stands'))
  })

  t.test(`${name}: a client that hung up mid-run gets, on its retry, the answer stored when the run ended (a real socket)`, async (t) => {
    let runs = 0
    const started = latch()
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post('/charges', async (_request, reply) => {
        runs++
        started.release()
        await sleep(500)
        return reply.code(201).send({ charge: runs })
      })
    })
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    const key = randomUUID()
    const body = '{"amount":5}'
    const hangingUp = httpRequest(`${address}/charges`, {
      method: 'POST', headers: { [KEY]: key, 'content-type': 'application/json', 'content-length': String(body.length) }
    })
    hangingUp.on('error', () => {})
    hangingUp.end(body)
    await started.released
    hangingUp.destroy()
    await sleep(1000)
    const retry = (): Promise<Response> => fetch(`${address}/charges`, { method: 'POST', headers: { [KEY]: key, 'content-type': 'application/json' }, body })
    let replayed = await retry()
    for (let attempt = 0; replayed.status === 409 && attempt < 50; attempt++) {
      await sleep(200)
      replayed = await retry()
    }
    t.equal(replayed.status, 201)
    t.equal(replayed.headers.get(REPLAYED), 'true')
    t.same(await replayed.json(), { charge: 1 })
    t.equal(runs, 1, 'charged once')
  })

  t.test(`${name}: a run that goes on after its 504 keeps its key: repeats get 409, then its answer; a late failure frees the key`, async (t) => {
    const runs = { orders: 0, receipts: 0, failures: 0 }
    const { app } = await idempotentApp(t, { store: newStore() }, (app) => {
      app.post('/orders', { config: { timeout: 1000 } }, async (_request, reply) => {
        runs.orders++
        await sleep(2500)
        reply.code(201).header('x-order-id', 'o-1')
        return { order: runs.orders }
      })
      app.post('/receipts', { config: { timeout: 1000 } }, (_request, reply) => {
        runs.receipts++
        setTimeout(() => { reply.code(202).type('text/plain').send('receipt') }, 2500)
      })
      app.post('/failures', { config: { timeout: 1000 } }, async () => {
        runs.failures++
        await sleep(2500)
        throw new Error('upstream refused')
      })
    })
    const post = (url: string, key: string): InjectOptions => ({ method: 'POST', url, headers: { [KEY]: key }, payload: { amount: 5 } })
    const order = post('/orders', randomUUID())
    const timedOut = await app.inject(order)
    t.same([timedOut.statusCode, timedOut.headers['content-type'], problemCode(timedOut)], [504, PROBLEM, 'HALO_ERR_TIMEOUT'])
    t.equal(timedOut.headers['x-order-id'], undefined)
    const whileRunning = await app.inject(order)
    t.same([whileRunning.statusCode, problemCode(whileRunning)], [409, 'HALO_ERR_IDEMPOTENCY_IN_PROGRESS'])
    t.ok(Number(whileRunning.headers['retry-after']) >= 1)
    const replayed = await untilSettled(app, order)
    t.same([replayed.statusCode, replayed.headers[REPLAYED], replayed.headers['x-order-id'], replayed.headers['content-type'], replayed.json()],
      [201, 'true', 'o-1', 'application/json; charset=utf-8', { order: 1 }], 'the late answer, as the handler made it')

    const receipt = post('/receipts', randomUUID())
    t.equal((await app.inject(receipt)).statusCode, 504)
    const receiptReplayed = await untilSettled(app, receipt)
    t.same([receiptReplayed.statusCode, receiptReplayed.headers['content-type'], receiptReplayed.payload], [202, 'text/plain', 'receipt'], 'a late reply.send')

    const failure = post('/failures', randomUUID())
    t.equal((await app.inject(failure)).statusCode, 504)
    t.equal((await app.inject(failure)).statusCode, 409)
    await sleep(3000)
    t.equal((await untilSettled(app, failure)).statusCode, 504, 'the retry ran the handler again')
    t.same(runs, { orders: 1, receipts: 1, failures: 2 })
  })

  t.test(`${name}: callers told apart by x-api-key, cookie or their authorizer's principal never share an answer; scope replaces the rule`, async (t) => {
    let runs = 0
    const routes = (app: FastifyInstance): void => {
      app.post('/statements', async () => ({ statement: ++runs }))
    }
    const { app } = await idempotentApp(t, { store: newStore() }, routes)
    const key = randomUUID()
    const statement = (headers: Record<string, string>): Promise<LightMyRequestResponse> =>
      app.inject({ method: 'POST', url: '/statements', headers: { [KEY]: key, ...headers }, payload: {} })
    for (const headers of [{ 'x-api-key': 'alice' }, { 'x-api-key': 'bob' }, { cookie: 'session=alice' }, { cookie: 'session=bob' }] as Array<Record<string, string>>) {
      const first = await statement(headers)
      t.equal(first.headers[REPLAYED], undefined, `${JSON.stringify(headers)}: an execution of its own`)
      t.equal((await statement(headers)).headers[REPLAYED], 'true', `${JSON.stringify(headers)}: its own answer replayed`)
    }
    t.equal(runs, 4)

    const handler = createLambdaHandler(app)
    const authorized = (authorizer: Record<string, unknown>, v1 = false): Record<string, unknown> => {
      const request = { method: 'POST', path: '/statements', headers: { [KEY]: key, 'content-type': 'application/json' }, body: '{}' }
      const event = v1 ? restApiEvent(request) : httpApiEvent(request)
      Object.assign(event.requestContext as object, { authorizer })
      return event
    }
    const principals: Array<[Record<string, unknown>, boolean]> = [
      [{ jwt: { claims: { sub: 'alice' } } }, false],
      [{ jwt: { claims: { sub: 'bob' } } }, false],
      [{ iam: { userArn: 'arn:aws:iam::1:user/alice' } }, false],
      [{ principalId: 'alice' }, true],
      [{ claims: { sub: 'bob' } }, true]
    ]
    for (const [authorizer, v1] of principals) {
      const first = await handler(authorized(authorizer, v1), lambdaContext())
      t.equal(first.headers[REPLAYED], undefined, `${JSON.stringify(authorizer)}: an execution of its own`)
      t.equal((await handler(authorized(authorizer, v1), lambdaContext())).headers[REPLAYED], 'true')
    }
    t.equal(runs, 9)

    const byTenant = await idempotentApp(t, { store: newStore(), scope: (request) => String(request.headers['x-tenant']) }, routes)
    const tenant = (headers: Record<string, string>): Promise<LightMyRequestResponse> =>
      byTenant.app.inject({ method: 'POST', url: '/statements', headers: { [KEY]: key, ...headers }, payload: {} })
    await tenant({ 'x-tenant': 't-1', 'x-api-key': 'alice' })
    t.equal((await tenant({ 'x-tenant': 't-1', 'x-api-key': 'bob' })).headers[REPLAYED], 'true', 'the app\'s scope: one tenant, one record')
    t.equal((await tenant({ 'x-tenant': 't-2', 'x-api-key': 'alice' })).headers[REPLAYED], undefined)
    t.equal(runs, 11)
    const broken = await idempotentApp(t, { store: newStore(), scope: (() => undefined) as never }, routes)
    const refused = await broken.app.inject({ method: 'POST', url: '/statements', headers: { [KEY]: key }, payload: {} })
    t.same([refused.statusCode, problemCode(refused)], [500, 'HALO_ERR_OPTION'], 'a scope that is not text fails the request')
    t.equal(runs, 11)
  })
}

t.test('a late answer that cannot be stored (an error sent, an object that does not serialize) frees its key; text and bytes are stored as Fastify types them', async (t) => {
  const runs = { errors: 0, circular: 0 }
  const { app } = await idempotentApp(t, { store: 'memory' }, (app) => {
    app.post('/errors', { config: { timeout: 300 } }, (_request, reply) => {
      runs.errors++
      setTimeout(() => {
        reply.send(new Error('late failure'))
        reply.send('sent twice: ignored')
      }, 800)
    })
    app.post('/text', { config: { timeout: 300 } }, (_request, reply) => {
      setTimeout(() => { reply.send('late text') }, 800)
    })
    app.post('/bytes', { config: { timeout: 300 } }, async () => {
      await sleep(800)
      return Buffer.from([1, 2, 3])
    })
    app.post('/circular', { config: { timeout: 300 } }, async () => {
      runs.circular++
      await sleep(800)
      const circular: Record<string, unknown> = {}
      circular.self = circular
      return circular
    })
  })
  for (const url of ['/errors', '/circular']) {
    const request = { method: 'POST' as const, url, headers: { [KEY]: 'late' }, payload: {} }
    t.equal((await app.inject(request)).statusCode, 504, url)
    await sleep(1500)
    t.equal((await app.inject(request)).statusCode, 504, `${url}: the retry ran again`)
  }
  await sleep(1000)
  t.same(runs, { errors: 2, circular: 2 })
  for (const [url, contentType] of [['/text', 'text/plain; charset=utf-8'], ['/bytes', 'application/octet-stream']]) {
    const request = { method: 'POST' as const, url: url!, headers: { [KEY]: 'late' }, payload: {} }
    t.equal((await app.inject(request)).statusCode, 504, url)
    await sleep(1500)
    const replayed = await app.inject(request)
    t.same([replayed.statusCode, replayed.headers[REPLAYED], replayed.headers['content-type']], [200, 'true', contentType], `${url}: stored with Fastify's content-type`)
  }
})

t.test('DynamoDB: an answer that fits one item (399 KiB) is stored and replayed; a larger one is answered with a warning, not stored', async (t) => {
  let runs = 0
  const { app, logs } = await idempotentApp(t, { store: stores[1]!.store() }, (app) => {
    app.post<{ Body: { kib: number } }>('/exports', async (request, reply) => {
      runs++
      return reply.type('application/octet-stream').send(randomBytes(request.body.kib * 1024))
    })
  })
  const exported = (kib: number): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'POST', url: '/exports', headers: { [KEY]: `export-${kib}` }, payload: { kib } })
  const fits = await exported(399)
  const replayed = await exported(399)
  t.equal(replayed.headers[REPLAYED], 'true')
  t.ok(replayed.rawPayload.equals(fits.rawPayload), '399 KiB, byte for byte')
  const tooLarge = await exported(401)
  t.equal(tooLarge.rawPayload.byteLength, 401 * 1024, 'a too-large answer is still answered')
  t.equal((await exported(401)).headers[REPLAYED], undefined, 'and not stored')
  t.equal(runs, 3)
  t.equal(logs.lines.filter((line) => line.msg === 'answer too large for the idempotency store; sent without being stored').length, 2)
})

t.test('DynamoDB cost: 2 calls on a first execution, 1 on a replay', async (t) => {
  const { app } = await idempotentApp(t, { store: stores[1]!.store() }, (app) => {
    app.post('/orders', async () => ({ ok: true }))
  })
  const request = { method: 'POST' as const, url: '/orders', headers: { [KEY]: randomUUID() }, payload: { a: 1 } }
  const before = commands.length
  await app.inject(request)
  t.same(commands.slice(before), ['PutItem', 'UpdateItem'])
  const replayed = commands.length
  t.equal((await app.inject(request)).headers[REPLAYED], 'true')
  t.same(commands.slice(replayed), dynamodb.engine === 'dynalite' ? ['PutItem', 'GetItem'] : ['PutItem'],
    'dynalite returns no item with a failed condition: one read more there')
  const unkeyed = commands.length
  await app.inject({ ...request, headers: {} })
  t.equal(commands.length, unkeyed, 'a request without a key costs nothing')
})

t.test('a process killed mid-request leaves an IN_PROGRESS record; after its in-progress expiry a retry runs', async (t) => {
  const key = randomUUID()
  // A child process that serves the request with the same plugin and table, and is killed inside the handler.
  const script = `
    import Fastify from 'fastify'
    import halo, { haloServerOptions, DynamoDBIdempotencyStore } from './index.ts'
    const app = Fastify(haloServerOptions({ service: 'dying', level: 'silent' }))
    await app.register(halo, {
      timeout: { defaultMs: 1500 },
      idempotency: { claimGraceMs: 500, store: new DynamoDBIdempotencyStore({ table: '${table}', endpoint: '${dynamodb.endpoint}', region: 'us-east-1' }) }
    })
    app.post('/payments', async () => { process.kill(process.pid, 'SIGKILL') })
    await app.inject({ method: 'POST', url: '/payments', headers: { '${KEY}': '${key}' }, payload: { amount: 5 } })
  `
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'halo', AWS_SECRET_ACCESS_KEY: 'halo' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [, signal] = await once(child, 'close')
  const killedAt = Date.now()
  t.equal(signal, 'SIGKILL', stderr)

  let runs = 0
  const { app } = await idempotentApp(t, { store: stores[1]!.store() }, (app) => {
    app.post('/payments', async () => ({ run: ++runs }))
  })
  const request = { method: 'POST' as const, url: '/payments', headers: { [KEY]: key }, payload: { amount: 5 } }
  const early = await app.inject(request)
  t.equal(early.statusCode, 409, 'the dead process\'s claim holds until its deadline')
  t.ok(Number(early.headers['retry-after']) <= 2)
  await sleep(Math.max(0, killedAt + 2100 - Date.now()))
  const retry = await app.inject(request)
  t.same([retry.statusCode, retry.json()], [200, { run: 1 }])
})

t.test('DynamoDB unreachable: 503 without running the handler, or the handler runs with onStoreError \'continue\'; within the deadline', async (t) => {
  const unreachable = new DynamoDBIdempotencyStore({ table: 'unreachable', client: unreachableClient(t, await closedEndpoint()) })
  let runs = 0
  const routes = (app: FastifyInstance): void => {
    app.post('/orders', async () => ({ run: ++runs }))
  }
  const request = { method: 'POST' as const, url: '/orders', headers: { [KEY]: randomUUID() }, payload: {} }
  const failing = await idempotentApp(t, { store: unreachable }, routes, { timeout: { defaultMs: 3000 } })
  const startedAt = Date.now()
  const refused = await failing.app.inject(request)
  t.ok(Date.now() - startedAt < 3000, 'before the deadline')
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['content-type'], PROBLEM)
  t.match(refused.json(), { code: 'HALO_ERR_IDEMPOTENCY_STORE', detail: 'Service Unavailable' })
  t.notMatch(refused.payload, /ECONNREFUSED/, 'the store\'s error stays in the logs')
  t.equal(runs, 0)

  const continuing = await idempotentApp(t, { store: unreachable, onStoreError: 'continue' }, routes, { timeout: { defaultMs: 3000 } })
  const ran = await continuing.app.inject(request)
  t.same([ran.statusCode, ran.json()], [200, { run: 1 }])
  const warnings = continuing.logs.lines.filter((line) => line.level === 'warn')
  t.same(warnings.map((line) => line.msg), ['idempotency store unavailable; the handler runs without idempotency'], 'one warning')
  t.equal(warnings[0]!.correlationId, ran.headers['x-correlation-id'])

  // A store that never answers: the deadline bounds the claim, and the 504 is the answer either way.
  const silent = new DynamoDBIdempotencyStore({ table: 'silent', client: unreachableClient(t, await blackHole(t)) })
  for (const onStoreError of ['fail', 'continue'] as const) {
    const { app } = await idempotentApp(t, { store: silent, onStoreError }, routes, { timeout: { defaultMs: 300, marginMs: 100 } })
    const timedOut = await app.inject(request)
    t.same([timedOut.statusCode, problemCode(timedOut)], [504, 'HALO_ERR_TIMEOUT'], onStoreError)
  }
  await sleep(50)
  t.equal(runs, 1, 'the handler never ran after the deadline')
})

t.test('on Lambda: an API Gateway v2 event is replayed, binary body included', async (t) => {
  let runs = 0
  const { app } = await idempotentApp(t, { store: stores[1]!.store() }, (app) => {
    app.post('/receipts', async (_request, reply) => {
      runs++
      return reply.code(201).type('application/pdf').header('x-receipt', 'R-1').send(Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff]))
    })
  })
  const handler = createLambdaHandler(app)
  const event = (): Record<string, unknown> => httpApiEvent({
    method: 'POST', path: '/receipts', headers: { [KEY]: 'receipt-1', 'content-type': 'application/json' }, body: '{"order":1}'
  })
  const first = await handler(event(), lambdaContext())
  const repeat = await handler(event(), lambdaContext())
  t.equal(repeat.statusCode, 201)
  t.equal(repeat.isBase64Encoded, true)
  t.equal(repeat.body, first.body)
  t.same(Buffer.from(repeat.body, 'base64'), Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff]))
  t.match(repeat.headers, { 'content-type': 'application/pdf', 'x-receipt': 'R-1', [REPLAYED]: 'true' })
  t.not(repeat.headers['x-correlation-id'], first.headers['x-correlation-id'], 'each invocation has its own correlation id')
  t.equal(runs, 1)
})

t.test('over a real socket', async (t) => {
  let runs = 0
  const { app } = await idempotentApp(t, { store: 'memory' }, (app) => {
    app.post('/orders', async (_request, reply) => reply.code(201).send({ order: ++runs }))
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const post = (): Promise<Response> => fetch(`${address}/orders`, {
    method: 'POST', headers: { [KEY]: 'socket-1', 'content-type': 'application/json' }, body: '{"a":1}'
  })
  const first = await post()
  const repeat = await post()
  t.equal(repeat.status, 201)
  t.equal(repeat.headers.get(REPLAYED), 'true')
  t.equal(repeat.headers.get('content-length'), first.headers.get('content-length'))
  t.equal(await repeat.text(), await first.text())
  t.equal(runs, 1)
})

t.test('a replay sends the stored bytes and headers as they are, text or not; an onSend hook that changes it keeps its change', async (t) => {
  let runs = 0
  const { app } = await idempotentApp(t, { store: 'memory' }, (app) => {
    app.post('/json-bytes', async (_request, reply) => { runs++; return reply.type('application/json').send(Buffer.from('{"note":"café ✓"}')) })
    app.post('/long-text', async (_request, reply) => { runs++; return reply.type('text/plain').send('é'.repeat(5000)) })
    app.post('/wrapped', {
      onSend: async (request, _reply, payload) => request.headers['x-wrap'] === undefined ? payload : `[${String(payload)}]`
    }, async () => { runs++; return { a: 1 } })
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const post = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${address}${url}`, { method: 'POST', headers: { [KEY]: `bytes-${url}`, ...headers } })
  for (const url of ['/json-bytes', '/long-text']) {
    const first = await post(url)
    const repeat = await post(url)
    t.equal(repeat.headers.get(REPLAYED), 'true', url)
    t.equal(repeat.headers.get('content-type'), first.headers.get('content-type'), `${url}: no charset added`)
    t.equal(repeat.headers.get('content-length'), first.headers.get('content-length'))
    t.ok(Buffer.from(await repeat.arrayBuffer()).equals(Buffer.from(await first.arrayBuffer())), `${url}: the same bytes`)
  }
  t.equal((await post('/wrapped')).status, 200)
  const wrapped = await post('/wrapped', { 'x-wrap': 'yes' })
  t.equal(wrapped.headers.get(REPLAYED), 'true')
  t.equal(await wrapped.text(), '[{"a":1}]')
  t.equal(runs, 3)
})

t.test('an unusable key header is refused 400, never echoed', async (t) => {
  let runs = 0
  const { app } = await idempotentApp(t, {}, (app) => { app.post('/orders', async () => ({ run: ++runs })) })
  const cases: Record<string, string> = {
    'it is empty': '',
    'it is longer than 255 characters': 'k'.repeat(256),
    'it holds characters outside printable ASCII': 'secret\u0001value',
    'a tab is a control character too': 'secret\tvalue',
    'non-ASCII counts as outside': 'secret-café'
  }
  for (const [reason, value] of Object.entries(cases)) {
    const response = await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: value }, payload: {} })
    t.equal(response.statusCode, 400, reason)
    t.equal(response.headers['content-type'], PROBLEM)
    t.equal(problemCode(response), 'HALO_ERR_IDEMPOTENCY_KEY_INVALID')
    t.notMatch(response.payload, /secret/, 'the value is not echoed')
  }
  t.match((await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: '' }, payload: {} })).json(), { detail: /it is empty/ })
  t.match((await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: 'k'.repeat(256) }, payload: {} })).json(), { detail: /longer than 255/ })
  t.equal((await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: 'k'.repeat(255) }, payload: {} })).statusCode, 200, '255 characters are fine')
  t.equal(runs, 1)
})

t.test('key functions, sha256, the header name and the methods are the app\'s to choose', async (t) => {
  const runs: string[] = []
  const { app } = await idempotentApp(t, {
    key: (request) => request.headers['x-request-id'] as string | undefined,
    hash: 'sha256',
    header: 'X-Idempotency-Key',
    methods: ['post']
  }, (app) => {
    app.post('/orders', async () => { runs.push('orders'); return { run: runs.length } })
    app.put('/orders', async () => { runs.push('put'); return { run: runs.length } })
    app.post('/headers', { config: { idempotency: { key: 'header', hash: 'md5' } } }, async () => { runs.push('headers'); return { run: runs.length } })
    app.route({ method: ['POST', 'PATCH'], url: '/mixed', handler: async (request) => { runs.push(request.method); return { run: runs.length } } })
  })
  const send = (method: 'POST' | 'PUT' | 'PATCH', url: string, headers: Record<string, string>): Promise<LightMyRequestResponse> =>
    app.inject({ method, url, headers, payload: { a: 1 } })
  await send('POST', '/orders', { 'x-request-id': 'r-1' })
  t.equal((await send('POST', '/orders', { 'x-request-id': 'r-1' })).headers[REPLAYED], 'true', 'the key function\'s key')
  t.equal((await send('POST', '/orders', { [KEY]: 'ignored', 'x-idempotency-key': 'ignored' })).headers[REPLAYED], undefined, 'the function returned no key')
  await send('PUT', '/orders', { 'x-request-id': 'r-1' })
  t.equal((await send('PUT', '/orders', { 'x-request-id': 'r-1' })).headers[REPLAYED], undefined, 'PUT is not in methods')
  await send('POST', '/headers', { 'x-idempotency-key': 'h-1' })
  t.equal((await send('POST', '/headers', { 'x-idempotency-key': 'h-1' })).headers[REPLAYED], 'true', 'the header named by the option')
  t.equal((await send('POST', '/headers', { [KEY]: 'h-1' })).headers[REPLAYED], undefined, 'not the default header')
  await send('PATCH', '/mixed', { 'x-request-id': 'r-2' })
  await send('PATCH', '/mixed', { 'x-request-id': 'r-2' })
  await send('POST', '/mixed', { 'x-request-id': 'r-2' })
  t.equal((await send('POST', '/mixed', { 'x-request-id': 'r-2' })).headers[REPLAYED], 'true', 'a route with several methods: those in methods')
  t.same(runs, ['orders', 'orders', 'put', 'put', 'headers', 'headers', 'PATCH', 'PATCH', 'POST'])
})

t.test('answers that are not stored: too large (one warning), streamed (released, debug), a lost claim, a failing store', async (t) => {
  const memory = new MemoryIdempotencyStore({ maxBodyBytes: 16 })
  let completeFails = false
  let claimLost = false
  const store = storeWith(memory, {
    complete: async (id, owner, response, ttlSeconds) => {
      if (completeFails) throw new Error('store went away')
      if (claimLost) return { stored: false, reason: 'claim-lost' }
      return await memory.complete(id, owner, response, ttlSeconds)
    }
  })
  let runs = 0
  const { app, logs } = await idempotentApp(t, { store }, (app) => {
    app.post('/large', async () => ({ run: ++runs, padding: 'x'.repeat(32) }))
    app.post('/stream', async (_request, reply) => { runs++; return reply.type('text/plain').send(Readable.from(['streamed'])) })
    app.post('/small', async () => ({ run: ++runs }))
  }, {}, 'debug')
  const post = (url: string): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url, headers: { [KEY]: 'k' }, payload: {} })
  const messages = (level: string): string[] => logs.lines.filter((line) => line.level === level && line.msg.includes('idempotency')).map((line) => line.msg)

  t.same((await post('/large')).json(), { run: 1, padding: 'x'.repeat(32) }, 'a large answer is still sent')
  t.same((await post('/large')).json().run, 2, 'not stored, so a retry runs')
  t.match(logs.lines.filter((line) => line.level === 'warn'), [
    { msg: 'answer too large for the idempotency store; sent without being stored', bytes: Number, limit: 16 },
    { msg: 'answer too large for the idempotency store; sent without being stored' }
  ])
  t.equal((await post('/stream')).payload, 'streamed')
  t.equal((await post('/stream')).payload, 'streamed')
  t.equal(runs, 4, 'a streamed answer is not stored: its key is released')
  t.equal(messages('debug').filter((msg) => msg.startsWith('streamed answer')).length, 2)

  claimLost = true
  await post('/small')
  t.ok(messages('warn').includes('idempotency claim lost before completion (its in-progress expiry passed); answer not stored'))
  claimLost = false
  completeFails = true
  t.same((await app.inject({ method: 'POST', url: '/small', headers: { [KEY]: 'k2' }, payload: {} })).json(), { run: 6 }, 'the answer goes out')
  t.ok(messages('warn').includes('idempotency store unavailable; answer not stored, its key frees at the in-progress expiry'))
})

t.test('a store failing with an error of its own answers 503 all the same', async (t) => {
  const memory = new MemoryIdempotencyStore()
  const failing = storeWith(memory, { claim: async () => { throw new Error('socket hang up') } })
  const { app, logs } = await idempotentApp(t, { store: failing }, (app) => { app.post('/orders', async () => 'ran') })
  const response = await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: 'k' }, payload: {} })
  t.equal(response.statusCode, 503)
  t.equal(problemCode(response), 'HALO_ERR_IDEMPOTENCY_STORE')
  t.match(logs.lines.find((line) => line.level === 'error'), { err: { message: 'The idempotency store is unavailable: socket hang up' } })
})

t.test('deadlines: a route without one claims for 29 s and the grace; a claim answered after the deadline runs nothing', async (t) => {
  const memory = new MemoryIdempotencyStore()
  const claims: Array<{ inProgressExpiry: number, ttlSeconds: number }> = []
  let slowClaims = false
  const store = storeWith(memory, {
    claim: async (id, fingerprint, inProgressExpiry, ttlSeconds) => {
      claims.push({ inProgressExpiry, ttlSeconds })
      if (slowClaims) await sleep(150)
      return await memory.claim(id, fingerprint, inProgressExpiry, ttlSeconds)
    }
  })
  let runs = 0
  const { app } = await idempotentApp(t, { store, ttlSeconds: 1 }, (app) => {
    app.post('/unbounded', { config: { timeout: false } }, async () => ({ run: ++runs }))
    app.post('/bounded', { config: { timeout: 100 } }, async () => ({ run: ++runs }))
  })
  const request = (url: string): Promise<LightMyRequestResponse> => app.inject({ method: 'POST', url, headers: { [KEY]: 'k' }, payload: {} })
  const startedAt = Date.now()
  await request('/unbounded')
  t.equal((await request('/unbounded')).headers[REPLAYED], 'true', 'stored without a deadline')
  const { inProgressExpiry, ttlSeconds } = claims[0]!
  t.ok(inProgressExpiry - startedAt >= 59_000 && inProgressExpiry - startedAt < 59_500, 'in progress for 29 s and 30 s of grace')
  t.ok(ttlSeconds >= 60, `an in-progress record outlives its request, whatever ttlSeconds says (${ttlSeconds} s)`)

  slowClaims = true
  const late = await request('/bounded')
  t.equal(late.statusCode, 504)
  await sleep(100)
  t.equal(runs, 1, 'the claim came back after the 504: the handler did not run')
  slowClaims = false
  t.equal((await request('/bounded')).statusCode, 200, 'and was released at once: a retry runs')

  // The remaining time counts from the context's making: measured from just after it, the claim ends within 10 s.
  const context = lambdaContext(10_000)
  const lambdaCalledAt = Date.now()
  await createLambdaHandler(app)(httpApiEvent({
    method: 'POST', path: '/unbounded', headers: { [KEY]: 'on-lambda', 'content-type': 'application/json' }, body: '{}'
  }), context)
  const onLambda = claims.at(-1)!.inProgressExpiry - lambdaCalledAt
  t.ok(onLambda > 9_000 && onLambda <= 10_000, `on Lambda a claim holds until the invocation's end (${onLambda} ms)`)
})

t.test('services sharing a store keep their records apart: the namespace, by default the Lambda function\'s name', async (t) => {
  const store = new MemoryIdempotencyStore()
  let runs = 0
  const serve = async (options: IdempotencyOptions): Promise<string | undefined> => {
    const { app } = await idempotentApp(t, { store, ...options }, (app) => { app.post('/orders', async () => ({ run: ++runs })) })
    const response = await app.inject({ method: 'POST', url: '/orders', headers: { [KEY]: 'order-1' }, payload: {} })
    return response.headers[REPLAYED] as string | undefined
  }
  t.equal(await serve({ namespace: 'orders' }), undefined)
  t.equal(await serve({ namespace: 'billing' }), undefined, 'another service runs its own handler')
  t.equal(await serve({ namespace: 'orders' }), 'true', 'the same service replays')
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME
  t.teardown(() => { if (functionName === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME; else process.env.AWS_LAMBDA_FUNCTION_NAME = functionName })
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'orders'
  t.equal(await serve({}), 'true', 'on Lambda the function\'s name is the namespace')
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'shipping'
  t.equal(await serve({}), undefined)
  t.equal(runs, 3)
})

t.test('closing the app destroys the store, which ends only a client it made itself', async (t) => {
  let destroyed = 0
  const store = Object.assign(storeWith(new MemoryIdempotencyStore(), {}), { destroy: async () => { destroyed++ } })
  const app = Fastify()
  await app.register(idempotencyPlugin, { store })
  await app.close()
  t.equal(destroyed, 1)
  const withoutDestroy = Fastify()
  await withoutDestroy.register(idempotencyPlugin, { store: storeWith(new MemoryIdempotencyStore(), {}) })
  t.equal(withoutDestroy.idempotencyStore.destroy, undefined)
  await t.resolves(withoutDestroy.close(), 'a store without destroy() is closed without calling it')
})

t.test('options are checked at register and per route', async (t) => {
  const register = (options: unknown): PromiseLike<unknown> => Fastify().register(idempotencyPlugin, options as IdempotencyOptions).ready()
  const refusals: Array<[unknown, RegExp]> = [
    [{ keys: 'header' }, /idempotencyPlugin: unknown option "keys"/],
    [{ store: 'dynamodb' }, /option "store" must be one of "memory" or must be an IdempotencyStore/],
    [{ store: { claim () {} } }, /option "store"/],
    [{ key: 'body' }, /option "key" must be one of "header", "payload" or must be a function/],
    [{ hash: 'sha1' }, /option "hash" must be one of "md5", "sha256"/],
    [{ ttlSeconds: 0 }, /option "ttlSeconds" must be an integer from 1/],
    [{ methods: 'POST' }, /option "methods" must be an array of HTTP method names/],
    [{ methods: ['POST', 1] }, /option "methods"/],
    [{ onStoreError: 'ignore' }, /option "onStoreError" must be one of "fail", "continue"/],
    [{ header: '' }, /option "header" must be a non-empty string/],
    [{ namespace: 7 }, /option "namespace" must be a string/],
    [{ claimGraceMs: -1 }, /option "claimGraceMs" must be an integer from 0/],
    [{ scope: 'authorization' }, /option "scope" must be a function/],
    ['header', /idempotencyPlugin: options must be an object/]
  ]
  for (const [options, message] of refusals) await t.rejects(Promise.resolve(register(options)), { code: 'HALO_ERR_OPTION', message })

  const defaults = Fastify()
  await defaults.register(idempotencyPlugin)
  t.ok(defaults.idempotencyStore instanceof MemoryIdempotencyStore, 'a memory store by default')
  const options: IdempotencyOptions = { store: 'memory', ttlSeconds: 60 }
  const routeConfig = { idempotency: { key: 'payload' as const } }
  const app = Fastify()
  await app.register(idempotencyPlugin, options)
  app.post('/d', { config: routeConfig }, async () => 'd')
  await app.ready()
  t.same(options, { store: 'memory', ttlSeconds: 60 }, 'the caller\'s options are left as they are, no default written in')
  t.same(routeConfig, { idempotency: { key: 'payload' } }, 'and so is the route\'s config')

  t.throws(() => defaults.post('/a', { config: { idempotency: { keys: 'payload' } as never } }, async () => 'a'),
    { code: 'HALO_ERR_OPTION', message: /idempotencyPlugin: route POST \/a config\.idempotency: unknown option "keys"/ })
  t.throws(() => defaults.post('/b', { config: { idempotency: true as never } }, async () => 'b'), /config\.idempotency: options must be an object/)
  t.throws(() => defaults.get('/c', { config: { idempotency: { ttlSeconds: -1 } } }, async () => 'c'), /route GET \/c config\.idempotency: option "ttlSeconds"/)
})
