// SSM parameters without Fastify: sources, the cache and the typed configuration loader.
export { HaloParams, DEFAULT_MAX_AGE_SECONDS, REFRESH_RETRY_MS } from './params.js'
export type { GetOptions, JsonGetOptions, GetByPathOptions, ParamsLogger, HaloParamsOptions } from './params.js'
export { FileSource, envOverrideName } from './source.js'
export type { ParamSource } from './source.js'
export { SsmSource, SSM_BATCH_SIZE, DEFAULT_SSM_TIMEOUT_MS } from './ssm.js'
export type { SsmSourceOptions } from './ssm.js'
export { loadConfig } from './config.js'
export type { HaloConfig, LoadConfigOptions } from './config.js'
