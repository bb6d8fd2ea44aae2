// The records of queue, topic, stream and bus events, in the shapes AWS documents: which source an event
// comes from, and what each record hands its route (body, correlation headers, own id). Events are
// input: any member may be missing or of the wrong type, and a malformed record must still be answered.
import { CORRELATION_CONTEXT_FIELD, isCorrelationHeader } from '../correlation.js'
import { unmarshallItem } from './dynamodb-json.js'
import type { EventSourceName } from '../event-sources.js'

export { EVENT_SOURCES, type EventSourceName } from '../event-sources.js'

/** The records of one invocation. */
export interface RecordBatch {
  readonly source: EventSourceName
  readonly records: readonly unknown[]
  /** An SQS FIFO queue: records of one message group run one at a time, in order. */
  readonly fifo: boolean
}

/** What a record hands its route. */
export interface RecordMessage {
  /** The record's own id: the idempotency key, and the correlation id when the record carries none. */
  readonly id: string
  /** The request body's text. */
  readonly payload: string
  readonly contentType: string
  /** The correlation headers the record carries. */
  readonly headers: Record<string, string>
}

const JSON_TYPE = 'application/json'
const TEXT_TYPE = 'text/plain; charset=utf-8'

const recordSources: Record<string, EventSourceName> = {
  'aws:sqs': 'sqs',
  'aws:sns': 'sns',
  'aws:kinesis': 'kinesis',
  'aws:dynamodb': 'dynamodb',
  'aws:s3': 's3'
}

type Fields = Record<string, unknown>

function fields (value: unknown): Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Fields : {}
}

function text (value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/**
 * The records of an event from one of the sources, or undefined for any other event (HTTP, direct
 * invocations). Told by shape: `Records[].eventSource` (SNS: `EventSource`), or EventBridge's `source`,
 * `detail-type` and `detail`, which make the event its own single record.
 */
export function eventRecords (event: unknown): RecordBatch | undefined {
  const members = fields(event)
  const records = members.Records
  if (Array.isArray(records) && records.length > 0) {
    const first = fields(records[0])
    const source = recordSources[text(first.eventSource ?? first.EventSource)]
    if (source === undefined) return undefined
    return { source, records, fifo: source === 'sqs' && text(first.eventSourceARN).endsWith('.fifo') }
  }
  if (typeof members.source === 'string' && typeof members['detail-type'] === 'string' && 'detail' in members) {
    return { source: 'eventbridge', records: [event], fifo: false }
  }
  return undefined
}

/** The SQS FIFO message group of a record. */
export function messageGroup (record: unknown): string {
  return text(fields(fields(record).attributes).MessageGroupId)
}

/** What names the record in a partial batch answer: SQS `messageId`, the stream's sequence number. */
export function failureIdentifier (source: EventSourceName, record: unknown): string {
  const members = fields(record)
  if (source === 'kinesis') return text(fields(members.kinesis).sequenceNumber)
  if (source === 'dynamodb') return text(fields(members.dynamodb).SequenceNumber)
  return text(members.messageId)
}

/** Correlation headers from a `__context__` object, names lower-cased as HTTP headers are. */
function takeContext (context: unknown, headers: Record<string, string>): void {
  const members = fields(context)
  for (const name of Object.keys(members)) {
    const value = members[name]
    const header = name.toLowerCase()
    if (typeof value === 'string' && isCorrelationHeader(header)) headers[header] = value
  }
}

/** A JSON object's body with Halo's `__context__` taken out into the headers. */
function withoutContext (value: Fields, headers: Record<string, string>): Fields {
  if (!(CORRELATION_CONTEXT_FIELD in value)) return value
  const { [CORRELATION_CONTEXT_FIELD]: context, ...body } = value
  takeContext(context, headers)
  return body
}

/** A record whose body is JSON when it parses as JSON, and text otherwise. */
function textMessage (id: string, body: string, headers: Record<string, string>): RecordMessage {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return { id, payload: body, contentType: TEXT_TYPE, headers }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !(CORRELATION_CONTEXT_FIELD in value)) {
    return { id, payload: body, contentType: JSON_TYPE, headers }
  }
  return { id, payload: JSON.stringify(withoutContext(value as Fields, headers)), contentType: JSON_TYPE, headers }
}

/**
 * String message attributes that are correlation headers. SQS spells them `{ dataType, stringValue }`,
 * SNS `{ Type, Value }`; custom types (`String.uuid`) are strings too.
 */
function takeAttributes (attributes: unknown, typeField: string, valueField: string, headers: Record<string, string>): void {
  const members = fields(attributes)
  for (const name of Object.keys(members)) {
    const attribute = fields(members[name])
    const value = attribute[valueField]
    const header = name.toLowerCase()
    if (typeof value === 'string' && text(attribute[typeField]).startsWith('String') && isCorrelationHeader(header)) headers[header] = value
  }
}

function jsonMessage (id: string, body: unknown, headers: Record<string, string>): RecordMessage {
  return { id, payload: JSON.stringify(body) ?? 'null', contentType: JSON_TYPE, headers }
}

/** The body, own id and correlation headers of one record, as section 10 of DESIGN.md lists them. */
export function recordMessage (source: EventSourceName, record: unknown): RecordMessage {
  const members = fields(record)
  const headers: Record<string, string> = {}
  switch (source) {
    case 'sqs': {
      // The attributes are read after the payload's __context__, so that an attribute wins over it.
      const message = textMessage(text(members.messageId), text(members.body), headers)
      takeAttributes(members.messageAttributes, 'dataType', 'stringValue', headers)
      return message
    }
    case 'sns': {
      const sns = fields(members.Sns)
      const message = textMessage(text(sns.MessageId), text(sns.Message), headers)
      takeAttributes(sns.MessageAttributes, 'Type', 'Value', headers)
      return message
    }
    case 'kinesis':
      return textMessage(text(members.eventID), Buffer.from(text(fields(members.kinesis).data), 'base64').toString('utf8'), headers)
    case 'eventbridge': {
      const detail = members.detail
      const body = detail !== null && typeof detail === 'object' && !Array.isArray(detail) ? withoutContext(detail as Fields, headers) : detail
      return jsonMessage(text(members.id), body, headers)
    }
    case 'dynamodb': {
      const change = fields(members.dynamodb)
      return jsonMessage(text(members.eventID), {
        eventName: members.eventName,
        keys: unmarshallItem(change.Keys),
        newImage: unmarshallItem(change.NewImage),
        oldImage: unmarshallItem(change.OldImage)
      }, headers)
    }
    case 's3':
      return jsonMessage(text(fields(fields(members.s3).object).sequencer), record, headers)
  }
}
