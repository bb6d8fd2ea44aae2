// The fields every part adds to the Fastify request: declared once, and loaded with any part.
import './plugins/request-fields.js'
import { haloPlugin } from './plugins/halo.js'

export { haloPlugin, type HaloOptions } from './plugins/halo.js'
export { haloServerOptions, type HaloServerOptionsInput } from './plugins/server-options.js'
export { correlationPlugin, type CorrelationOptions } from './plugins/correlation.js'
export { loggingPlugin, type LoggingOptions } from './plugins/logging.js'
export { errorsPlugin, type ErrorsOptions } from './plugins/errors.js'
export { timeoutPlugin, type TimeoutOptions } from './plugins/timeout.js'
export {
  paramsPlugin, HaloParams, FileSource, SsmSource, loadConfig, envOverrideName,
  type ParamsOptions, type HaloConfigTypes, type HaloAppConfig, type HaloConfig, type GetOptions, type JsonGetOptions,
  type GetByPathOptions, type ParamSource, type SsmSourceOptions
} from './plugins/params.js'
export {
  idempotencyPlugin, type IdempotencyOptions, type IdempotencyRouteOptions, type IdempotencyKeySource
} from './plugins/idempotency.js'
export {
  sagaPlugin, type SagaOptions, type HaloSagas, type SagaLoadOptions, type SagaPluginRunOptions, type SagaPluginRecoverOptions
} from './plugins/saga.js'
export {
  MemoryIdempotencyStore, DynamoDBIdempotencyStore, canonicalJson,
  type IdempotencyStore, type IdempotencyStoreCapabilities, type IdempotencyRecord, type MemoryIdempotencyStoreOptions, type DynamoDBIdempotencyStoreOptions
} from './lib/idempotency/index.js'
export {
  SagaDefinitionSchema, MemorySagaLog, DynamoDBSagaLog, loadSaga, recover,
  type SagaDefinition, type SagaApi, type SagaApis, type SagaStepContext, type SagaLog, type SagaRecord,
  type DynamoDBSagaLogOptions, type RecoverySummary
} from './lib/saga/index.js'
export { createLambdaHandler, type LambdaHandlerOptions, type HaloLambdaHandler, type EventAnswer } from './plugins/lambda.js'
export { eventsPlugin, type EventRoutes, type EventRoute } from './plugins/events.js'
export type { EventSourceName, EventBatchResponse } from './lib/events/index.js'
export { forwardCorrelation, type ForwardableClient } from './lib/aws/index.js'
export { haloContext, type HaloContext, type Deadline, type HaloLogger } from './lib/context.js'
export type { LambdaContextLike } from './lib/lambda.js'
export type { FetchPolicy } from './lib/fetch.js'
export type { ProblemDetails } from './lib/problem.js'
export {
  HALO_ERR_TIMEOUT, HALO_ERR_IDEMPOTENCY_IN_PROGRESS, HALO_ERR_IDEMPOTENCY_KEY_REUSED, HALO_ERR_IDEMPOTENCY_KEY_INVALID,
  HALO_ERR_IDEMPOTENCY_STORE, HALO_ERR_LOOP_DETECTED, HALO_ERR_VALIDATION, HALO_ERR_NOT_FOUND, HALO_ERR_INTERNAL,
  HALO_ERR_PARAM_NOT_FOUND, HALO_ERR_PARAM_UNAVAILABLE, HALO_ERR_PARAM_INVALID, HALO_ERR_SAGA_DEFINITION,
  HALO_ERR_SAGA_CONFLICT, HALO_ERR_SAGA_LOG, HALO_ERR_SAGA_RECORD_TOO_LARGE, HALO_ERR_SAGA_TASK, HALO_ERR_EVENT_ROUTE, HALO_ERR_RECORD_FAILED, HALO_ERR_OPTION, HALO_ERR_ALREADY_REGISTERED,
  SagaRollback, SagaError, errorCodes
} from './lib/errors.js'

export default haloPlugin
