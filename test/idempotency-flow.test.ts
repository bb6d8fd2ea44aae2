// The idempotent-request flow on its own, without Fastify: what `admit` decides, what `settle` stores or
// releases, and which store calls get the deadline's signal. Requests here are plain objects with the
// members the flow reads.
import t from 'tap'
import type { Deadline } from '../lib/context.js'
import { PassiveDeadline } from '../lib/deadline.js'
import {
  IdempotencyFlow, MemoryIdempotencyStore,
  type Answer, type ClaimResult, type CompleteResult, type IdempotencySettings, type IdempotencyStore, type IdempotentRequest, type StoredResponse
} from '../lib/idempotency/index.js'

const SETTINGS: IdempotencySettings = { keyedByPayload: false, hash: 'md5', ttlSeconds: 60, onStoreError: 'fail', claimGraceMs: 30_000 }

interface LoggedLine { level: 'debug' | 'warn', args: unknown[] }

interface TestDeadline extends Deadline {
  expired: boolean
  signalsHanded: number
}

function testDeadline (at = Date.now() + 5_000): TestDeadline {
  const controller = new AbortController()
  return {
    at,
    expired: false,
    signalsHanded: 0,
    remaining: () => at - Date.now(),
    get signal () {
      this.signalsHanded++
      return controller.signal
    }
  }
}

function request (overrides: Partial<IdempotentRequest> = {}): IdempotentRequest & { lines: LoggedLine[] } {
  const lines: LoggedLine[] = []
  return {
    method: 'POST',
    url: '/orders',
    body: { item: 'book' },
    headers: {},
    deadline: new PassiveDeadline(Infinity),
    log: {
      debug: (...args: unknown[]) => { lines.push({ level: 'debug', args }) },
      warn: (...args: unknown[]) => { lines.push({ level: 'warn', args }) }
    },
    ...overrides,
    lines
  }
}

function answer (statusCode: number, payload: unknown, headers: ReturnType<Answer['headers']> = {}): Answer {
  return { statusCode, payload, headers: () => headers }
}

/** A store that records what it was asked and with which signal, and fails or answers as told. */
class ScriptedStore implements IdempotencyStore {
  readonly calls: Array<{ method: string, args: unknown[], signal: AbortSignal | undefined }> = []
  failWith: unknown
  claimResult: ClaimResult = { claimed: true, owner: 'owner-1' }
  completeResult: CompleteResult = { stored: true }
  onClaim: () => void = () => {}

  async claim (id: string, fingerprint: string, inProgressExpiry: number, ttlSeconds: number, signal?: AbortSignal): Promise<ClaimResult> {
    this.calls.push({ method: 'claim', args: [id, fingerprint, inProgressExpiry, ttlSeconds], signal })
    this.onClaim()
    if (this.failWith !== undefined) throw this.failWith
    return this.claimResult
  }

  async complete (id: string, owner: string, response: StoredResponse, ttlSeconds: number, signal?: AbortSignal): Promise<CompleteResult> {
    this.calls.push({ method: 'complete', args: [id, owner, response, ttlSeconds], signal })
    if (this.failWith !== undefined) throw this.failWith
    return this.completeResult
  }

  async release (id: string, owner: string, signal?: AbortSignal): Promise<void> {
    this.calls.push({ method: 'release', args: [id, owner], signal })
    if (this.failWith !== undefined) throw this.failWith
  }
}

t.test('admit: the first request runs owning the claim; a repeat replays the answer, a repeat in progress waits, another body is refused', async (t) => {
  const flow = new IdempotencyFlow(new MemoryIdempotencyStore(), 'svc')
  const first = await flow.admit(request(), '/orders', 'k1', SETTINGS)
  if (first.outcome !== 'run' || first.claim === null) throw new Error(`expected a claim, got ${JSON.stringify(first)}`)

  const whileRunning = await flow.admit(request(), '/orders', 'k1', SETTINGS)
  t.equal(whileRunning.outcome, 'in-progress')
  t.same(await flow.admit(request({ body: { item: 'pen' } }), '/orders', 'k1', SETTINGS), { outcome: 'key-reused' })

  await flow.settle(request(), first.claim, answer(201, '{"id":1}', { 'content-type': 'application/json', 'content-length': 8, date: 'now', 'set-cookie': 's=1', 'x-count': 3 }), SETTINGS)
  t.same(await flow.admit(request(), '/orders', 'k1', SETTINGS), {
    outcome: 'replay',
    response: { statusCode: 201, headers: { 'content-type': 'application/json', 'x-count': '3' }, body: Buffer.from('{"id":1}') }
  }, 'stored without the headers of one exchange, numbers as strings')
})

