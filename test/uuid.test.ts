import t from 'tap'
import { uuidV4 } from '../lib/uuid.js'

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('ids are version 4, RFC 9562 variant, lower-case, and never repeat across refills of the random bytes', async (t) => {
  const ids = Array.from({ length: 1000 }, () => uuidV4())
  t.equal(ids.filter((id) => !V4.test(id)).length, 0, 'every id has the v4 form')
  t.equal(new Set(ids).size, ids.length, 'no id repeats')
})

t.test('every random digit takes all sixteen values and the variant all four: no bit is stuck', async (t) => {
  const seen = Array.from({ length: 36 }, () => new Set<string>())
  for (let count = 0; count < 2000; count++) {
    const id = uuidV4()
    for (let index = 0; index < 36; index++) seen[index]!.add(id[index]!)
  }
  const sizes = seen.map((digits) => digits.size)
  t.same(sizes.filter((_, index) => [8, 13, 18, 23].includes(index)), [1, 1, 1, 1], 'the dashes')
  t.equal(sizes[14], 1, 'the version digit')
  t.equal(sizes[19], 4, 'the variant digit: 8, 9, a, b')
  t.same(sizes.filter((_, index) => ![8, 13, 14, 18, 19, 23].includes(index)), Array(30).fill(16), 'the random digits')
})
