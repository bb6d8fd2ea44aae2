// A stand-in for SQS, SNS, EventBridge, Kinesis, Lambda and Step Functions that records what the real SDK
// clients send on the wire and answers just enough for them to succeed.
import { createHash } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface WireRequest {
  /** `x-amz-target` for JSON protocols, `Action` for SNS's query protocol, else the path. */
  operation: string
  headers: IncomingHttpHeaders
  body: string
}

export interface AwsStandIn {
  endpoint: string
  requests: WireRequest[]
  close (): Promise<void>
}

function md5 (text: string): string {
  return createHash('md5').update(text).digest('hex')
}

function answer (operation: string, body: string): { type: string, text: string } {
  const json = (value: unknown): { type: string, text: string } => ({ type: 'application/x-amz-json-1.0', text: JSON.stringify(value) })
  switch (operation) {
    case 'AmazonSQS.SendMessage':
      return json({ MessageId: 'm-1', MD5OfMessageBody: md5(JSON.parse(body).MessageBody) })
    case 'AmazonSQS.SendMessageBatch':
      return json({ Successful: JSON.parse(body).Entries.map((entry: { Id: string, MessageBody: string }) => ({ Id: entry.Id, MessageId: `m-${entry.Id}`, MD5OfMessageBody: md5(entry.MessageBody) })), Failed: [] })
    case 'Publish':
      return { type: 'text/xml', text: '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>sns-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>' }
    case 'PublishBatch':
      return { type: 'text/xml', text: '<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful></Successful><Failed></Failed></PublishBatchResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></PublishBatchResponse>' }
    case 'AWSEvents.PutEvents':
      return json({ Entries: [{ EventId: 'e-1' }], FailedEntryCount: 0 })
    case 'Kinesis_20131202.PutRecord':
      return json({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })
    case 'Kinesis_20131202.PutRecords':
      return json({ FailedRecordCount: 0, Records: [{ SequenceNumber: '1', ShardId: 'shardId-000000000000' }] })
    case 'AWSStepFunctions.StartExecution':
      return json({ executionArn: 'arn:aws:states:us-east-1:123456789012:execution:travel:1', startDate: 1 })
    default:
      return { type: 'application/json', text: '{}' }
  }
}

export async function startAwsStandIn (): Promise<AwsStandIn> {
  const requests: WireRequest[] = []
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      const target = req.headers['x-amz-target']
      const operation = typeof target === 'string' ? target : new URLSearchParams(body).get('Action') ?? req.url as string
      requests.push({ operation, headers: req.headers, body })
      const { type, text } = answer(operation, body)
      res.writeHead(200, { 'content-type': type })
      res.end(text)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }
