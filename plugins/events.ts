// Queue, topic, stream and bus records through the app's own routes (DESIGN.md section 10). The plugin
// gives each request its record; `recordDispatcher` (used by createLambdaHandler) hands each record of an
// event to its route as a POST, through every hook, and turns the outcomes into the handler's answer.
import fp from 'fastify-plugin'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { CORRELATION_ID_HEADER } from '../lib/correlation.js'
import { HALO_ERR_EVENT_ROUTE, HALO_ERR_NOT_FOUND, HALO_ERR_OPTION, errorMessage } from '../lib/errors.js'
import {
  EVENT_SOURCES, RecordRequest, batchOutcome, recordMessage, runBatch,
  type EventBatchResponse, type EventSourceName, type RecordAnswer, type RecordBatch, type SkipReason
} from '../lib/events/index.js'
import { currentInvocation, lambdaInvocationStorage, recordInvocation, type LambdaInvocation } from '../lib/lambda.js'
import { anyOf, integerBetween, isFunction, validateOptions, type OptionCheck } from '../lib/options.js'

/** A route path, or a function choosing one per record (one route per queue or topic). */
export type EventRoute = string | ((record: unknown) => string)

/** `createLambdaHandler`'s `events`: the route of each source, and how records run. */
export type EventRoutes = { [Source in EventSourceName]?: EventRoute } & {
  /** SQS standard records (and FIFO message groups) running at once. Default 10. */
  concurrency?: number
  /** A record is not started when less than this is left of the invocation (ms). Default 500, as the timeout part's margin. */
  marginMs?: number
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The raw queue, topic, stream or bus record this request serves; null for HTTP requests. */
    record: unknown
    /** The source of `request.record`; null for HTTP requests. */
    eventSource: EventSourceName | null
  }
}

const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'

const isRoutePath: OptionCheck = (value) => typeof value === 'string' && value.startsWith('/') ? undefined : 'must be a path starting with "/"'

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

const events: FastifyPluginAsync = async (fastify) => {
  fastify.decorateRequest('record', null)
  fastify.decorateRequest('eventSource', null)
  // Locally there is no invocation and every route is a plain route.
  fastify.addHook('onRequest', function serveRecord (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const invocation = currentInvocation()
    if (invocation === undefined) return done()
    const served = invocation.record
    if (served !== undefined) {
      request.record = served.record
      request.eventSource = served.source
    } else if (invocation.eventRoutes !== undefined && (invocation.eventRoutes.has(request.routeOptions.url as string) || invocation.eventRoutes.has(pathOf(request.url)))) {
      return done(new HALO_ERR_NOT_FOUND(`${request.method} ${pathOf(request.url)}`))
    }
    done()
  })
}

/** Gives requests `record` and `eventSource`, and closes event routes to HTTP events on Lambda. Part of `fastify-halo`. */
export const eventsPlugin = fp(events, { name: 'fastify-halo-events' })

/**
 * Checks `events` at handler creation; returns the routes named by path, which HTTP events may not reach,
 * or undefined when no source is mapped (HTTP requests then skip the lookup).
 */
export function checkEventRoutes (app: FastifyInstance, routes: EventRoutes): ReadonlySet<string> | undefined {
  const routeCheck = anyOf(isRoutePath, isFunction)
  validateOptions('createLambdaHandler events', routes, {
    sqs: routeCheck,
    sns: routeCheck,
    eventbridge: routeCheck,
    kinesis: routeCheck,
    dynamodb: routeCheck,
    s3: routeCheck,
    concurrency: integerBetween(1, 1000),
    marginMs: integerBetween(0)
  })
  const mapped = EVENT_SOURCES.map((source) => routes[source]).filter((route) => route !== undefined)
  if (mapped.length === 0) return undefined
  if (!app.hasRequestDecorator('eventSource')) {
    throw new HALO_ERR_OPTION('createLambdaHandler: option "events" needs fastify-halo (or eventsPlugin) registered on the app first')
  }
  return new Set(mapped.filter((route) => typeof route === 'string'))
}

/** Runs the records of one event through their routes and answers as the source expects. */
export type RecordDispatcher = (batch: RecordBatch, invocation: LambdaInvocation) => Promise<EventBatchResponse | undefined>

export function recordDispatcher (app: FastifyInstance, routes: EventRoutes): RecordDispatcher {
  const concurrency = routes.concurrency ?? 10
  const marginMs = routes.marginMs ?? 500

  /**
   * Hands the request to the app's router (lib/events/injection.ts says why not through `app.inject`). The
   * dispatch starts at once, inside the record's invocation context, which the request's hooks then see.
   */
  function dispatchRecord (url: string, headers: Record<string, string>, payload: string): Promise<RecordAnswer> {
    return new Promise((resolve) => {
      const request = new RecordRequest(url, headers, payload, resolve)
      // The router takes Node's request and response; Fastify and routes use no more of them than these keep.
      app.routing(request as unknown as IncomingMessage, request.response as unknown as ServerResponse)
    })
  }

  async function runRecord (source: EventSourceName, route: EventRoute, record: unknown, invocation: LambdaInvocation): Promise<boolean> {
    const message = recordMessage(source, record)
    const headers = message.headers
    if (message.id !== '') {
      headers[IDEMPOTENCY_KEY_HEADER] = message.id
      headers[CORRELATION_ID_HEADER] ??= message.id
    }
    headers['content-type'] = message.contentType
    const served = recordInvocation(invocation, { source, record, id: message.id })
    try {
      const url = typeof route === 'string' ? route : route(record)
      const answer = await lambdaInvocationStorage.run(served, dispatchRecord, url, headers, message.payload)
      if (answer.ended && answer.statusCode >= 200 && answer.statusCode < 300) return true
      const failure = { ...served.logFields, eventSource: source, correlationId: answer.headers[CORRELATION_ID_HEADER], url, statusCode: answer.statusCode }
      app.log.error(failure, answer.ended ? 'record failed' : 'record failed: its answer was cut off')
    } catch (error) {
      app.log.error({ ...served.logFields, eventSource: source, correlationId: headers[CORRELATION_ID_HEADER], err: error }, `record failed: ${errorMessage(error)}`)
    }
    return false
  }

  return async function dispatchRecords (batch, invocation) {
    const route = routes[batch.source]
    if (route === undefined) {
      const error = new HALO_ERR_EVENT_ROUTE(batch.source)
      app.log.error({ ...invocation.logFields, eventSource: batch.source, records: batch.records.length, code: error.code }, error.message)
      throw error
    }
    const context = invocation.context
    const failed = await runBatch(batch, {
      concurrency,
      run: (record) => runRecord(batch.source, route, record, invocation),
      mayStart: () => context.getRemainingTimeInMillis() >= marginMs,
      skipped (record: unknown, reason: SkipReason) {
        const { id, headers } = recordMessage(batch.source, record)
        app.log.warn({ ...invocation.logFields, recordId: id, correlationId: headers[CORRELATION_ID_HEADER] ?? id, eventSource: batch.source, reason }, 'record reported failed without running')
      }
    })
    return batchOutcome(batch, failed)
  }
}
