import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import halo, {
  correlationPlugin, loggingPlugin, errorsPlugin, timeoutPlugin, idempotencyPlugin, paramsPlugin, sagaPlugin,
  HALO_ERR_ALREADY_REGISTERED, errorCodes
} from '../index.js'

async function registerTwice (t: Test, first: FastifyPluginAsync<any>, second: FastifyPluginAsync<any>, options: object = {}): Promise<unknown> {
  const app = Fastify()
  t.teardown(() => app.close())
  // Not awaited: the failure of the second registration surfaces from ready(), as in a user's start-up.
  app.register(first, options)
  app.register(second, options)
  return app.ready().then(() => undefined, (error: unknown) => error)
}

t.test('halo registered twice fails with an error naming fastify-halo', async (t) => {
  const error = await registerTwice(t, halo, halo)
  t.type(error, HALO_ERR_ALREADY_REGISTERED)
  t.match(error, { code: 'HALO_ERR_ALREADY_REGISTERED', message: /^fastify-halo is registered twice on this Fastify instance/ })
  t.equal(errorCodes.HALO_ERR_ALREADY_REGISTERED, HALO_ERR_ALREADY_REGISTERED)
})

t.test('each part registered twice, alone or beside the umbrella, fails naming that part', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'halo-')), 'params.json')
  writeFileSync(file, '{}')
  const parts: Array<[string, FastifyPluginAsync<any>, object]> = [
    ['fastify-halo-correlation', correlationPlugin, {}],
    ['fastify-halo-logging', loggingPlugin, {}],
    ['fastify-halo-errors', errorsPlugin, {}],
    ['fastify-halo-timeout', timeoutPlugin, {}],
    ['fastify-halo-idempotency', idempotencyPlugin, {}],
    ['fastify-halo-params', paramsPlugin, { file }],
    ['fastify-halo-saga', sagaPlugin, {}]
  ]
  for (const [name, part, options] of parts) {
    const first = name === 'fastify-halo-logging' ? halo : part
    t.match(await registerTwice(t, first, part, options), { code: 'HALO_ERR_ALREADY_REGISTERED', message: new RegExp(`^${name} is registered twice`) }, name)
  }
  t.match(await registerTwice(t, halo, correlationPlugin), { message: /^fastify-halo-correlation is registered twice/ }, 'halo, then one of its parts')
})

t.test('sibling encapsulated contexts may each register halo once', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // Prefixed, since each context sets its own not-found handler.
  await app.register(async (child) => { await child.register(halo) }, { prefix: '/a' })
  await app.register(async (child) => { await child.register(halo) }, { prefix: '/b' })
  await t.resolves(Promise.resolve(app.ready()))
})

t.test('halo and each part refuse a Fastify other than 5 with fastify-plugin\'s own error', async (t) => {
  const parts: Array<[string, FastifyPluginAsync<any>]> = [
    ['fastify-halo', halo],
    ['fastify-halo-correlation', correlationPlugin],
    ['fastify-halo-errors', errorsPlugin],
    ['fastify-halo-timeout', timeoutPlugin],
    ['fastify-halo-idempotency', idempotencyPlugin],
    ['fastify-halo-saga', sagaPlugin]
  ]
  for (const [name, part] of parts) {
    const app = Fastify()
    t.teardown(() => app.close())
    Object.defineProperty(app, 'version', { value: '4.29.1' })
    const error = await Promise.resolve(app.register(part).ready()).then(() => undefined, (error: unknown) => error)
    t.match(error, { code: 'FST_ERR_PLUGIN_VERSION_MISMATCH', message: `fastify-plugin: ${name} - expected '5.x' fastify version, '4.29.1' is installed` }, name)
  }
})
