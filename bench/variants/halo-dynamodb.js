// Halo as in halo.js (every default part), its idempotency records in DynamoDB: `DynamoDBIdempotencyStore`
// on the table the bench created, through a client whose calls are counted.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBIdempotencyStore, createLambdaHandler as haloLambdaHandler } from 'fastify-halo'
import { countDynamoDBCalls } from '../support/dynamodb-calls.js'
import { localClientConfig } from '../../support/dynamodb-local.js'
import { buildApp } from './halo.js'

export const lambdaLabel = 'Halo createLambdaHandler + DynamoDBIdempotencyStore'

/** `endpoint`: the local DynamoDB; `table`: its idempotency table (partition key `id`, TTL on `expiration`). */
export async function createLambdaHandler ({ endpoint, table }) {
  const client = countDynamoDBCalls(new DynamoDBClient(localClientConfig(endpoint)))
  return haloLambdaHandler(await buildApp({ idempotency: { store: new DynamoDBIdempotencyStore({ table, client }) } }))
}