t.test('admit: the record is scoped by namespace, caller, method and route pattern', async (t) => {
  const store = new MemoryIdempotencyStore()
  const flow = new IdempotencyFlow(store, 'svc')
  const admitted = async (flowToUse: IdempotencyFlow, overrides: Partial<IdempotentRequest>, route = '/orders'): Promise<string> =>
    (await flowToUse.admit(request(overrides), route, 'k1', SETTINGS)).outcome
  t.equal(await admitted(flow, {}), 'run')
  t.equal(await admitted(flow, {}), 'in-progress')
  t.equal(await admitted(flow, { headers: { authorization: 'Bearer other' } }), 'run', 'another caller')
  t.equal(await admitted(flow, { method: 'PUT' }), 'run', 'another method')
  t.equal(await admitted(flow, {}, '/orders/:id'), 'run', 'another route')
  t.equal(await admitted(new IdempotencyFlow(store, 'other-svc'), {}), 'run', 'another namespace')
})

t.test('admit: keyed by payload, the URL and the canonical body make the key, and a given key joins them', async (t) => {
  const flow = new IdempotencyFlow(new MemoryIdempotencyStore(), '')
  const byPayload = { ...SETTINGS, keyedByPayload: true }
  t.equal((await flow.admit(request({ body: { a: 1, b: 2 } }), '/orders', undefined, byPayload)).outcome, 'run')
  t.equal((await flow.admit(request({ body: { b: 2, a: 1 } }), '/orders', undefined, byPayload)).outcome, 'in-progress', 'key order does not matter')
  t.equal((await flow.admit(request({ body: { a: 1, b: 2 }, url: '/orders?x=1' }), '/orders', undefined, byPayload)).outcome, 'run', 'another URL')
  t.equal((await flow.admit(request({ body: { a: 1, b: 2 } }), '/orders', 'given', byPayload)).outcome, 'run', 'a given key')
})

t.test('admit: the claim holds past the deadline (or API Gateway\'s 29 s for one that never passes) by the grace, and the record outlives it', async (t) => {
  const store = new ScriptedStore()
  const flow = new IdempotencyFlow(store, '')
  const deadline = testDeadline(Date.now() + 90_000)
  await flow.admit(request({ deadline }), '/orders', 'k', SETTINGS)
  const [, , expiry, ttl] = store.calls[0].args as [string, string, number, number]
  t.equal(expiry, deadline.at + 30_000)
  t.ok(ttl > 120 && ttl <= 122, `a ttl of ${ttl} s outlives a 120 s claim over the route's 60 s`)
  t.equal(store.calls[0].signal, deadline.signal, 'a store that takes a signal gets the deadline\'s')

  const before = Date.now()
  const unboundedRequest = request()
  await flow.admit(unboundedRequest, '/orders', 'k', SETTINGS)
  const [, , unbounded, unboundedTtl] = store.calls[1].args as [string, string, number, number]
  t.ok(unbounded >= before + 59_000 && unbounded <= Date.now() + 59_000, 'finite: a record never holds its key forever')
  t.equal(unboundedTtl, 60)
  t.equal(store.calls[1].signal, unboundedRequest.deadline.signal)
  t.equal(store.calls[1].signal?.aborted, false, 'a signal that never aborts')
})

t.test('a store that declares it takes no signal never makes a request create one', async (t) => {
  const store = new ScriptedStore()
  Object.assign(store, { capabilities: { signal: false } })
  const flow = new IdempotencyFlow(store, '')
  const deadline = testDeadline()
  const admission = await flow.admit(request({ deadline }), '/orders', 'k', SETTINGS)
  if (admission.outcome !== 'run' || admission.claim === null) throw new Error('expected a claim')
  await flow.settle(request({ deadline }), admission.claim, answer(200, 'ok'), SETTINGS)
  await flow.settle(request({ deadline }), admission.claim, answer(500, 'no'), SETTINGS)
  t.same(store.calls.map((call) => [call.method, call.signal]), [['claim', undefined], ['complete', undefined], ['release', undefined]])
  t.equal(deadline.signalsHanded, 0)
  t.equal(new MemoryIdempotencyStore().capabilities.signal, false, 'the memory store declares so')
})

