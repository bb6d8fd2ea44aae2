import t from 'tap'
import { GetQueueUrlCommand, SQSClient, SendMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs'
import { SNSClient, PublishCommand, PublishBatchCommand } from '@aws-sdk/client-sns'
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge'
import { KinesisClient, PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { LambdaClient, InvokeCommand } from '@aws-sdk/client-lambda'
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn'
import { buildApp } from './helpers/app.js'
import { startAwsStandIn, TEST_CREDENTIALS } from './helpers/aws-stand-in.js'
import { forwardCorrelation } from '../index.js'
import { correlatedInput } from '../lib/aws/index.js'

const INCOMING = { 'x-correlation-id': 'trip-42', 'x-correlation-user': 'u-7', 'call-chain-length': '1', 'debug-log-enabled': 'false' }
const FORWARDED = { 'x-correlation-user': 'u-7', 'x-correlation-id': 'trip-42', 'call-chain-length': '2', 'debug-log-enabled': 'false' }

function attributes (count: number): Record<string, { DataType: string, StringValue: string }> {
  return Object.fromEntries(Array.from({ length: count }, (_, index) => [`own${index}`, { DataType: 'String', StringValue: String(index) }]))
}

/** SNS's query protocol spells message attributes as numbered form fields. */
function snsAttributes (body: string, prefix = 'MessageAttributes'): Record<string, string> {
  const form = new URLSearchParams(body)
  const found: Record<string, string> = {}
  for (let index = 1; form.has(`${prefix}.entry.${index}.Name`); index++) {
    found[form.get(`${prefix}.entry.${index}.Name`) as string] = form.get(`${prefix}.entry.${index}.Value.StringValue`) as string
  }
  return found
}

function sqsAttributes (attributes: Record<string, { StringValue: string }>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, value.StringValue]))
}

