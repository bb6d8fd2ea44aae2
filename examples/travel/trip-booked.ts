// TripBooked: once a booking commits, the travel service publishes it on an SQS queue through a client
// that forwards the correlation ids (`forwardCorrelation`), and the notifications route consumes it as an
// SQS record. On Lambda the queue is real (`TRIP_BOOKED_QUEUE_URL`, an event source mapping invokes the
// function). Locally there is no queue: a stand-in in place of the SQS client's HTTP layer turns each
// SendMessage, forwarded attributes included, into an SQS event for this app's own Lambda handler, so the
// consumer's log lines show the booking's correlationId as they would on AWS.
import { createHash, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { SQSClient } from '@aws-sdk/client-sqs'
import { createLambdaHandler, forwardCorrelation, type EventRoutes } from '../../index.js'

export const TRIP_BOOKED_ROUTE = '/notifications/trip-booked'
/** The records this service consumes: `createLambdaHandler(app, { events: TRAVEL_EVENTS })`. */
export const TRAVEL_EVENTS = { sqs: TRIP_BOOKED_ROUTE } satisfies EventRoutes

export interface TripBooked {
  type: 'TripBooked'
  sagaId: string
  traveller: string
  destination: string
}

export interface TripBookedQueue {
  url: string
  /** Default: one made from the SDK's configuration (the function's region and credentials). */
  client?: SQSClient
}

export type PublishTripBooked = (trip: TripBooked) => Promise<void>

/** An SQS event of one message, as the event source mapping hands it to the function. */
function sqsEvent (messageId: string, input: { MessageBody: string, MessageAttributes?: Record<string, { DataType: string, StringValue?: string }> }): unknown {
  return {
    Records: [{
      messageId,
      receiptHandle: messageId,
      body: input.MessageBody,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
      messageAttributes: Object.fromEntries(Object.entries({ ...input.MessageAttributes }).map(([name, attribute]) => [name, { dataType: attribute.DataType, stringValue: attribute.StringValue }])),
      md5OfBody: createHash('md5').update(input.MessageBody).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:local:000000000000:trip-booked',
      awsRegion: 'local'
    }]
  }
}

/**
 * The local queue: the SQS client's request handler. It answers SendMessage as SQS does and delivers the
 * message to the app's Lambda handler on the next turn, as a queue would, without holding the booking's answer.
 */
function localQueue (app: FastifyInstance): { handle (request: { body: string | Uint8Array }): Promise<{ response: { statusCode: number, headers: Record<string, string>, body: Uint8Array } }> } {
  const handler = createLambdaHandler(app, { events: TRAVEL_EVENTS })
  const deliveries = new Set<Promise<void>>()
  app.addHook('onClose', async () => { await Promise.all(deliveries) })

  async function deliver (event: unknown): Promise<void> {
    const timeoutAt = Date.now() + 30_000
    const context = { awsRequestId: randomUUID(), functionName: 'travel-local', functionVersion: '$LATEST', getRemainingTimeInMillis: () => timeoutAt - Date.now() }
    // A failed record is logged by the handler ("record failed"); there is no queue here to redeliver it.
    await handler(event, context)
  }

  return {
    async handle (request) {
      const input = JSON.parse(Buffer.from(request.body).toString())
      const messageId = randomUUID()
      const delivery = new Promise<void>((resolve) => setImmediate(resolve)).then(() => deliver(sqsEvent(messageId, input)))
      deliveries.add(delivery)
      delivery.finally(() => deliveries.delete(delivery)).catch(() => {})
      const body = JSON.stringify({ MessageId: messageId, MD5OfMessageBody: createHash('md5').update(input.MessageBody).digest('hex') })
      return { response: { statusCode: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Buffer.from(body) } }
    }
  }
}

/**
 * Adds the consumer route, and returns how the booking route publishes: to `queue` when given (Lambda),
 * else to the local stand-in.
 */
export async function tripBookedNotifications (app: FastifyInstance, queue: TripBookedQueue | undefined): Promise<PublishTripBooked> {
  app.post<{ Body: TripBooked }>(TRIP_BOOKED_ROUTE, async (request) => {
    const { sagaId, traveller, destination } = request.body
    request.log.info({ sagaId, eventSource: request.eventSource }, `traveller ${traveller} notified of the trip to ${destination}`)
    return { notified: sagaId }
  })
  // Loaded only where it is used: a service that never publishes loads no SQS code.
  const { SQSClient, SendMessageCommand } = await import('@aws-sdk/client-sqs')
  const sqs = forwardCorrelation(queue === undefined
    ? new SQSClient({ region: 'local', endpoint: 'http://queue.local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: localQueue(app) })
    : queue.client ?? new SQSClient({}))
  // A client given by the caller is the caller's to destroy.
  if (queue?.client === undefined) app.addHook('onClose', async () => { sqs.destroy() })
  const QueueUrl = queue?.url ?? 'http://queue.local/000000000000/trip-booked'
  return async (trip) => {
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(trip) }))
  }
}
