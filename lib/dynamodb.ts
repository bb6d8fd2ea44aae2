// What the DynamoDB parts (the idempotency store, the saga log) share: the client, made the one way every AWS
// client is (lib/aws-client.ts), and the service's limits. Only types come from the SDK here, so loading this
// module does not load it.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { AwsClient, type AwsClientOptions } from './aws-client.js'
import { isDynamoDBTableName, isNonEmptyString, isObject, type OptionChecks } from './options.js'

export type DynamoDBModule = typeof import('@aws-sdk/client-dynamodb')

/** Where a DynamoDB part keeps its items: the table, and the client of lib/aws-client.ts. */
export interface DynamoDBTableOptions extends AwsClientOptions<DynamoDBClient> {
  /** The table's name; the part says its shape, and its `ensureTable()` creates it. */
  table: string
}

/** DynamoDB's limit on one item, attribute names included. */
export const DYNAMODB_MAX_ITEM_BYTES = 400 * 1024

/** The checks of the options every DynamoDB part takes: its table and its client. */
export const dynamoDBTableChecks: OptionChecks<DynamoDBTableOptions> = {
  table: isDynamoDBTableName,
  client: isObject,
  region: isNonEmptyString,
  endpoint: isNonEmptyString
}

/** The DynamoDB client of `options`, the SDK imported on first use. */
export function dynamoDBClient (options: AwsClientOptions<DynamoDBClient>): AwsClient<DynamoDBModule, DynamoDBClient> {
  return new AwsClient<DynamoDBModule, DynamoDBClient>(async () => await import('@aws-sdk/client-dynamodb'), (sdk, config) => new sdk.DynamoDBClient(config), options)
}
