import { createHash } from 'node:crypto'
import t from 'tap'
import { callerScope, canonicalJson, hashKey, idempotencyRecordId, requestFingerprint } from '../lib/idempotency/index.js'

t.test('canonicalJson sorts keys at every depth and keeps array order', async (t) => {
  const one = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, e: 'x' }
  const other = { e: 'x', a: { c: null, d: [3, { y: 2, z: 1 }] }, b: 1 }
  t.equal(canonicalJson(one), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1,"e":"x"}')
  t.equal(canonicalJson(other), canonicalJson(one))
  t.not(canonicalJson([1, 2]), canonicalJson([2, 1]))
  t.equal(canonicalJson({ 10: 'a', 9: 'b', b: 1, a: 2 }), canonicalJson({ a: 2, b: 1, 9: 'b', 10: 'a' }))
  const manyKeys = Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`k${(index * 7) % 40}`, index]))
  const fewKeys = { é: 1, z: 2, Z: 3, aa: 4, a: 5, '': 6 }
  for (const value of [manyKeys, fewKeys]) {
    const sorted = Object.keys(value).sort()
    t.equal(canonicalJson(value), `{${sorted.map((key) => `${JSON.stringify(key)}:${JSON.stringify((value as Record<string, number>)[key])}`).join(',')}}`, `${sorted.length} keys in sort() order`)
  }
})

t.test('canonicalJson follows JSON.stringify otherwise', async (t) => {
  t.equal(canonicalJson({ b: undefined, a: () => 1, c: [undefined] }), '{"c":[null]}')
  t.equal(canonicalJson({ at: new Date('2024-01-02T03:04:05.000Z') }), '{"at":"2024-01-02T03:04:05.000Z"}')
  t.equal(canonicalJson({ nested: { toJSON: () => ({ y: 1, x: 2 }) } }), '{"nested":{"x":2,"y":1}}')
  t.equal(canonicalJson('text'), '"text"')
  t.equal(canonicalJson(42), '42')
  t.equal(canonicalJson(null), 'null')
  t.equal(canonicalJson(undefined), '')
})

t.test('canonicalJson keeps a "__proto__" member as data', async (t) => {
  const parsed = JSON.parse('{"b":2,"__proto__":{"polluted":true}}') as unknown
  t.equal(canonicalJson(parsed), '{"__proto__":{"polluted":true},"b":2}')
  t.not(canonicalJson(parsed), canonicalJson({ b: 2 }))
})

t.test('hashKey: md5 by name, sha256 on request, parts length-prefixed', async (t) => {
  t.equal(hashKey(['abc'], 'md5'), createHash('md5').update('3:abc').digest('hex'))
  t.equal(hashKey(['abc'], 'sha256'), createHash('sha256').update('3:abc').digest('hex'))
  t.match(hashKey(['abc'], 'md5'), /^[0-9a-f]{32}$/)
  t.match(hashKey(['abc'], 'sha256'), /^[0-9a-f]{64}$/)
  t.not(hashKey(['ab', 'c'], 'md5'), hashKey(['a', 'bc'], 'md5'))
  t.not(hashKey(['a', ''], 'md5'), hashKey(['a'], 'md5'))
  t.equal(hashKey(['é', Buffer.from('x')], 'md5'), hashKey([Buffer.from('é'), 'x'], 'md5'), 'strings count in UTF-8 bytes')
  t.equal(hashKey(['é', Buffer.from('x')], 'md5'), createHash('md5').update('2:é1:x').digest('hex'), 'bytes hash as the same material as text')
})

t.test('idempotencyRecordId: one record per namespace, caller, method, route and key', async (t) => {
  const parts = { namespace: 'orders-service', scope: 'Bearer alice', method: 'POST', route: '/orders', key: 'k-1' }
  const id = idempotencyRecordId(parts, 'md5')
  t.equal(idempotencyRecordId({ ...parts }, 'md5'), id, 'stable')
  for (const change of [{ namespace: 'billing-service' }, { namespace: '' }, { scope: 'Bearer bob' }, { scope: '' }, { method: 'PUT' }, { route: '/orders/:id' }, { key: 'k-2' }]) {
    t.not(idempotencyRecordId({ ...parts, ...change }, 'md5'), id, `differs with ${JSON.stringify(change)}`)
  }
  t.equal(idempotencyRecordId({ ...parts, key: Buffer.from('k-1') }, 'md5'), id, 'key material as bytes')
  t.not(idempotencyRecordId(parts, 'sha256'), id)
  t.notMatch(id, /alice/, 'the authorization value is never visible')
})

