// Type-checked by `tsc --noEmit`, never run: what must compile does, and each `@ts-expect-error` line must not.
import Fastify from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { paramsPlugin, loadConfig, type HaloConfig, type HaloParams } from '../../plugins/params.js'

const schema = Type.Object({
  db: Type.Object({ url: Type.String(), pool: Type.Integer() }),
  debug: Type.Boolean(),
  hosts: Type.Array(Type.String())
})

// `fastify.config` is typed by augmenting HaloConfigTypes (users write `declare module 'fastify-halo'`).
declare module '../../plugins/params.js' {
  interface HaloConfigTypes {
    config: HaloConfig<typeof schema>
  }
}

type Config = HaloConfig<typeof schema>
const same: Static<typeof schema> = {} as Config
const config: Config = { db: { url: 'postgres://db', pool: 5 }, debug: false, hosts: ['a'] }
// @ts-expect-error pool is a number
const wrongType: Config = { db: { url: 'postgres://db', pool: '5' }, debug: false, hosts: [] }
// @ts-expect-error debug is required
const missing: Config = { db: { url: 'postgres://db', pool: 5 }, hosts: [] }

const app = Fastify()
await app.register(paramsPlugin, { file: 'params.local.json', path: '/booking/local', schema, maxAge: 60 })
await app.register(paramsPlugin, { client: undefined, region: 'eu-west-1', endpoint: 'http://localhost:4566' })
await app.register(paramsPlugin, { region: 'eu-west-1', timeoutMs: 1_000 })
// @ts-expect-error timeoutMs is a number of milliseconds
await app.register(paramsPlugin, { timeoutMs: '1s' })
// @ts-expect-error unknown option
await app.register(paramsPlugin, { pth: '/booking' })
// @ts-expect-error maxAge is a number of seconds
await app.register(paramsPlugin, { maxAge: '300' })

const url: string = app.config.db.url
const pool: number = app.config.db.pool
// @ts-expect-error db.url is a string
const urlAsNumber: number = app.config.db.url
// @ts-expect-error not in the schema
const notThere = app.config.nope

const params: HaloParams = app.params
const raw: Promise<string> = params.get('/booking/local/db/url', { decrypt: true, maxAge: 10 })
const parsed: Promise<{ rps: number }> = params.get<{ rps: number }>('/booking/local/limits', { transform: 'json' })
const unknownJson: Promise<unknown> = params.get('/booking/local/limits', { transform: 'json' })
const jsonValue = await params.get('/booking/local/limits', { transform: 'json' })
// @ts-expect-error a JSON value is unknown until typed
const notTyped: number = jsonValue.rps
// @ts-expect-error only 'json' is a transform
params.get('/booking/local/limits', { transform: 'yaml' })
const many: Promise<Record<string, string>> = params.getMany(['/a', '/b'], { decrypt: true })
const manyJson: Promise<Record<string, number>> = params.getMany<number>(['/a'], { transform: 'json' })
const byPath: Promise<Record<string, string>> = params.getByPath('/booking', { recursive: true, decrypt: true })
// @ts-expect-error getByPath has no transform
params.getByPath('/booking', { transform: 'json' })

const loaded: Promise<Config> = loadConfig(params, { path: '/booking/local', schema })
// @ts-expect-error the loaded type follows the schema
const loadedWrong: Promise<{ db: { url: number } }> = loadConfig(params, { path: '/booking/local', schema })

export { same, config, wrongType, missing, url, pool, urlAsNumber, notThere, raw, parsed, unknownJson, notTyped, many, manyJson, byPath, loaded, loadedWrong }
