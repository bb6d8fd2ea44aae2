// Correlation ids over AWS (DESIGN.md section 11): an AWS SDK v3 middleware that adds the current
// request's correlation headers to what a client sends, so that the consumer of a message, event, record
// or invocation joins the same chain. Commands are told by name and input shape, so no client package is
// imported here: the middleware works on whichever clients the service has.
import { haloContext, type HaloLogger } from '../context.js'
import { CALL_CHAIN_LENGTH_HEADER, CORRELATION_CONTEXT_FIELD, CORRELATION_ID_HEADER, DEBUG_LOG_HEADER } from '../correlation.js'

/** SQS and SNS accept at most this many message attributes. */
export const MESSAGE_ATTRIBUTE_LIMIT = 10

type Input = Record<string, unknown>
type Handler = (args: { input: Input }) => Promise<unknown>

/** What forwardCorrelation needs of a client: every AWS SDK v3 client has it. */
export interface ForwardableClient {
  middlewareStack: {
    add (middleware: (next: Handler, context: { commandName?: string }) => Handler, options: { step: 'initialize', name: string, override: boolean }): void
  }
}

// When the attribute limit leaves room for only some, these go first: the id, then what stops loops.
const FIRST_HEADERS = [CORRELATION_ID_HEADER, CALL_CHAIN_LENGTH_HEADER, DEBUG_LOG_HEADER]

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function isObject (value: unknown): value is Input {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
}

function orderedNames (headers: Record<string, string>): string[] {
  const names = FIRST_HEADERS.filter((name) => name in headers)
  for (const name of Object.keys(headers)) if (!FIRST_HEADERS.includes(name)) names.push(name)
  return names
}

/** SQS and SNS message attributes: the caller's own first, then ours while the limit allows. */
function withAttributes (entry: unknown, headers: Record<string, string>, log: HaloLogger): unknown {
  if (!isObject(entry)) return entry
  const own = isObject(entry.MessageAttributes) ? entry.MessageAttributes : {}
  const ownNames = new Set(Object.keys(own).map((name) => name.toLowerCase()))
  const attributes: Input = { ...own }
  let count = ownNames.size
  const leftOut: string[] = []
  for (const name of orderedNames(headers)) {
    if (ownNames.has(name)) continue
    if (count >= MESSAGE_ATTRIBUTE_LIMIT) {
      leftOut.push(name)
      continue
    }
    attributes[name] = { DataType: 'String', StringValue: headers[name] }
    count++
  }
  if (leftOut.length > 0) log.debug({ leftOut }, `correlation attributes left out: a message holds at most ${MESSAGE_ATTRIBUTE_LIMIT} attributes`)
  return { ...entry, MessageAttributes: attributes }
}

/**
 * A JSON object payload (text or bytes, as the caller gave it) with `__context__` added; the caller's
 * own `__context__` members win. Anything else is sent as it is.
 */
function withContext (payload: unknown, headers: Record<string, string>): unknown {
  const bytes = payload instanceof Uint8Array
  const text = bytes ? decoder.decode(payload) : payload
  if (typeof text !== 'string') return payload
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return payload
  }
  if (!isObject(value)) return payload
  const own = value[CORRELATION_CONTEXT_FIELD]
  const withIds = JSON.stringify({ ...value, [CORRELATION_CONTEXT_FIELD]: { ...headers, ...(isObject(own) && own) } })
  return bytes ? encoder.encode(withIds) : withIds
}

function mapEntries (input: Input, member: string, change: (entry: unknown) => unknown): Input {
  const entries = input[member]
  return Array.isArray(entries) ? { ...input, [member]: entries.map(change) } : input
}

function withField (entry: unknown, member: string, headers: Record<string, string>): unknown {
  return isObject(entry) && member in entry ? { ...entry, [member]: withContext(entry[member], headers) } : entry
}

/** The command's input with the correlation headers in it; the caller's input object is never changed. */
export function correlatedInput (commandName: string | undefined, input: Input, headers: Record<string, string>, log: HaloLogger): Input {
  switch (commandName) {
    case 'SendMessageCommand':
    case 'PublishCommand':
      return withAttributes(input, headers, log) as Input
    case 'SendMessageBatchCommand':
      return mapEntries(input, 'Entries', (entry) => withAttributes(entry, headers, log))
    case 'PublishBatchCommand':
      return mapEntries(input, 'PublishBatchRequestEntries', (entry) => withAttributes(entry, headers, log))
    case 'PutEventsCommand':
      return mapEntries(input, 'Entries', (entry) => withField(entry, 'Detail', headers))
    case 'PutRecordCommand':
      return withField(input, 'Data', headers) as Input
    case 'PutRecordsCommand':
      return mapEntries(input, 'Records', (entry) => withField(entry, 'Data', headers))
    case 'InvokeCommand':
      return withField(input, 'Payload', headers) as Input
    case 'StartExecutionCommand':
    case 'StartSyncExecutionCommand':
      return withField(input, 'input', headers) as Input
    default:
      return input
  }
}

/**
 * Adds the middleware to an AWS SDK v3 client and returns the client. Inside a request or record, SQS and
 * SNS messages get the correlation headers as String message attributes; EventBridge details, Kinesis
 * records, Lambda payloads and Step Functions inputs get them as `__context__`. Outside one, nothing changes.
 */
export function forwardCorrelation<Client extends ForwardableClient> (client: Client): Client {
  client.middlewareStack.add((next, context) => (args) => {
    const current = haloContext()
    if (current === undefined) return next(args)
    const input = correlatedInput(context.commandName, args.input, current.correlationHeaders(), current.log)
    return next(input === args.input ? args : { ...args, input })
  }, { step: 'initialize', name: 'haloForwardCorrelation', override: true })
  return client
}