t.test('admit: a store failure fails the request as HALO_ERR_IDEMPOTENCY_STORE, or runs it unclaimed with onStoreError: continue', async (t) => {
  const store = new ScriptedStore()
  const flow = new IdempotencyFlow(store, '')
  const cause = new Error('connection refused')
  store.failWith = cause
  const failed = await flow.admit(request(), '/orders', 'k', SETTINGS).catch((error: unknown) => error)
  t.match(failed, { code: 'HALO_ERR_IDEMPOTENCY_STORE', statusCode: 503, message: /connection refused/, cause })

  const storeError = Object.assign(new Error('already ours'), { code: 'HALO_ERR_IDEMPOTENCY_STORE' })
  store.failWith = storeError
  t.equal(await flow.admit(request(), '/orders', 'k', SETTINGS).catch((error: unknown) => error), storeError, 'a store error is not wrapped again')

  const continuing = request()
  t.same(await flow.admit(continuing, '/orders', 'k', { ...SETTINGS, onStoreError: 'continue' }), { outcome: 'run', claim: null })
  t.match(continuing.lines, [{ level: 'warn', args: [{ err: storeError }, /runs without idempotency/] }])
})

t.test('admit: once the deadline passed while the store answered, the deadline\'s answer stands', async (t) => {
  const store = new ScriptedStore()
  const flow = new IdempotencyFlow(store, '')
  const deadline = testDeadline()
  store.onClaim = () => { deadline.expired = true }
  t.same(await flow.admit(request({ deadline }), '/orders', 'k', SETTINGS), { outcome: 'expired' }, 'after a claim')
  t.same(store.calls.map((call) => call.method), ['claim', 'release'], 'the claim the handler will never use is released at once')
  store.claimResult = { claimed: false, existing: { id: 'k', status: 'IN_PROGRESS', fingerprint: 'f', expiration: 0, inProgressExpiry: 0, owner: 'other' } }
  t.same(await flow.admit(request({ deadline }), '/orders', 'k', SETTINGS), { outcome: 'expired' }, 'after a repeat was found')
  store.claimResult = { claimed: true, owner: 'owner-1' }
  const releaseFails = request({ deadline })
  store.release = async () => { throw new Error('store gone') }
  t.same(await flow.admit(releaseFails, '/orders', 'k', SETTINGS), { outcome: 'expired' })
  await new Promise((resolve) => setImmediate(resolve))
  t.match(releaseFails.lines, [{ level: 'warn', args: [{ err: { message: 'store gone' } }, /unused claim frees at its in-progress expiry/] }])
  store.failWith = new Error('aborted')
  t.same(await flow.admit(request({ deadline }), '/orders', 'k', SETTINGS), { outcome: 'expired' }, 'after a failure: no 503 over the 504')
})

t.test('settle: 5xx answers and streams release the key; store outcomes that lose the answer are logged, never thrown', async (t) => {
  const store = new ScriptedStore()
  const flow = new IdempotencyFlow(store, '')
  const claim = { id: 'id-1', owner: 'owner-1', inProgressExpiry: Date.now() + 60_000 }

  await flow.settle(request(), claim, answer(503, 'down'), SETTINGS)
  const streamed = request()
  await flow.settle(streamed, claim, answer(200, { pipe () {} }), SETTINGS)
  t.same(store.calls.map((call) => [call.method, ...call.args]), [['release', 'id-1', 'owner-1'], ['release', 'id-1', 'owner-1']])
  t.match(streamed.lines, [{ level: 'debug', args: [/streamed answer not stored/] }])

  store.calls.length = 0
  await flow.settle(request(), claim, answer(204, undefined), SETTINGS)
  t.match(store.calls, [{ method: 'complete', args: ['id-1', 'owner-1', { statusCode: 204, body: Buffer.alloc(0) }, 60] }], 'an empty answer is stored empty')

  const tooLarge = request()
  store.completeResult = { stored: false, reason: 'too-large', bytes: 10, limit: 5 }
  await flow.settle(tooLarge, claim, answer(200, Buffer.from('0123456789')), SETTINGS)
  t.match(tooLarge.lines, [{ level: 'warn', args: [{ bytes: 10, limit: 5 }, /too large/] }])

  const lost = request()
  store.completeResult = { stored: false, reason: 'claim-lost' }
  await flow.settle(lost, claim, answer(200, 'ok'), SETTINGS)
  t.match(lost.lines, [{ level: 'warn', args: [/claim lost/] }])

  const failing = request()
  const error = new Error('throttled')
  store.failWith = error
  await flow.settle(failing, claim, answer(200, 'ok'), SETTINGS)
  t.match(failing.lines, [{ level: 'warn', args: [{ err: error }, /store unavailable/] }])
})