t.test('the real SDK clients send the correlation headers inside a request and nothing outside one', async (t) => {
  const standIn = await startAwsStandIn()
  t.teardown(() => standIn.close())
  const config = { region: 'us-east-1', endpoint: standIn.endpoint, credentials: TEST_CREDENTIALS }
  const sqs = forwardCorrelation(new SQSClient(config))
  const sns = forwardCorrelation(new SNSClient(config))
  const events = forwardCorrelation(new EventBridgeClient(config))
  // Kinesis speaks HTTP/2 by default, for SubscribeToShard; the stand-in speaks HTTP/1.1.
  const kinesis = forwardCorrelation(new KinesisClient({ ...config, requestHandler: new NodeHttpHandler() }))
  const lambda = forwardCorrelation(new LambdaClient(config))
  const sfn = forwardCorrelation(new SFNClient(config))
  t.teardown(() => { for (const client of [sqs, sns, events, kinesis, lambda, sfn]) client.destroy() })

  const callerInput = { QueueUrl: `${standIn.endpoint}/123456789012/q`, MessageBody: '{"trip":1}', MessageAttributes: { 'x-correlation-id': { DataType: 'String', StringValue: 'callers-own' } } }
  const sendAll = async (): Promise<void> => {
    await sqs.send(new SendMessageCommand({ QueueUrl: `${standIn.endpoint}/123456789012/q`, MessageBody: 'hello' }))
    await sqs.send(new SendMessageCommand(callerInput))
    await sqs.send(new SendMessageCommand({ QueueUrl: `${standIn.endpoint}/123456789012/q`, MessageBody: 'full', MessageAttributes: attributes(9) }))
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: `${standIn.endpoint}/123456789012/q`, Entries: [{ Id: 'a', MessageBody: 'x' }, { Id: 'b', MessageBody: 'y', MessageAttributes: attributes(10) }] }))
    await sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: 'hi', MessageAttributes: { 'x-correlation-user': { DataType: 'String', StringValue: 'callers-user' } } }))
    await sns.send(new PublishBatchCommand({ TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', PublishBatchRequestEntries: [{ Id: '1', Message: 'a' }] }))
    await events.send(new PutEventsCommand({ Entries: [{ Source: 'travel', DetailType: 'TripBooked', Detail: '{"trip":1}' }, { Source: 'travel', DetailType: 'Raw', Detail: '[1,2]' }] }))
    await kinesis.send(new PutRecordCommand({ StreamName: 's', PartitionKey: 'p', Data: Buffer.from('{"trip":1,"__context__":{"x-correlation-id":"callers-own"}}') }))
    await kinesis.send(new PutRecordsCommand({ StreamName: 's', Records: [{ PartitionKey: 'p', Data: Buffer.from('not json') }, { PartitionKey: 'p', Data: new TextEncoder().encode('{"n":2}') }] }))
    await lambda.send(new InvokeCommand({ FunctionName: 'notify', Payload: '{"trip":1}' }))
    await sfn.send(new StartExecutionCommand({ stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:travel', input: '{"trip":1}' }))
    await sqs.send(new GetQueueUrlCommand({ QueueName: 'q' }))
  }

  const { app, logs } = await buildApp({}, (app) => {
    app.post('/send', async () => { await sendAll(); return { sent: true } })
  }, 'debug')
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/send', headers: INCOMING, payload: {} })
  t.equal(response.statusCode, 200)
  const [plain, own, full, batch, publish, publishBatch, putEvents, putRecord, putRecords, invoke, start] = standIn.requests.map((request) => request)

  t.same(sqsAttributes(JSON.parse(plain!.body).MessageAttributes), FORWARDED, 'SQS: every correlation header as a String attribute')
  t.equal(JSON.parse(plain!.body).MessageAttributes['x-correlation-id'].DataType, 'String')
  t.same(sqsAttributes(JSON.parse(own!.body).MessageAttributes), { ...FORWARDED, 'x-correlation-id': 'callers-own' }, "SQS: the caller's own attribute wins")
  t.same(callerInput.MessageAttributes, { 'x-correlation-id': { DataType: 'String', StringValue: 'callers-own' } }, "the caller's input is not changed")
  const fullAttributes = sqsAttributes(JSON.parse(full!.body).MessageAttributes)
  t.equal(Object.keys(fullAttributes).length, 10, 'never past 10 attributes')
  t.equal(fullAttributes['x-correlation-id'], 'trip-42', 'the correlation id goes first')
  t.ok(logs.lines.some((line) => line.level === 'debug' && Array.isArray(line.leftOut) && (line.leftOut as string[]).includes('call-chain-length')), 'what does not fit is logged at debug')
  const [first, second] = JSON.parse(batch!.body).Entries
  t.same(sqsAttributes(first.MessageAttributes), FORWARDED, 'SQS batch entries')
  t.equal(Object.keys(second.MessageAttributes).length, 10, 'an 11th attribute is never sent')
  t.notOk('x-correlation-id' in second.MessageAttributes)

  t.same(snsAttributes(publish!.body), { ...FORWARDED, 'x-correlation-user': 'callers-user' }, 'SNS Publish: attributes, the caller first')
  t.same(snsAttributes(publishBatch!.body, 'PublishBatchRequestEntries.member.1.MessageAttributes'), FORWARDED, 'SNS PublishBatch')

  const [detail, rawDetail] = JSON.parse(putEvents!.body).Entries.map((entry: { Detail: string }) => entry.Detail)
  t.same(JSON.parse(detail), { trip: 1, __context__: FORWARDED }, 'EventBridge: __context__ in the detail')
  t.equal(rawDetail, '[1,2]', 'a detail that is no JSON object is sent unchanged')
  const recordData = (data: string): string => Buffer.from(data, 'base64').toString()
  t.same(JSON.parse(recordData(JSON.parse(putRecord!.body).Data)), { trip: 1, __context__: { ...FORWARDED, 'x-correlation-id': 'callers-own' } }, "Kinesis PutRecord: __context__, the caller's own first")
  const [notJson, json] = JSON.parse(putRecords!.body).Records.map((record: { Data: string }) => recordData(record.Data))
  t.equal(notJson, 'not json', 'non-JSON data unchanged')
  t.same(JSON.parse(json), { n: 2, __context__: FORWARDED }, 'Kinesis PutRecords')
  t.same(JSON.parse(invoke!.body), { trip: 1, __context__: FORWARDED }, 'Lambda Invoke payload')
  t.same(JSON.parse(JSON.parse(start!.body).input), { trip: 1, __context__: FORWARDED }, 'Step Functions input')
  t.same(JSON.parse(standIn.requests[11]!.body), { QueueName: 'q' }, 'other commands are sent as they are')

  standIn.requests.length = 0
  await sendAll()
  t.same(JSON.parse(standIn.requests[0]!.body).MessageAttributes, undefined, 'outside a request nothing is added')
  t.same(JSON.parse(JSON.parse(standIn.requests[10]!.body).input), { trip: 1 })
})

t.test('other commands and odd inputs pass unchanged', async (t) => {
  const log = { debug () {} } as unknown as Parameters<typeof correlatedInput>[3]
  const headers = { 'x-correlation-id': 'c' }
  const input = { QueueUrl: 'q' }
  t.equal(correlatedInput('ReceiveMessageCommand', input, headers, log), input)
  t.equal(correlatedInput(undefined, input, headers, log), input)
  t.same(correlatedInput('SendMessageBatchCommand', { Entries: 'not a list' }, headers, log), { Entries: 'not a list' })
  t.same(correlatedInput('PutEventsCommand', { Entries: [null, { Source: 's' }] }, headers, log), { Entries: [null, { Source: 's' }] })
  t.same(correlatedInput('InvokeCommand', { Payload: 42 }, headers, log), { Payload: 42 })
  t.same(correlatedInput('SendMessageBatchCommand', { Entries: [7] }, headers, log), { Entries: [7] })
})
