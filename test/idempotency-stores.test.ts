// One behavioural suite for every idempotency store: memory, DynamoDB on the helper's engine (DynamoDB Local
// when Java is there), and DynamoDB on dynalite, whose answers differ (no ALL_OLD on a failed condition, no TTL).
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import {
  DeleteItemCommand, DescribeTableCommand, GetItemCommand, DescribeTimeToLiveCommand, DynamoDBClient
} from '@aws-sdk/client-dynamodb'
import {
  DYNAMODB_MAX_ITEM_BYTES, DynamoDBIdempotencyStore, MemoryIdempotencyStore, classifyRepeat, idempotencyRecordId, replayPayload, requestFingerprint
} from '../lib/idempotency/index.js'
import type { CompleteResult, IdempotencyRecord, IdempotencyStore, StoredResponse } from '../lib/idempotency/index.js'
import { itemBytes } from '../lib/idempotency/dynamodb-store.js'
import { DEFAULT_MAX_BYTES, recordBytes } from '../lib/idempotency/memory-store.js'
import { freePort, recordCommands, startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'
import type { LocalDynamoDB } from './helpers/dynamodb.js'

const TTL = 3600
const FAR = () => Date.now() + 60_000

interface Fixture {
  name: string
  store: IdempotencyStore
  /** Names of the DynamoDB commands sent so far; undefined for memory. */
  calls?: string[]
  dynamodb?: LocalDynamoDB
  /** Whether the store gzips, so a compressible answer far above 400 KiB still fits. */
  compresses: boolean
}

async function dynamoDBFixture (engine?: 'dynalite'): Promise<Fixture> {
  const saved = process.env.HALO_TEST_DYNAMODB_ENGINE
  if (engine !== undefined) process.env.HALO_TEST_DYNAMODB_ENGINE = engine
  const dynamodb = await startDynamoDB().finally(() => { process.env.HALO_TEST_DYNAMODB_ENGINE = saved })
  t.teardown(dynamodb.stop)
  const store = new DynamoDBIdempotencyStore({ table: uniqueTableName('idempotency'), client: dynamodb.client })
  await store.ensureTable()
  return { name: `dynamodb on ${dynamodb.engine}`, store, calls: recordCommands(dynamodb.client), dynamodb, compresses: true }
}

const fixtures: Fixture[] = [
  { name: 'memory', store: new MemoryIdempotencyStore(), compresses: false },
  await dynamoDBFixture(),
  await dynamoDBFixture('dynalite')
]

/** The DynamoDB commands an action sends (undefined for the memory store), and its result. */
async function counted<T> (fixture: Fixture, action: () => Promise<T>): Promise<{ result: T, commands?: string[] }> {
  const before = fixture.calls?.length ?? 0
  const result = await action()
  return { result, commands: fixture.calls?.slice(before) }
}

function answer (body: Buffer | string, headers: StoredResponse['headers'] = { 'content-type': 'application/octet-stream' }): StoredResponse {
  return { statusCode: 201, headers, body: Buffer.from(body) }
}

/** The size of an item as stored, counted as DynamoDB counts it. */
async function itemBytesOf (dynamodb: LocalDynamoDB, TableName: string, id: string): Promise<number> {
  const { Item } = await dynamodb.client.send(new GetItemCommand({ TableName, Key: { id: { S: id } }, ConsistentRead: true }))
  return itemBytes(Item!)
}

async function claimOrFail (store: IdempotencyStore, id: string, fingerprint = 'fp', inProgressExpiry = FAR(), ttl = TTL): Promise<string> {
  const result = await store.claim(id, fingerprint, inProgressExpiry, ttl)
  if (!result.claimed) throw new Error(`expected to claim ${id}`)
  return result.owner
}

for (const fixture of fixtures) {
  const { store } = fixture
  const isDynalite = fixture.dynamodb?.engine === 'dynalite'

  t.test(`${fixture.name}: claim, complete, replay`, async (t) => {
    const id = randomUUID()
    const first = await counted(fixture, () => store.claim(id, 'fp', FAR(), TTL))
    t.ok(first.result.claimed)
    t.same(first.commands, fixture.calls && ['PutItem'], 'claiming a new id costs one call')
    const owner = first.result.claimed ? first.result.owner : ''
    t.match(owner, /^[0-9a-f-]{36}$/)

    const inProgress = await store.claim(id, 'fp', FAR(), TTL)
    t.match(inProgress, {
      claimed: false,
      existing: { id, status: 'IN_PROGRESS', fingerprint: 'fp', owner, expiration: Number, inProgressExpiry: Number }
    })
    t.notOk(inProgress.claimed ? undefined : inProgress.existing.status === 'COMPLETED' && inProgress.existing.response)

    const response = answer('{"order":1}', { 'content-type': 'application/json', 'x-custom': ['a', 'b'] })
    const completed = await counted(fixture, () => store.complete(id, owner, response, TTL))
    t.same(completed.result, { stored: true })
    t.same(completed.commands, fixture.calls && ['UpdateItem'], 'completing costs one call')

    const repeat = await counted(fixture, () => store.claim(id, 'fp', FAR(), TTL))
    t.same(repeat.commands, fixture.calls && (isDynalite ? ['PutItem', 'GetItem'] : ['PutItem']),
      'a repeat costs one call (dynalite returns no item with the failed condition: one read more)')
    t.match(repeat.result, { claimed: false, existing: { id, status: 'COMPLETED', fingerprint: 'fp', owner, response: { statusCode: 201 } } })
    if (repeat.result.claimed || repeat.result.existing.status !== 'COMPLETED') throw new Error('not replayable')
    t.same(repeat.result.existing.response.headers, response.headers)
    t.ok(repeat.result.existing.response.body.equals(response.body))
    const nowSeconds = Math.floor(Date.now() / 1000)
    t.ok(Math.abs(repeat.result.existing.expiration - (nowSeconds + TTL)) <= 2, 'expires ttlSeconds from completion')
  })

  t.test(`${fixture.name}: repeats are classified for the plugin`, async (t) => {
    const id = randomUUID()
    const fingerprint = requestFingerprint('/orders', { amount: 10, currency: 'EUR' }, 'md5')
    const owner = await claimOrFail(store, id, fingerprint)
    const sameBodyOtherOrder = requestFingerprint('/orders', { currency: 'EUR', amount: 10 }, 'md5')
    const pending = await store.claim(id, sameBodyOtherOrder, FAR(), TTL)
    t.notOk(pending.claimed)
    if (pending.claimed) return
    const repeat = classifyRepeat(pending.existing, sameBodyOtherOrder)
    t.equal(repeat.outcome, 'in-progress', 'the same body in another key order is the same request')
    t.ok(repeat.outcome === 'in-progress' && repeat.retryAfterSeconds >= 59 && repeat.retryAfterSeconds <= 60, 'retry after its deadline')
    t.same(classifyRepeat(pending.existing, sameBodyOtherOrder, pending.existing.inProgressExpiry + 5000), { outcome: 'in-progress', retryAfterSeconds: 1 })
    t.same(classifyRepeat(pending.existing, requestFingerprint('/orders', { amount: 11, currency: 'EUR' }, 'md5')), { outcome: 'key-reused' })

    await store.complete(id, owner, answer('done'), TTL)
    const done = await store.claim(id, fingerprint, FAR(), TTL)
    if (done.claimed) throw new Error('claimed a completed record')
    t.match(classifyRepeat(done.existing, fingerprint), { outcome: 'replay', response: { statusCode: 201 } })
    t.same(classifyRepeat(done.existing, 'another body'), { outcome: 'key-reused' })
  })

  t.test(`${fixture.name}: release frees the key, only for its owner`, async (t) => {
    const id = randomUUID()
    const owner = await claimOrFail(store, id)
    const duplicate = await store.claim(id, 'fp', FAR(), TTL)
    t.notOk(duplicate.claimed)
    await store.release(id, randomUUID())
    t.match(await store.claim(id, 'fp', FAR(), TTL), { claimed: false, existing: { owner } }, 'a rejected duplicate never frees the claim')
    t.same(await store.complete(id, randomUUID(), answer('x'), TTL), { stored: false, reason: 'claim-lost' }, 'nor completes it')

    const released = await counted(fixture, () => store.release(id, owner))
    t.same(released.commands, fixture.calls && ['DeleteItem'])
    t.same(await store.complete(id, owner, answer('late'), TTL), { stored: false, reason: 'claim-lost' }, 'a released claim cannot complete')
    const next = await claimOrFail(store, id)
    t.not(next, owner, 'the retry runs, with a claim of its own')
    await t.resolves(store.release(randomUUID(), next), 'releasing an unknown id is no error')
    t.match(await store.claim(id, 'fp', FAR(), TTL), { claimed: false, existing: { owner: next } }, 'and touches no other record')
  })

  t.test(`${fixture.name}: a record past its expiration counts as absent`, async (t) => {
    const completedId = randomUUID()
    const owner = await claimOrFail(store, completedId)
    t.same(await store.complete(completedId, owner, answer('old'), -1), { stored: true })
    const again = await store.claim(completedId, 'other body', FAR(), TTL)
    t.ok(again.claimed, 'an expired answer is never replayed, nor reported as key reuse')

    const inProgressId = randomUUID()
    await claimOrFail(store, inProgressId, 'fp', FAR(), -1)
    t.ok((await store.claim(inProgressId, 'fp', FAR(), TTL)).claimed)
  })

  t.test(`${fixture.name}: an IN_PROGRESS record past its in-progress expiry can be claimed again`, async (t) => {
    const id = randomUUID()
    const crashed = await claimOrFail(store, id, 'fp', Date.now() - 1)
    const retry = await claimOrFail(store, id)
    t.not(retry, crashed)
    t.same(await store.complete(id, crashed, answer('too late'), TTL), { stored: false, reason: 'claim-lost' })
    await store.release(id, crashed)
    t.match(await store.claim(id, 'fp', FAR(), TTL), { claimed: false, existing: { owner: retry, status: 'IN_PROGRESS' } },
      'the crashed owner can neither complete nor free the new claim')

    const completedId = randomUUID()
    const owner = await claimOrFail(store, completedId, 'fp', Date.now() + 20)
    await store.complete(completedId, owner, answer('kept'), TTL)
    await new Promise((resolve) => setTimeout(resolve, 30))
    t.match(await store.claim(completedId, 'fp', FAR(), TTL), { claimed: false, existing: { status: 'COMPLETED' } },
      'a completed record outlives its in-progress expiry')
  })

  t.test(`${fixture.name}: 50 concurrent claims of one id, exactly one wins`, async (t) => {
    const id = randomUUID()
    const results = await Promise.all(Array.from({ length: 50 }, async () => await store.claim(id, 'fp', FAR(), TTL)))
    const winners = results.filter((result) => result.claimed)
    t.equal(winners.length, 1)
    const owner = winners[0]?.claimed ? winners[0].owner : ''
    for (const result of results) {
      if (!result.claimed) t.equal(result.existing.owner, owner)
    }
  })

  t.test(`${fixture.name}: bodies are kept byte for byte`, async (t) => {
    const bodies = {
      empty: Buffer.alloc(0),
      'every byte value': Buffer.from(Array.from({ length: 256 }, (_, byte) => byte)),
      'random, above the compression threshold': randomBytes(5000),
      'compressible text': Buffer.from('{"seat":"12A","price":99.5},'.repeat(400)),
      'incompressible, 300 KiB': randomBytes(300 * 1024)
    }
    for (const [name, body] of Object.entries(bodies)) {
      const id = randomUUID()
      const owner = await claimOrFail(store, id)
      t.same(await store.complete(id, owner, answer(body), TTL), { stored: true }, name)
      const replay = await store.claim(id, 'fp', FAR(), TTL)
      t.ok(!replay.claimed && replay.existing.status === 'COMPLETED' && replay.existing.response.body.equals(body), name)
    }
  })

  t.test(`${fixture.name}: an answer too large to store is released, not stored`, async (t) => {
    const id = randomUUID()
    const owner = await claimOrFail(store, id)
    const result = await store.complete(id, owner, answer(randomBytes(500 * 1024)), TTL)
    t.match(result, { stored: false, reason: 'too-large', limit: DYNAMODB_MAX_ITEM_BYTES })
    t.ok(!result.stored && result.reason === 'too-large' && result.bytes > result.limit)
    t.ok((await store.claim(id, 'fp', FAR(), TTL)).claimed, 'a retry runs')

    const compressibleId = randomUUID()
    const compressibleOwner = await claimOrFail(store, compressibleId)
    const large = Buffer.from('{"line":"the same JSON, again and again"}\n'.repeat(25_000))
    t.ok(large.byteLength > 1024 * 1024)
    t.match(await store.complete(compressibleId, compressibleOwner, answer(large), TTL),
      fixture.compresses ? { stored: true } : { stored: false, reason: 'too-large' },
      fixture.compresses ? 'gzip makes a large, compressible answer fit' : 'stored as is, so too large')
  })

  t.test(`${fixture.name}: callers are kept apart`, async (t) => {
    const parts = { namespace: '', method: 'POST', route: '/bookings', key: randomUUID() }
    const alice = idempotencyRecordId({ ...parts, scope: 'Bearer alice' }, 'md5')
    const bob = idempotencyRecordId({ ...parts, scope: 'Bearer bob' }, 'md5')
    const aliceOwner = await claimOrFail(store, alice)
    await store.complete(alice, aliceOwner, answer('alice booking'), TTL)
    t.ok((await store.claim(bob, 'fp', FAR(), TTL)).claimed, 'the same key from another caller is another execution')
    t.ok((await store.claim(idempotencyRecordId({ ...parts, scope: 'Bearer alice' }, 'sha256'), 'fp', FAR(), TTL)).claimed,
      'md5 and sha256 ids are different records')
  })
}

t.test('memory: least recently used records go first beyond maxEntries', async (t) => {
  const store = new MemoryIdempotencyStore({ maxEntries: 3 })
  for (const id of ['a', 'b', 'c']) await claimOrFail(store, id)
  t.notOk((await store.claim('a', 'fp', FAR(), TTL)).claimed, 'a is used again')
  await claimOrFail(store, 'd')
  t.equal(store.size, 3)
  t.ok((await store.claim('b', 'fp', FAR(), TTL)).claimed, 'b, the least recently used, was evicted')
  t.notOk((await store.claim('a', 'fp', FAR(), TTL)).claimed, 'a was kept')
  t.equal(store.size, 3)
})

t.test('memory: maxBytes bounds the records together, least recently used going first', async (t) => {
  const body = Buffer.alloc(300 * 1024)
  const bigAnswer = { statusCode: 200, headers: { 'content-type': 'application/json' }, body }
  const defaults = new MemoryIdempotencyStore()
  let stored = 0
  for (let index = 0; index < 1_000; index++) {
    const id = `key-${index}`
    if ((await defaults.complete(id, await claimOrFail(defaults, id), bigAnswer, TTL)).stored) stored++
  }
  t.equal(stored, 1_000, 'each answer was stored')
  t.ok(defaults.bytes <= DEFAULT_MAX_BYTES, `1,000 answers of 300 KiB hold ${defaults.bytes} bytes, at most 64 MiB`)
  t.equal(defaults.size, Math.floor(DEFAULT_MAX_BYTES / recordBytes((await defaults.claim('key-999', 'fp', FAR(), TTL) as { existing: IdempotencyRecord }).existing)))
  t.ok((await defaults.claim('key-0', 'fp', FAR(), TTL)).claimed, 'the oldest answers were evicted')

  const store = new MemoryIdempotencyStore({ maxBytes: 1024 * 1024 })
  for (const id of ['a', 'b', 'c', 'd']) {
    await store.complete(id, await claimOrFail(store, id), bigAnswer, TTL)
    if (id === 'c') t.notOk((await store.claim('a', 'fp', FAR(), TTL)).claimed, 'a is used again')
  }
  t.equal(store.size, 3, 'three answers of 300 KiB fit in 1 MiB')
  t.ok(store.bytes <= 1024 * 1024)
  t.notOk((await store.claim('a', 'fp', FAR(), TTL)).claimed, 'a, used recently, was kept')
  t.ok((await store.claim('b', 'fp', FAR(), TTL)).claimed, 'b, the least recently used, was evicted')
  const before = store.bytes
  await store.release('b', (await store.claim('b', 'fp', FAR(), TTL) as { claimed: false, existing: IdempotencyRecord }).existing.owner)
  t.ok(store.bytes < before, 'a released claim gives its bytes back')

  const tiny = new MemoryIdempotencyStore({ maxBytes: 1024 })
  const owner = await claimOrFail(tiny, 'x')
  t.same(await tiny.complete('x', owner, answer('a'.repeat(2000)), TTL), { stored: false, reason: 'too-large', bytes: recordBytes({ id: 'x', status: 'COMPLETED', fingerprint: 'fp', expiration: 0, inProgressExpiry: 0, owner, response: answer('a'.repeat(2000)) }), limit: 1024 })
  t.equal(tiny.size, 0)
  t.equal(tiny.bytes, 0, 'nothing held once the answer is refused')
  const alone = new MemoryIdempotencyStore({ maxBytes: 1 })
  await claimOrFail(alone, 'y')
  t.equal(alone.size, 1, 'a claim larger than maxBytes is still held: it is the one in use')
})

t.test('memory: maxBodyBytes bounds a stored answer', async (t) => {
  const store = new MemoryIdempotencyStore({ maxBodyBytes: 10 })
  const owner = await claimOrFail(store, 'x')
  t.same(await store.complete('x', owner, answer('12345678901'), TTL), { stored: false, reason: 'too-large', bytes: 11, limit: 10 })
  const next = await claimOrFail(store, 'x')
  t.same(await store.complete('x', next, answer('1234567890'), TTL), { stored: true })
})

t.test('store options are checked', async (t) => {
  t.throws(() => new MemoryIdempotencyStore({ maxEntries: 0 }), { code: 'HALO_ERR_OPTION', message: /maxEntries/ })
  t.throws(() => new MemoryIdempotencyStore({ maxBytes: 0 }), { code: 'HALO_ERR_OPTION', message: /maxBytes/ })
  t.throws(() => new MemoryIdempotencyStore({ maxEntry: 5 } as never), { code: 'HALO_ERR_OPTION', message: /unknown option "maxEntry"/ })
  t.throws(() => new DynamoDBIdempotencyStore({} as never), { code: 'HALO_ERR_OPTION', message: /"table" is required/ })
  t.throws(() => new DynamoDBIdempotencyStore(undefined as never), { code: 'HALO_ERR_OPTION', message: /"table" is required/ })
  for (const table of ['', 'ab', 'orders idempotency', 'x'.repeat(256)]) {
    t.throws(() => new DynamoDBIdempotencyStore({ table }), { code: 'HALO_ERR_OPTION', message: /"table" must be a DynamoDB table name/ }, JSON.stringify(table))
  }
  t.throws(() => new DynamoDBIdempotencyStore({ table: 'orders-idempotency', compressAboveBytes: -1 }), { code: 'HALO_ERR_OPTION', message: /"compressAboveBytes"/ })
  t.equal(new DynamoDBIdempotencyStore({ table: 'orders-idempotency' }).table, 'orders-idempotency')
})

for (const fixture of fixtures.filter((fixture) => fixture.dynamodb !== undefined)) {
  const dynamodb = fixture.dynamodb as LocalDynamoDB

  t.test(`${fixture.name}: an answer is stored as long as its item fits, counted as DynamoDB counts it`, async (t) => {
    const store = new DynamoDBIdempotencyStore({ table: (fixture.store as DynamoDBIdempotencyStore).table, client: dynamodb.client })
    const storeAnswer = async (body: Buffer): Promise<{ result: CompleteResult, id: string }> => {
      const id = idempotencyRecordId({ namespace: '', scope: '', method: 'POST', route: '/files', key: randomUUID() }, 'sha256')
      const owner = await claimOrFail(store, id, requestFingerprint('/orders', body, 'sha256'))
      return { result: await store.complete(id, owner, answer(body), TTL), id }
    }
    // Random bytes: gzip cannot shrink them.
    const kib399 = await storeAnswer(randomBytes(399 * 1024))
    t.same(kib399.result, { stored: true }, 'a 399 KiB answer fits')
    const replayed = await store.claim(kib399.id, 'fp', FAR(), TTL)
    t.ok(!replayed.claimed && replayed.existing.status === 'COMPLETED' && replayed.existing.response.body.byteLength === 399 * 1024, 'and is read back whole')

    const probe = await storeAnswer(Buffer.alloc(0))
    const emptyItemBytes = await itemBytesOf(dynamodb, store.table, probe.id)
    t.ok(emptyItemBytes > 100 && emptyItemBytes < 400, `the item around an empty answer: ${emptyItemBytes} bytes`)
    // The estimate counts the longest fingerprint and expiry: a little over the real item, never under it.
    const largest = randomBytes(DYNAMODB_MAX_ITEM_BYTES - emptyItemBytes - 40)
    t.same((await storeAnswer(largest)).result, { stored: true }, 'an answer within a few dozen bytes of the limit')
    const over = await storeAnswer(randomBytes(DYNAMODB_MAX_ITEM_BYTES - emptyItemBytes + 1))
    t.match(over.result, { stored: false, reason: 'too-large', limit: DYNAMODB_MAX_ITEM_BYTES })
    t.ok((await store.claim(over.id, 'fp', FAR(), TTL)).claimed, 'a too-large answer releases its key')
  })

  t.test(`${fixture.name}: ensureTable creates the documented table once`, async (t) => {
    const TableName = uniqueTableName('ensure')
    const store = new DynamoDBIdempotencyStore({ table: TableName, client: dynamodb.client })
    await store.ensureTable()
    const { Table } = await dynamodb.client.send(new DescribeTableCommand({ TableName }))
    t.match(Table, {
      TableStatus: 'ACTIVE',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' }
    })
    const { TimeToLiveDescription } = await dynamodb.client.send(new DescribeTimeToLiveCommand({ TableName }))
    t.match(TimeToLiveDescription, dynamodb.engine === 'dynalite'
      ? { TimeToLiveStatus: 'DISABLED' } // dynalite has no TTL: tolerated
      : { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiration' })
    const again = await counted(fixture, () => store.ensureTable())
    t.same(again.commands, ['CreateTable', 'DescribeTable'], 'an existing table is left as it is')
  })

  t.test(`${fixture.name}: destroy() ends the client the store made, and leaves a given one to its giver`, async (t) => {
    const given = fixture.store as DynamoDBIdempotencyStore
    const savedEnv = { ...process.env }
    t.teardown(() => { process.env = savedEnv })
    // DynamoDB Local keeps a database per access key: the fixture's client's.
    process.env = { ...savedEnv, AWS_ACCESS_KEY_ID: 'halo', AWS_SECRET_ACCESS_KEY: 'halo' }
    const own = new DynamoDBIdempotencyStore({ table: given.table, endpoint: dynamodb.endpoint, region: 'us-east-1' })
    t.ok((await own.claim(randomUUID(), 'fp', FAR(), TTL)).claimed)
    await own.destroy()
    t.ok((await own.claim(randomUUID(), 'fp', FAR(), TTL)).claimed, 'a call after destroy() makes a new client')
    await own.destroy()
    await given.destroy()
    t.ok(await dynamodb.client.send(new DescribeTableCommand({ TableName: given.table })), 'the given client still works')
  })

  t.test(`${fixture.name}: an aborted signal stops a call`, async (t) => {
    await t.rejects(fixture.store.claim(randomUUID(), 'fp', FAR(), TTL, AbortSignal.abort()), { code: 'HALO_ERR_IDEMPOTENCY_STORE', statusCode: 503 })
  })
}

const dynaliteFixture = fixtures.find((fixture) => fixture.dynamodb?.engine === 'dynalite')
t.test('dynalite: a record released between the failed claim and its read is claimed afresh', {
  skip: dynaliteFixture === undefined && 'HALO_TEST_DYNAMODB_ENDPOINT replaces dynalite'
}, async (t) => {
  const fixture = dynaliteFixture as Fixture
  const store = fixture.store as DynamoDBIdempotencyStore
  const { client } = fixture.dynamodb as LocalDynamoDB
  const id = randomUUID()
  await claimOrFail(store, id)
  let released = false
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'GetItemCommand' && !released) {
      released = true
      await client.send(new DeleteItemCommand({ TableName: store.table, Key: { id: { S: id } } }))
    }
    return await next(args)
  }, { step: 'initialize', name: 'releaseBeforeRead' })
  t.teardown(() => { client.middlewareStack.remove('releaseBeforeRead') })
  const retry = await counted(fixture, () => store.claim(id, 'fp', FAR(), TTL))
  t.ok(retry.result.claimed)
  t.same(retry.commands, ['PutItem', 'GetItem', 'DeleteItem', 'PutItem'])
})

