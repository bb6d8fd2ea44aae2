import awsLambdaFastify, { type LambdaFastifyOptions, type LambdaResponse } from '@fastify/aws-lambda'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createInvocation, lambdaInvocationStorage, type LambdaContextLike } from '../lib/lambda.js'
import { serveSagaTask } from './saga-task.js'
import { isSagaTaskInvocation } from '../lib/saga/task-invocation.js'
import { validateOptions, isBoolean, isFunction, isNonEmptyString } from '../lib/options.js'

/** Options of `@fastify/aws-lambda`, less those Halo decides (the event loop is never waited for, answers are buffered). */
export type LambdaHandlerOptions = Omit<LambdaFastifyOptions, 'callbackWaitsForEmptyEventLoop' | 'payloadAsStream'>

export type HaloLambdaHandler = (event: unknown, context: LambdaContextLike) => Promise<LambdaResponse>

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
export function createLambdaHandler (app: FastifyInstance, options: LambdaHandlerOptions = {}): HaloLambdaHandler {
  validateOptions('createLambdaHandler', options, {
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
  const proxy = awsLambdaFastify<unknown>(app, {
    enforceBase64: isBinaryResponse,
    // Halo hands the event and context to the plugins itself; `request.awsLambda` costs a random token
    // per invocation and needs the handler built before the app is ready, so it is opt-in.
    decorateRequest: false,
    ...options,
    callbackWaitsForEmptyEventLoop: false,
    payloadAsStream: false
  }) as (event: unknown, context: LambdaContextLike) => Promise<LambdaResponse>
  let coldStart = true

  function invoke (event: unknown, context: LambdaContextLike): Promise<LambdaResponse> {
    // Timers and sockets kept by the app (keep-alive agents, caches) must not hold the answer back.
    context.callbackWaitsForEmptyEventLoop = false
    const invocation = createInvocation(event, context, coldStart)
    coldStart = false
    // A Step Functions task gets the saga's data back rather than an HTTP answer; the handler's type stays
    // the HTTP one, which is what callers who invoke it with HTTP events read.
    if (isSagaTaskInvocation(event)) return lambdaInvocationStorage.run(invocation, serveSagaTask, app, event) as Promise<LambdaResponse>
    return lambdaInvocationStorage.run(invocation, proxy, event, context)
  }

  // The first invocation readies the app; later ones go straight to the app, without an await of their own.
  let handle: HaloLambdaHandler = async (event, context) => {
    await app.ready()
    handle = invoke
    return await invoke(event, context)
  }
  return (event, context) => handle(event, context)
}
