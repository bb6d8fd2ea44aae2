import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { SSMClient } from '@aws-sdk/client-ssm'
import { KindGuard, type TSchema } from '@sinclair/typebox'
import { validateOptions, isNonEmptyString, integerBetween, numberBetween, type OptionChecks, type OptionRule } from '../lib/options.js'
import { FileSource, HaloParams, SsmSource, loadConfig } from '../lib/params/index.js'

export { HaloParams, FileSource, SsmSource, loadConfig, envOverrideName } from '../lib/params/index.js'
export type {
  GetOptions, JsonGetOptions, GetByPathOptions, ParamSource, ParamsLogger, HaloConfig, LoadConfigOptions, SsmSourceOptions
} from '../lib/params/index.js'
import { claimRegistration } from './registration.js'

export interface ParamsOptions<S extends TSchema = TSchema> {
  /** The SSM client to read through. Default: one made from `region` and `endpoint`, destroyed on close. */
  client?: SSMClient
  /** Region of the client made here. Default: the SDK's (`AWS_REGION`). */
  region?: string
  /** Endpoint of the client made here. Default: the SDK's. */
  endpoint?: string
  /** A JSON file of full parameter names to values, read instead of SSM (local runs, no AWS). */
  file?: string
  /** A path loaded at start-up, recursively and decrypted, into `fastify.config`. Needs `schema`. */
  path?: string
  /** The TypeBox schema `fastify.config` is coerced to and validated by. Needs `path`. */
  schema?: S
  /** Seconds a value is served before a background refresh. Default 300. */
  maxAge?: number
  /** Milliseconds one SSM call may take (SDK retries included); inside a request also bounded by its deadline. Default 3 000. */
  timeoutMs?: number
}

/**
 * Augment this to type `fastify.config` (as @fastify/jwt's `FastifyJWT`):
 * `declare module 'fastify-halo' { interface HaloConfigTypes { config: HaloConfig<typeof schema> } }`.
 */
export interface HaloConfigTypes {}

/** The type of `fastify.config`: the augmented `HaloConfigTypes['config']`, else a plain record. */
export type HaloAppConfig = HaloConfigTypes extends { config: infer C } ? C : Record<string, unknown>

declare module 'fastify' {
  interface FastifyInstance {
    /** SSM parameters, cached: `get`, `getMany`, `getByPath`. */
    params: HaloParams
    /** The configuration loaded from the `path` option, once `register` has completed; absent without `path`. */
    config: HaloAppConfig
  }
}

const PLUGIN = 'paramsPlugin'

const checks: OptionChecks<ParamsOptions> = {
  client: (value) => typeof (value as SSMClient | null)?.send === 'function' ? undefined : 'must be an SSMClient',
  region: isNonEmptyString,
  endpoint: isNonEmptyString,
  file: isNonEmptyString,
  path: (value) => typeof value === 'string' && value.startsWith('/') ? undefined : 'must be a parameter path starting with "/"',
  schema: (value) => KindGuard.IsSchema(value) ? undefined : 'must be a TypeBox schema',
  maxAge: numberBetween(0),
  timeoutMs: integerBetween(1)
}

const rules: Array<OptionRule<ParamsOptions>> = [
  (options) => options.file !== undefined && (options.client ?? options.region ?? options.endpoint ?? options.timeoutMs) !== undefined
    ? 'option "file" replaces SSM: it cannot be combined with "client", "region", "endpoint" or "timeoutMs"'
    : undefined,
  (options) => options.client !== undefined && (options.region ?? options.endpoint) !== undefined
    ? 'options "region" and "endpoint" configure a client made here: they cannot be combined with "client"'
    : undefined,
  (options) => (options.path === undefined) !== (options.schema === undefined) ? 'options "path" and "schema" go together' : undefined
]

async function params (fastify: FastifyInstance, options: ParamsOptions): Promise<void> {
  claimRegistration(fastify, 'fastify-halo-params')
  validateOptions(PLUGIN, options, checks, { rules })

  const ssm = options.file === undefined
    ? new SsmSource({ client: options.client, region: options.region, endpoint: options.endpoint }, { timeoutMs: options.timeoutMs })
    : undefined
  const source = ssm ?? await FileSource.fromFile(options.file!)
  const store = new HaloParams({ source, maxAge: options.maxAge, logger: fastify.log })
  fastify.decorate('params', store)
  fastify.addHook('onClose', async () => {
    await store.settled()
    await ssm?.destroy()
  })
  if (options.path !== undefined) {
    fastify.decorate('config', await loadConfig(store, { path: options.path, schema: options.schema! }) as HaloAppConfig)
  }
}

/**
 * SSM parameters: `fastify.params` (cached reads, refreshed in the background) and, with `path` and
 * `schema`, `fastify.config` loaded and validated at start-up. Type `fastify.config` with `HaloConfigTypes`.
 */
export const paramsPlugin: FastifyPluginAsync<ParamsOptions> = fp(params, { name: 'fastify-halo-params' })
