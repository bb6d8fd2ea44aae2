// Counts the DynamoDB calls of this process: every command sent by a client given to `countDynamoDBCalls`
// (retries of one command count once). No AWS SDK import here: processes that never use DynamoDB load none.
let calls = 0

/** Adds the counting middleware to `client` (an AWS SDK v3 client) and returns the client. */
export function countDynamoDBCalls (client) {
  client.middlewareStack.add((next) => async (args) => {
    calls++
    return await next(args)
  }, { step: 'initialize', name: 'haloBenchCallCounter' })
  return client
}

/** The calls counted so far in this process. */
export function dynamoDBCalls () {
  return calls
}