t.test('release frees the key for the next request', async (t) => {
  const flow = new IdempotencyFlow(new MemoryIdempotencyStore(), '')
  const first = await flow.admit(request(), '/orders', 'k', SETTINGS)
  if (first.outcome !== 'run' || first.claim === null) throw new Error('expected a claim')
  await flow.release(request(), first.claim)
  t.equal((await flow.admit(request(), '/orders', 'k', SETTINGS)).outcome, 'run')
})

t.test('settle: an answer that comes after the deadline (a hang-up, a 504) is still stored, under a signal of the claim\'s own', async (t) => {
  const store = new ScriptedStore()
  const flow = new IdempotencyFlow(store, '')
  const deadline = testDeadline()
  deadline.expired = true
  const claim = { id: 'id-1', owner: 'owner-1', inProgressExpiry: Date.now() + 60_000 }
  await flow.settle(request({ deadline }), claim, answer(200, 'late'), SETTINGS)
  t.match(store.calls, [{ method: 'complete', args: ['id-1', 'owner-1', { statusCode: 200, body: Buffer.from('late') }] }])
  const signal = store.calls[0]!.signal
  t.ok(signal !== undefined && signal !== deadline.signal && !signal.aborted, 'not the deadline\'s signal, which aborted')
})

t.test('settle: a store write still going at the deadline no longer holds the answer, and its outcome is still logged', async (t) => {
  const store = new ScriptedStore()
  let finishWrite = (): void => {}
  store.complete = async (...args) => {
    store.calls.push({ method: 'complete', args, signal: undefined })
    await new Promise<void>((resolve) => { finishWrite = resolve })
    return { stored: false, reason: 'claim-lost' }
  }
  const flow = new IdempotencyFlow(store, '')
  const controller = new AbortController()
  const deadline: Deadline = { at: Date.now() + 5_000, expired: false, remaining: () => 5_000, signal: controller.signal }
  const waiting = request({ deadline })
  const settled = flow.settle(waiting, { id: 'id-1', owner: 'owner-1', inProgressExpiry: Date.now() + 60_000 }, answer(200, 'ok'), SETTINGS)
  setTimeout(() => { controller.abort() }, 20)
  await settled
  t.equal(store.calls.length, 1)
  t.same(waiting.lines, [], 'the write has not ended yet')
  finishWrite()
  await new Promise((resolve) => setImmediate(resolve))
  t.match(waiting.lines, [{ level: 'warn', args: [/claim lost/] }])
})

t.test('admit: the scope is the caller\'s credentials by default, or what the app says', async (t) => {
  const flow = new IdempotencyFlow(new MemoryIdempotencyStore(), 'svc')
  const outcome = async (overrides: Partial<IdempotentRequest>, scope?: string): Promise<string> =>
    (await flow.admit(request(overrides), '/orders', 'k1', SETTINGS, scope)).outcome
  t.equal(await outcome({ headers: { 'x-api-key': 'key-a' } }), 'run')
  t.equal(await outcome({ headers: { 'x-api-key': 'key-a' } }), 'in-progress')
  t.equal(await outcome({ headers: { 'x-api-key': 'key-b' } }), 'run', 'another API key')
  t.equal(await outcome({ headers: { cookie: 'session=a' } }), 'run', 'a cookie')
  t.equal(await outcome({ headers: { cookie: 'session=b' } }), 'run', 'another cookie')
  t.equal(await outcome({ headers: { 'x-api-key': 'key-a' } }, 'tenant-1'), 'run', 'a scope replaces the rule')
  t.equal(await outcome({ headers: { 'x-api-key': 'key-b' } }, 'tenant-1'), 'in-progress', 'whatever the headers say')
})
