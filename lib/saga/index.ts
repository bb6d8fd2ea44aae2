// The saga engine, framework-free: definitions, the executor, saga logs and recovery.
export {
  SagaDefinitionSchema, SagaTaskStateSchema, SagaFailStateSchema, SagaCatcherSchema, SagaRetrierSchema, ALL_ERRORS,
  type SagaDefinition, type SagaTaskState, type SagaFailState, type SagaCatcher, type SagaRetrier
} from './definition.js'
export {
  Saga, loadSaga,
  type SagaApi, type SagaApis, type SagaStepContext, type SagaLogger, type ResourceSchemas, type LoadSagaOptions,
  type SagaDeadline, type SagaExecutionOptions, type SagaRunOptions, type SagaRecoverOptions, type SagaResult, type SagaCompensation
} from './saga.js'
export {
  MemorySagaLog, OPEN_STATUSES,
  type SagaLog, type SagaRecord, type SagaStatus, type SagaEvent, type SagaEventName, type SagaChanges, type SagaFailure,
  type SagaErrorInfo, type OpenSaga, type NewSaga, type MemorySagaLogOptions
} from './log.js'
export { DynamoDBSagaLog, OPEN_SAGAS_INDEX, type DynamoDBSagaLogOptions } from './dynamodb-log.js'
export { recover, type RecoverOptions, type RecoverySummary, type RecoveredSaga, type SkippedSaga } from './recover.js'
