// The framework-free half of idempotent invocations: key derivation, record states, the request flow and
// the two stores. Loading this module does not load the AWS SDK; the DynamoDB store imports it on first use.
export { callerScope, canonicalJson, hashKey, idempotencyRecordId, requestFingerprint } from './keys.js'
export type { CallerHeaders, HashAlgorithm, IdempotencyKeyParts } from './keys.js'
export { classifyRepeat, replayPayload } from './record.js'
export { IdempotencyFlow } from './flow.js'
export type { Admission, Answer, Claim, IdempotencySettings, IdempotentRequest } from './flow.js'
export type {
  ClaimResult, CompleteResult, CompletedRecord, IdempotencyRecord, IdempotencyStore, IdempotencyStoreCapabilities, InProgressRecord, Repeat, StoredResponse
} from './record.js'
export { MemoryIdempotencyStore } from './memory-store.js'
export type { MemoryIdempotencyStoreOptions } from './memory-store.js'
export { DynamoDBIdempotencyStore } from './dynamodb-store.js'
export { DYNAMODB_MAX_ITEM_BYTES } from '../dynamodb.js'
export type { DynamoDBIdempotencyStoreOptions } from './dynamodb-store.js'
