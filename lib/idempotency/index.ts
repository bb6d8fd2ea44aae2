// The framework-free half of idempotent invocations (DESIGN.md section 9): key derivation, record states and
// the two stores. Loading this module does not load the AWS SDK; the DynamoDB store imports it on first use.
export { canonicalJson, hashKey, idempotencyRecordId, payloadFingerprint } from './keys.js'
export type { HashAlgorithm, IdempotencyKeyParts } from './keys.js'
export { classifyRepeat } from './record.js'
export type {
  ClaimResult, CompleteResult, CompletedRecord, IdempotencyRecord, IdempotencyStore, InProgressRecord, Repeat, StoredResponse
} from './record.js'
export { MemoryIdempotencyStore } from './memory-store.js'
export type { MemoryIdempotencyStoreOptions } from './memory-store.js'
export { DYNAMODB_MAX_ITEM_BYTES, DynamoDBIdempotencyStore } from './dynamodb-store.js'
export type { DynamoDBIdempotencyStoreOptions } from './dynamodb-store.js'
