import t from 'tap'
import Fastify from 'fastify'
import { validateOptions, numberBetween, anyOf, isObject, oneOf, describe } from '../lib/options.js'
import { haloPinoOptions } from '../lib/logging.js'
import halo from '../index.js'

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
  await t.rejects(Fastify().register(halo, { logging: true as unknown as false }).ready(), /fastify-halo: option "logging" must be an object or must be one of false, got true/)
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