t.test('requestFingerprint: one digest of the URL and the body', async (t) => {
  t.equal(requestFingerprint('/orders', { a: 1, b: [1, 2] }, 'md5'), requestFingerprint('/orders', { b: [1, 2], a: 1 }, 'md5'), 'key order does not matter')
  t.not(requestFingerprint('/orders', { a: 1 }, 'md5'), requestFingerprint('/orders', { a: 2 }, 'md5'))
  t.not(requestFingerprint('/orders?x=1', { a: 1 }, 'md5'), requestFingerprint('/orders', { a: 1 }, 'md5'), 'the URL counts')
  t.equal(requestFingerprint('/orders', Buffer.from('raw body'), 'md5'), requestFingerprint('/orders', 'raw body', 'md5'), 'raw bodies hashed as they are')
  t.equal(requestFingerprint('/orders', undefined, 'md5'), hashKey(['/orders', ''], 'md5'), 'no body')
  t.equal(requestFingerprint('/orders', { a: 1 }, 'sha256'), hashKey(['/orders', '{"a":1}'], 'sha256'))
})

t.test('canonicalJson gives the same text for a body at the depth written by recursion and one level deeper', async (t) => {
  for (const depth of [31, 32, 33]) {
    const objects = JSON.parse('{"z":[1,{"y":2,"x":3}],"n":'.repeat(depth) + 'null' + '}'.repeat(depth)) as unknown
    t.equal(canonicalJson(objects), '{"n":'.repeat(depth) + 'null' + ',"z":[1,{"x":3,"y":2}]}'.repeat(depth), `objects ${depth} deep`)
    const arrays = JSON.parse('[1,'.repeat(depth) + '{"b":1,"a":2}' + ']'.repeat(depth)) as unknown
    t.equal(canonicalJson(arrays), '[1,'.repeat(depth) + '{"a":2,"b":1}' + ']'.repeat(depth), `arrays ${depth} deep`)
    let mixed: unknown = { s: Symbol('s'), at: new Date(0) }
    for (let level = 0; level < depth; level++) mixed = { f: () => level, u: undefined, list: [undefined, mixed] }
    t.equal(canonicalJson(mixed), '{"list":[null,'.repeat(depth) + '{"at":"1970-01-01T00:00:00.000Z"}' + ']}'.repeat(depth), `unrepresentable members ${depth} deep`)
  }
})

t.test('canonicalJson walks a body nested far deeper than the call stack goes', async (t) => {
  const depth = 50_000
  const arrays = JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown
  t.equal(canonicalJson(arrays), '['.repeat(depth) + ']'.repeat(depth))
  const objects = JSON.parse('{"b":1,"a":'.repeat(depth) + 'null' + '}'.repeat(depth)) as unknown
  t.equal(canonicalJson(objects), '{"a":'.repeat(depth) + 'null' + ',"b":1}'.repeat(depth))
  t.equal(requestFingerprint('/', objects, 'md5'), requestFingerprint('/', JSON.parse(canonicalJson(objects)), 'md5'))
})

t.test('canonicalJson: boxed primitives, symbols and cycles as JSON.stringify has them', async (t) => {
  // eslint-disable-next-line no-new-wrappers
  t.equal(canonicalJson([new Number(1), new String('s'), new Boolean(false), Symbol('x'), { s: Symbol('y') }]), '[1,"s",false,null,{}]')
  const cycle: Record<string, unknown> = { a: [1] }
  ;(cycle.a as unknown[]).push(cycle)
  t.throws(() => canonicalJson(cycle), TypeError)
  const shared = { x: 1 }
  t.equal(canonicalJson({ b: shared, a: shared }), '{"a":{"x":1},"b":{"x":1}}', 'a value seen twice is no cycle')
})

t.test('callerScope: every credential counts, and on Lambda the authorizer\'s principal in each event shape', async (t) => {
  const none = callerScope({})
  const scopes = [
    none,
    callerScope({ authorization: 'Bearer a' }),
    callerScope({ 'x-api-key': 'k' }),
    callerScope({ 'x-api-key': ['k', 'l'] }),
    callerScope({ cookie: 'session=a' }),
    callerScope({}, { requestContext: { authorizer: { jwt: { claims: { sub: 'alice' } } } } }),
    callerScope({}, { requestContext: { authorizer: { claims: { sub: 'alice' } } } }),
    callerScope({}, { requestContext: { authorizer: { principalId: 'alice' } } }),
    callerScope({}, { requestContext: { authorizer: { iam: { userArn: 'arn:aws:iam::1:user/alice' } } } }),
    callerScope({}, { requestContext: { identity: { userArn: 'arn:aws:iam::1:user/alice' } } }),
    callerScope({}, { requestContext: { authorizer: { principalId: 'bob' } } })
  ]
  t.equal(new Set(scopes).size, scopes.length, 'each caller has a scope of its own')
  t.equal(callerScope({ authorization: 'ab', cookie: 'c' }) === callerScope({ authorization: 'a', cookie: 'bc' }), false, 'no value poses as two')
  t.equal(callerScope({}, { requestContext: { authorizer: { principalId: 7 } } }), callerScope({}, { requestContext: {} }), 'a principal that is not text counts as none')
  t.equal(callerScope({}, null), none, 'an event without a request context (ALB, local) adds nothing')
})
