import awsLambdaFastify, { type LambdaFastifyOptions, type LambdaResponse } from '@fastify/aws-lambda'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { eventRecords, type EventBatchResponse } from '../lib/events/index.js'
import { createInvocation, lambdaInvocationStorage, type LambdaContextLike } from '../lib/lambda.js'
import { serveSagaTask } from './saga-task.js'
import { isSagaTaskInvocation } from '../lib/saga/task-invocation.js'
import { validateOptions, isBoolean, isFunction, isNonEmptyString, isObject } from '../lib/options.js'
import { checkEventRoutes, recordDispatcher, type EventRoutes } from './events.js'

/** Options of `@fastify/aws-lambda`, less those Halo decides (the event loop is never waited for, answers are buffered). */
export type LambdaHandlerOptions = Omit<LambdaFastifyOptions, 'callbackWaitsForEmptyEventLoop' | 'payloadAsStream'> & {
  /** The route of each event source's records (section "Events" of the README). Default: none, HTTP events only. */
  events?: EventRoutes
}

/**
 * What the handler answers: HTTP events get an HTTP answer; with `events`, an SQS, Kinesis or DynamoDB
 * Streams event gets its partial batch answer, and an SNS, EventBridge or S3 event undefined (or a throw).
 */
export type HaloLambdaHandler<Answer = LambdaResponse> = (event: unknown, context: LambdaContextLike) => Promise<Answer>

export type EventAnswer = LambdaResponse | EventBatchResponse | undefined

const textualContentType = /^(text\/|application\/(?:[\w.+-]*\+)?(?:json|xml)\b|application\/(?:javascript|x-www-form-urlencoded|graphql)\b)/i

/**
 * Binary answers are base64-encoded unless the route says they are text, so that an image or a PDF
 * survives API Gateway without listing every binary type; compressed answers are binary too.
 */
export function isBinaryResponse (response: LightMyRequestResponse): boolean {
  const encoding = response.headers['content-encoding']
  if (encoding !== undefined && encoding !== 'identity') return true
  const contentType = response.headers['content-type']
  return typeof contentType === 'string' && !textualContentType.test(contentType)
}

/**
 * The app as a Lambda handler for API Gateway REST (v1) and HTTP API (v2), ALB and Function URL events.
 * The app is readied once; each invocation's event and context are available to the plugins (correlation
 * id, log fields, deadline), and the first invocation of the process is marked as the cold start.
 */
export function createLambdaHandler (app: FastifyInstance, options?: LambdaHandlerOptions & { events?: undefined }): HaloLambdaHandler
export function createLambdaHandler (app: FastifyInstance, options: LambdaHandlerOptions & { events: EventRoutes }): HaloLambdaHandler<EventAnswer>
export function createLambdaHandler (app: FastifyInstance, options: LambdaHandlerOptions = {}): HaloLambdaHandler<EventAnswer> {
  validateOptions('createLambdaHandler', options, {
    events: isObject,
    binaryMimeTypes: (value) => Array.isArray(value) && value.every((type) => typeof type === 'string') ? undefined : 'must be an array of strings',
    serializeLambdaArguments: isBoolean,
    decorateRequest: isBoolean,
    decorationPropertyName: isNonEmptyString,
    enforceBase64: isFunction,
    disableBase64Encoding: isBoolean,
    retainStage: isBoolean,
    pathParameterUsedAsPath: isNonEmptyString,
    parseCommaSeparatedQueryParams: isBoolean,
    albMultiValueHeaders: isBoolean
  })
  const { events = {}, ...proxyOptions } = options
  const eventRoutes = checkEventRoutes(app, events)
  const dispatchRecords = recordDispatcher(app, events)
  const proxy = awsLambdaFastify<unknown>(app, {
    enforceBase64: isBinaryResponse,
    // Halo hands the event and context to the plugins itself; `request.awsLambda` costs a random token
    // per invocation and needs the handler built before the app is ready, so it is opt-in.
    decorateRequest: false,
    ...proxyOptions,
    callbackWaitsForEmptyEventLoop: false,
    payloadAsStream: false
  }) as (event: unknown, context: LambdaContextLike) => Promise<LambdaResponse>
  let coldStart = true

  /** Every kind of event the handler serves, told apart by shape: a Step Functions task, records of an event source, else HTTP. */
  function invoke (event: unknown, context: LambdaContextLike): Promise<EventAnswer> {
    // Timers and sockets kept by the app (keep-alive agents, caches) must not hold the answer back.
    context.callbackWaitsForEmptyEventLoop = false
    const invocation = createInvocation(event, context, coldStart, eventRoutes)
    coldStart = false
    // A Step Functions task gets the saga's data back rather than an HTTP answer.
    if (isSagaTaskInvocation(event)) return lambdaInvocationStorage.run(invocation, serveSagaTask, app, event) as Promise<LambdaResponse>
    const batch = eventRecords(event)
    if (batch !== undefined) return lambdaInvocationStorage.run(invocation, dispatchRecords, batch, invocation)
    return lambdaInvocationStorage.run(invocation, proxy, event, context)
  }

  // The first invocation readies the app; later ones go straight to the app, without an await of their own.
  let handle: HaloLambdaHandler<EventAnswer> = async (event, context) => {
    await app.ready()
    handle = invoke
    return await invoke(event, context)
  }
  return (event, context) => handle(event, context)
}
