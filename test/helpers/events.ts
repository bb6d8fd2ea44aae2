// Queue, topic, stream, bus and bucket events in the shapes AWS documents (Lambda developer guide: "Using
// Lambda with Amazon SQS / SNS / EventBridge / Kinesis / DynamoDB / S3"), one record per body given.
import { randomUUID } from 'node:crypto'

const REGION = 'us-east-1'
const ACCOUNT = '123456789012'

export interface SqsMessage {
  body: string
  /** String message attributes, name to value. */
  attributes?: Record<string, string>
  messageId?: string
  groupId?: string
}

export function sqsRecord (message: SqsMessage, queue = 'halo-queue'): Record<string, unknown> {
  const fifo = queue.endsWith('.fifo')
  return {
    messageId: message.messageId ?? randomUUID(),
    receiptHandle: 'MessageReceiptHandle',
    body: message.body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1523232000000',
      SenderId: '123456789012',
      ApproximateFirstReceiveTimestamp: '1523232000001',
      ...(fifo && { MessageGroupId: message.groupId ?? 'group', MessageDeduplicationId: randomUUID(), SequenceNumber: '18849496460467696128' })
    },
    messageAttributes: Object.fromEntries(Object.entries(message.attributes ?? {}).map(([name, value]) => [name, {
      stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String'
    }])),
    md5OfBody: '7b270e59b47ff90a553787216d55d91d',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queue}`,
    awsRegion: REGION
  }
}

export function sqsEvent (messages: SqsMessage[], queue?: string): { Records: Array<Record<string, unknown>> } {
  return { Records: messages.map((message) => sqsRecord(message, queue)) }
}

export function snsEvent (message: string, attributes: Record<string, string> = {}, messageId: string = randomUUID()): Record<string, unknown> {
  return {
    Records: [{
      EventVersion: '1.0',
      EventSubscriptionArn: `arn:aws:sns:${REGION}:${ACCOUNT}:halo-topic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55`,
      EventSource: 'aws:sns',
      Sns: {
        SignatureVersion: '1',
        Timestamp: '2019-01-02T12:45:07.000Z',
        Signature: 'tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==',
        SigningCertUrl: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem',
        MessageId: messageId,
        Message: message,
        MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name, { Type: 'String', Value: value }])),
        Type: 'Notification',
        UnsubscribeUrl: 'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&amp;SubscriptionArn=arn:aws:sns:us-east-1:123456789012:test-lambda:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55',
        TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:halo-topic`,
        Subject: 'TestInvoke'
      }
    }]
  }
}

export function eventBridgeEvent (detail: unknown, detailType = 'TripBooked', id: string = randomUUID()): Record<string, unknown> {
  return {
    version: '0',
    id,
    'detail-type': detailType,
    source: 'travel.bookings',
    account: ACCOUNT,
    time: '2026-12-01T12:00:00Z',
    region: REGION,
    resources: [],
    detail
  }
}

/** A scheduled rule's event: EventBridge's shape with an empty detail. */
export function scheduledEvent (id: string = randomUUID()): Record<string, unknown> {
  return { ...eventBridgeEvent({}, 'Scheduled Event', id), source: 'aws.events', resources: [`arn:aws:events:${REGION}:${ACCOUNT}:rule/nightly`] }
}

export function kinesisRecord (data: string, sequenceNumber: string, shard = 'shardId-000000000006'): Record<string, unknown> {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: '1',
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: 1545084650.987
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shard}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/lambda-role`,
    awsRegion: REGION,
    eventSourceARN: `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/halo-stream`
  }
}

export function kinesisEvent (data: string[]): { Records: Array<Record<string, unknown>> } {
  return { Records: data.map((text, index) => kinesisRecord(text, `4959033827149025660855969253836157109592157598913658${String(8890 + index)}`)) }
}

export interface DynamoDBChange {
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE'
  keys: Record<string, unknown>
  newImage?: Record<string, unknown>
  oldImage?: Record<string, unknown>
  sequenceNumber: string
  eventID?: string
}

export function dynamodbRecord (change: DynamoDBChange): Record<string, unknown> {
  return {
    eventID: change.eventID ?? randomUUID().replaceAll('-', ''),
    eventName: change.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: REGION,
    dynamodb: {
      ApproximateCreationDateTime: 1480642020,
      Keys: change.keys,
      ...(change.newImage !== undefined && { NewImage: change.newImage }),
      ...(change.oldImage !== undefined && { OldImage: change.oldImage }),
      SequenceNumber: change.sequenceNumber,
      SizeBytes: 59,
      StreamViewType: 'NEW_AND_OLD_IMAGES'
    },
    eventSourceARN: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/halo/stream/2026-12-01T00:00:00.000`
  }
}

export function s3Event (key: string, sequencer = '0A1B2C3D4E5F678901'): { Records: Array<Record<string, unknown>> } {
  return {
    Records: [{
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: REGION,
      eventTime: '2026-12-01T12:00:00.000Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'EXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'EXAMPLE123456789', 'x-amz-id-2': 'EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'testConfigRule',
        bucket: { name: 'halo-bucket', ownerIdentity: { principalId: 'EXAMPLE' }, arn: 'arn:aws:s3:::halo-bucket' },
        object: { key, size: 1024, eTag: '0123456789abcdef0123456789abcdef', sequencer }
      }
    }]
  }
}
