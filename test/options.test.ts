import t from 'tap'
import Fastify from 'fastify'
import { validateOptions, numberBetween, anyOf, isObject, oneOf, describe } from '../lib/options.js'
import { haloPinoOptions } from '../lib/logging.js'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import halo, { createLambdaHandler } from '../index.js'
import { lambdaContext, restApiEvent } from './helpers/lambda.js'

interface Rated {
  rate?: number
  name?: string
}

t.test('validateOptions', async (t) => {
  const rated = { rate: numberBetween(0, 1), name: isObject }
  t.throws(() => validateOptions<Rated>('p', 'text' as Rated, rated), /p: options must be an object, got "text"/)
  t.throws(() => validateOptions<Rated>('p', null as unknown as Rated, rated), /got null/)
  t.throws(() => validateOptions<Rated>('p', [1] as Rated, rated), /got an array/)
  t.throws(() => validateOptions<Rated>('p', undefined, rated, { required: ['name'] }), /options must be an object/)
  t.throws(() => validateOptions<Rated>('p', {}, rated, { required: ['name'] }), /p: option "name" is required/)
  t.throws(() => validateOptions('p', { rate: 1, other: 2 } as Rated, rated), /p: unknown option "other" \(known: rate, name\)/)
  t.doesNotThrow(() => validateOptions('p', { rate: undefined }, { rate: numberBetween(0, 1) }))
  t.throws(() => validateOptions('p', { rate: Number.NaN }, { rate: numberBetween(0, 1) }), /option "rate" must be a number from 0 to 1, got NaN/)
  t.equal(anyOf(isObject, oneOf(false))(true), 'must be an object or must be one of false')
  t.equal(describe(() => {}), 'a function')
  t.equal(describe({}), 'an object')
})

t.test('validateOptions: rules across options run once every option passed its check, with the same message form', async (t) => {
  const checks = { low: numberBetween(0), high: numberBetween(0) }
  const seen: unknown[] = []
  const rules = [({ low = 0, high = 10 }: { low?: number, high?: number }) => {
    seen.push({ low, high })
    return low < high ? undefined : `option "low" (${low}) must be less than "high" (${high})`
  }]
  t.doesNotThrow(() => validateOptions('p', { low: 1 }, checks, { rules }))
  t.throws(() => validateOptions('p', { low: 10 }, checks, { rules }), { code: 'HALO_ERR_OPTION', message: 'p: option "low" (10) must be less than "high" (10)' })
  t.throws(() => validateOptions('p', { low: -1 }, checks, { rules }), /option "low" must be a number/)
  t.same(seen, [{ low: 1, high: 10 }, { low: 10, high: 10 }], 'a rule never sees an option that failed its own check')
})

t.test('the umbrella refuses a part that is neither an object nor false', async (t) => {
  await t.rejects(Promise.resolve(Fastify().register(halo, { logging: true as unknown as false }).ready()), /fastify-halo: option "logging" must be an object or must be one of false, got true/)
})

t.test('the log level: option, else LOG_LEVEL, else info', async (t) => {
  const previous = process.env.LOG_LEVEL
  t.teardown(() => { if (previous === undefined) delete process.env.LOG_LEVEL; else process.env.LOG_LEVEL = previous })
  delete process.env.LOG_LEVEL
  t.equal(haloPinoOptions({ service: 's' }).level, 'info')
  process.env.LOG_LEVEL = 'warn'
  t.equal(haloPinoOptions({ service: 's' }).level, 'warn')
  t.equal(haloPinoOptions({ service: 's', level: 'debug' }).level, 'debug')
})

t.test('the umbrella turns params on when given, and createLambdaHandler takes a function option', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'halo-')), 'params.json')
  writeFileSync(file, JSON.stringify({ '/svc/greeting': 'hello' }))
  const app = Fastify()
  await app.register(halo, { params: { file } })
  app.get('/image', async (_request, reply) => reply.type('image/png').send(Buffer.from([0x89, 0x50])))
  t.teardown(() => app.close())
  t.equal(await app.params.get('/svc/greeting'), 'hello')
  const event = restApiEvent({ path: '/image' })
  const byDefault = await createLambdaHandler(app)(event, lambdaContext())
  t.equal(byDefault.isBase64Encoded, true, 'an image is base64-encoded by default')
  const told = await createLambdaHandler(app, { enforceBase64: () => false })(event, lambdaContext())
  t.equal(told.isBase64Encoded, false, 'the given enforceBase64 decides')
  t.throws(() => createLambdaHandler(app, { enforceBase64: 'always' as unknown as () => boolean }), /option "enforceBase64" must be a function/)
})
