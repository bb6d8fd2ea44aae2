import t from 'tap'
import Fastify from 'fastify'
import { validateOptions, numberBetween, anyOf, isObject, oneOf, describe } from '../lib/options.js'
import { haloPinoOptions } from '../lib/logging.js'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import halo, { createLambdaHandler } from '../index.js'

t.test('validateOptions', async (t) => {
  t.throws(() => validateOptions('p', 'text', {}), /p: options must be an object, got "text"/)
  t.throws(() => validateOptions('p', null, {}), /got null/)
  t.throws(() => validateOptions('p', [1], {}), /got an array/)
  t.throws(() => validateOptions('p', undefined, {}, ['name']), /options must be an object/)
  t.doesNotThrow(() => validateOptions('p', { rate: undefined }, { rate: numberBetween(0, 1) }))
  t.throws(() => validateOptions('p', { rate: Number.NaN }, { rate: numberBetween(0, 1) }), /option "rate" must be a number from 0 to 1, got NaN/)
  t.equal(anyOf(isObject, oneOf(false))(true), 'must be an object or must be one of false')
  t.equal(describe(() => {}), 'a function')
  t.equal(describe({}), 'an object')
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
  t.teardown(() => app.close())
  t.equal(await app.params.get('/svc/greeting'), 'hello')
  t.type(createLambdaHandler(app, { enforceBase64: () => false }), 'function')
  t.throws(() => createLambdaHandler(app, { enforceBase64: 'always' as unknown as () => boolean }), /option "enforceBase64" must be a function/)
})
