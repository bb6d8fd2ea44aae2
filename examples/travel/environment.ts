// The travel service as deployed (template.yaml): its tables and parameter path come from the environment
// the template sets, and the stores are DynamoDB's. Locally (server.ts) none of this is read.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { SSMClient } from '@aws-sdk/client-ssm'
import type { SQSClient } from '@aws-sdk/client-sqs'
import { DynamoDBIdempotencyStore, DynamoDBSagaLog } from '../../index.js'
import type { TravelAppOptions } from './app.js'

/** The variables template.yaml sets for the function; a missing one stops the start with its name. */
export const ENVIRONMENT = ['IDEMPOTENCY_TABLE', 'SAGA_TABLE', 'PARAMS_PATH', 'TRIP_BOOKED_QUEUE_URL'] as const

export interface DeployedClients {
  /** Default: one the stores make from the SDK's configuration (region and credentials of the function). */
  dynamodb?: DynamoDBClient
  /** Default: one the params part makes from the SDK's configuration. */
  ssm?: SSMClient
  /** Default: one the TripBooked publisher makes from the SDK's configuration. */
  sqs?: SQSClient
}

function variable (env: NodeJS.ProcessEnv, name: typeof ENVIRONMENT[number]): string {
  const value = env[name]
  if (value === undefined || value === '') throw new Error(`the travel service needs the environment variable ${name} (see template.yaml)`)
  return value
}

export function deployedOptions (env: NodeJS.ProcessEnv, clients: DeployedClients = {}): TravelAppOptions {
  return {
    params: clients.ssm === undefined ? {} : { client: clients.ssm },
    paramsPath: variable(env, 'PARAMS_PATH'),
    idempotencyStore: new DynamoDBIdempotencyStore({ table: variable(env, 'IDEMPOTENCY_TABLE'), client: clients.dynamodb }),
    sagaLog: new DynamoDBSagaLog({ table: variable(env, 'SAGA_TABLE'), client: clients.dynamodb }),
    tripBookedQueue: { url: variable(env, 'TRIP_BOOKED_QUEUE_URL'), client: clients.sqs }
  }
}
