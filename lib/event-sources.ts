// The event sources Halo hands records of to routes, apart from the records' shapes so that the invocation
// context (lib/lambda.ts) can name a source without depending on how records are read.
export const EVENT_SOURCES = ['sqs', 'sns', 'eventbridge', 'kinesis', 'dynamodb', 's3'] as const
export type EventSourceName = typeof EVENT_SOURCES[number]
