import { haloPlugin } from './plugins/halo.js'

export { haloPlugin, type HaloOptions } from './plugins/halo.js'
export { haloServerOptions, type HaloServerOptionsInput } from './plugins/server-options.js'
export { correlationPlugin, type CorrelationOptions } from './plugins/correlation.js'
export { loggingPlugin, type LoggingOptions } from './plugins/logging.js'
export { errorsPlugin, type ErrorsOptions } from './plugins/errors.js'
export { timeoutPlugin, type TimeoutOptions } from './plugins/timeout.js'
export { createLambdaHandler, type LambdaHandlerOptions, type HaloLambdaHandler } from './plugins/lambda.js'
export { haloContext, type HaloContext, type Deadline, type HaloLogger } from './lib/context.js'
export type { LambdaContextLike } from './lib/lambda.js'
export type { FetchPolicy } from './lib/fetch.js'
export type { ProblemDetails } from './lib/problem.js'
export * from './lib/errors.js'

export default haloPlugin
