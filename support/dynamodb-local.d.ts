// Types of dynamodb-local.js, for test/helpers/dynamodb.ts.
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'

export interface StartedDynamoDB {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string
  engine: 'dynamodb-local' | 'dynalite'
  /** A client of that endpoint, with `localClientConfig`. */
  client: DynamoDBClient
  /** Destroys the client and ends the instance. Safe to call more than once. */
  stop (): Promise<void>
}

export const DEFAULT_START_TIMEOUT_MS: number
export function localClientConfig (endpoint: string): DynamoDBClientConfig
export function javaRuns (): boolean
export function startLocalDynamoDB (options?: { dynalite?: boolean, startTimeoutMs?: number }): Promise<StartedDynamoDB>
export function freePort (): Promise<number>
export function onlyOnce (action: () => Promise<void>): () => Promise<void>
