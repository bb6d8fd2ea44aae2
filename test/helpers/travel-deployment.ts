// The travel service's surroundings on Lambda (examples/travel/template.yaml), made of real components:
// its two tables on a private DynamoDB, its parameter on the SSM protocol server, its TripBooked queue on
// the AWS stand-in, and the environment the template gives the function, pointing the AWS SDK at them.
import type { Test } from 'tap'
import { DynamoDBIdempotencyStore, DynamoDBSagaLog } from '../../index.js'
import { PARTNERS_URL_NAME } from '../../examples/travel/app.js'
import { localClientConfig } from '../../support/dynamodb-local.js'
import { startDynamoDB, uniqueTableName, type LocalDynamoDB } from './dynamodb.js'
import { startSsmServer, type SsmServer } from './ssm-server.js'
import { startAwsStandIn, type AwsStandIn } from './aws-stand-in.js'

export interface TravelDeployment {
  /** The function's environment: template.yaml's variables, and the SDK's region, credentials and endpoints. */
  env: Record<string, string>
  dynamodb: LocalDynamoDB
  ssm: SsmServer
  /** Records the TripBooked messages sent to `env.TRIP_BOOKED_QUEUE_URL`. */
  sqs: AwsStandIn
}

/** Creates the tables and the partners' URL parameter (`partnersUrl`); everything is closed with `t`. */
export async function deployTravel (t: Test, partnersUrl: string): Promise<TravelDeployment> {
  const dynamodb = await startDynamoDB()
  t.teardown(dynamodb.stop)
  const ssm = await startSsmServer()
  t.teardown(() => ssm.close())
  const sqs = await startAwsStandIn()
  t.teardown(() => sqs.close())
  const { credentials } = localClientConfig(dynamodb.endpoint) as { credentials: { accessKeyId: string, secretAccessKey: string } }
  const env = {
    IDEMPOTENCY_TABLE: uniqueTableName('travel-idempotency'),
    SAGA_TABLE: uniqueTableName('travel-sagas'),
    PARAMS_PATH: '/travel/test',
    TRIP_BOOKED_QUEUE_URL: `${sqs.endpoint}/000000000000/travel-trip-booked`,
    AWS_REGION: 'us-east-1',
    // DynamoDB Local keeps one database per access key: the tables are made with the helper client's.
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
    AWS_ENDPOINT_URL_SSM: ssm.url,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint
  }
  await new DynamoDBIdempotencyStore({ table: env.IDEMPOTENCY_TABLE, client: dynamodb.client }).ensureTable()
  await new DynamoDBSagaLog({ table: env.SAGA_TABLE, client: dynamodb.client }).ensureTable()
  ssm.put(`${env.PARAMS_PATH}/${PARTNERS_URL_NAME}`, partnersUrl)
  return { env, dynamodb, ssm, sqs }
}
