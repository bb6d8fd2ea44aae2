// What the DynamoDB parts (the idempotency store, the saga log) share: the client, made the one way every AWS
// client is (lib/aws-client.ts), and the service's limits. Only types come from the SDK here, so loading this
// module does not load it.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { AwsClient, type AwsClientOptions } from './aws-client.js'

export type DynamoDBModule = typeof import('@aws-sdk/client-dynamodb')

/** DynamoDB's limit on one item, attribute names included. */
export const DYNAMODB_MAX_ITEM_BYTES = 400 * 1024

/** The DynamoDB client of `options`, the SDK imported on first use. */
export function dynamoDBClient (options: AwsClientOptions<DynamoDBClient>): AwsClient<DynamoDBModule, DynamoDBClient> {
  return new AwsClient<DynamoDBModule, DynamoDBClient>(async () => await import('@aws-sdk/client-dynamodb'), (sdk, config) => new sdk.DynamoDBClient(config), options)
}