t.test('an endpoint that answers what DynamoDB would not: the error says the HTTP status and what the SDK made of it', async (t) => {
  const server = createServer((request, response) => {
    request.resume()
    const status = request.headers['x-amz-target'] === 'DynamoDB_20120810.DeleteItem' ? 400 : 404
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' })
    response.end(status === 400 ? '{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}' : '')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 })
  t.teardown(() => client.destroy())
  const store = new DynamoDBIdempotencyStore({ table: 'idempotency', client })
  await t.rejects(store.claim('id', 'fp', FAR(), TTL), {
    code: 'HALO_ERR_IDEMPOTENCY_STORE', message: 'The idempotency store is unavailable: Unknown: UnknownError (the endpoint answered HTTP 404)'
  })
  await t.rejects(store.release('id', 'owner'), {
    message: 'The idempotency store is unavailable: ThrottlingException: Rate exceeded (the endpoint answered HTTP 400)'
  })
})

t.test('DynamoDB unreachable: every call rejects promptly with HALO_ERR_IDEMPOTENCY_STORE', async (t) => {
  const endpoint = `http://127.0.0.1:${await freePort()}`

  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 2 })
  t.teardown(() => client.destroy())
  const store = new DynamoDBIdempotencyStore({ table: 'unreachable', client })
  const storeError = { code: 'HALO_ERR_IDEMPOTENCY_STORE', statusCode: 503, message: /unavailable: .*ECONNREFUSED/, cause: Error }
  const startedAt = Date.now()
  await t.rejects(store.claim('id', 'fp', FAR(), TTL), storeError)
  t.ok(Date.now() - startedAt < 3000, 'promptly')
  await t.rejects(store.complete('id', 'owner', answer('x'), TTL), storeError)
  await t.rejects(store.release('id', 'owner'), storeError)
  await t.rejects(store.ensureTable(), storeError)

  // A store that makes its own client, from region and endpoint.
  const savedEnv = { ...process.env }
  t.teardown(() => { process.env = savedEnv })
  process.env = { ...savedEnv, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' }
  const ownClient = new DynamoDBIdempotencyStore({ table: 'unreachable', region: 'eu-west-1', endpoint })
  await t.rejects(ownClient.claim('id', 'fp', FAR(), TTL), storeError)
})

t.test('replayPayload: a small body of valid UTF-8 as its text, anything else as the stored bytes', async (t) => {
  const text = Buffer.from('{"note":"café ✓"}')
  t.equal(replayPayload(text), '{"note":"café ✓"}')
  t.ok(Buffer.from(replayPayload(text) as string).equals(text), 'the text encodes back to the same bytes')
  const eightKiB = Buffer.alloc(8 * 1024, 'a')
  t.equal(typeof replayPayload(eightKiB), 'string', '8 KiB is still sent as text')
  const larger = Buffer.alloc(8 * 1024 + 1, 'a')
  t.equal(replayPayload(larger), larger, 'past 8 KiB, the bytes')
  const latin1 = Buffer.from('caf\xe9', 'latin1')
  t.equal(replayPayload(latin1), latin1, 'bytes that are not UTF-8 are never decoded')
  const cutCharacter = Buffer.from('✓').subarray(0, 2)
  t.equal(replayPayload(cutCharacter), cutCharacter)
})
