export { EVENT_SOURCES, eventRecords, recordMessage, failureIdentifier, messageGroup, type EventSourceName, type RecordBatch, type RecordMessage } from './records.js'
export { runBatch, batchOutcome, type BatchRunner, type EventBatchResponse, type SkipReason } from './batch.js'
export { unmarshallItem, unmarshallValue } from './dynamodb-json.js'
export { RecordRequest, RecordResponse, type RecordAnswer } from './injection.js'
