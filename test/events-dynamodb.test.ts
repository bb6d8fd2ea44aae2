import t from 'tap'
import { CreateTableCommand, DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams'
import { buildApp } from './helpers/app.js'
import { localClientConfig } from '../support/dynamodb-local.js'
import { startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'
import { sqsEvent } from './helpers/events.js'
import { lambdaContext } from './helpers/lambda.js'
import { createLambdaHandler, DynamoDBIdempotencyStore } from '../index.js'

const dynamodb = await startDynamoDB()
t.teardown(dynamodb.stop)

t.test('the same SQS batch delivered twice: every side effect once, the second delivery replayed', async (t) => {
  const store = new DynamoDBIdempotencyStore({ table: uniqueTableName('events-idempotency'), client: dynamodb.client })
  await store.ensureTable()
  const effects = new Map<number, number>()
  const { app, logs } = await buildApp({ idempotency: { store } }, (app) => {
    app.post<{ Body: { n: number } }>('/charge', async (request) => {
      effects.set(request.body.n, (effects.get(request.body.n) ?? 0) + 1)
      return { charged: request.body.n }
    })
  }, 'debug')
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/charge' } })
  const event = sqsEvent(Array.from({ length: 10 }, (_, n) => ({ body: JSON.stringify({ n }) })))
  t.same(await handler(event, lambdaContext()), { batchItemFailures: [] })
  t.same(await handler(structuredClone(event), lambdaContext()), { batchItemFailures: [] })
  t.same([...effects.values()], Array(10).fill(1), 'every side effect happened once')
  const replayed = logs.lines.filter((line) => line.msg === 'idempotent answer replayed').map((line) => line.recordId).sort()
  t.same(replayed, event.Records.map((record) => record.messageId).sort(), 'the second delivery was replays, one per record')
})

t.test("DynamoDB Streams records read from DynamoDB Local's own stream: a failure at record 4 of 8", async (t) => {
  if (dynamodb.engine === 'dynalite') {
    t.comment('dynalite has no streams: DynamoDB Local (java) or HALO_TEST_DYNAMODB_ENDPOINT runs this test')
    return
  }
  const TableName = uniqueTableName('events-stream')
  await dynamodb.client.send(new CreateTableCommand({
    TableName,
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
    StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' }
  }))
  for (let n = 1; n <= 8; n++) {
    await dynamodb.client.send(new PutItemCommand({ TableName, Item: { id: { S: `trip-${n}` }, n: { N: String(n) }, legs: { L: [{ S: 'LIS' }] } } }))
  }
  const streamArn = (await dynamodb.client.send(new DescribeTableCommand({ TableName }))).Table!.LatestStreamArn!
  const streams = new DynamoDBStreamsClient(localClientConfig(dynamodb.endpoint))
  t.teardown(() => streams.destroy())
  const shard = (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription!.Shards![0]!
  const iterator = (await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator!
  const records = (await streams.send(new GetRecordsCommand({ ShardIterator: iterator }))).Records!
  t.equal(records.length, 8)
  // What Lambda's event source mapping hands the function: the records as JSON, with the stream's ARN.
  const event = JSON.parse(JSON.stringify({ Records: records.map((record) => ({ ...record, eventSourceARN: streamArn })) }))

  const seen: Array<{ n: number, legs: string[] }> = []
  const { app } = await buildApp({}, (app) => {
    app.post<{ Body: { eventName: string, keys: { id: string }, newImage: { n: number, legs: string[] } } }>('/trips', async (request, reply) => {
      seen.push({ n: request.body.newImage.n, legs: request.body.newImage.legs })
      t.equal(request.body.eventName, 'INSERT')
      t.equal(request.body.keys.id, `trip-${request.body.newImage.n}`)
      return request.body.newImage.n === 4 ? reply.code(500).send({}) : { ok: true }
    })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { dynamodb: '/trips' } })
  const answer = await handler(event, lambdaContext())
  t.same(answer, { batchItemFailures: records.slice(3).map((record) => ({ itemIdentifier: record.dynamodb!.SequenceNumber })) })
  t.same(seen, [1, 2, 3, 4].map((n) => ({ n, legs: ['LIS'] })), 'records 5 to 8 never ran')
})
