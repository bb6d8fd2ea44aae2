// Lambda events in the shapes AWS documents, and a context whose remaining time really counts down.
import { randomUUID } from 'node:crypto'
import type { LambdaContextLike } from '../../lib/lambda.js'

export interface EventRequest {
  method?: string
  path?: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: string | Buffer
  /** Send the body base64-encoded, as API Gateway does for binary media types. */
  binary?: boolean
  requestId?: string
}

export type EventShape = 'v1' | 'v2' | 'alb' | 'url'

export const EVENT_SHAPES: EventShape[] = ['v1', 'v2', 'alb', 'url']

function encodeBody (request: EventRequest): { body: string | null, isBase64Encoded: boolean } {
  if (request.body === undefined) return { body: null, isBase64Encoded: false }
  if (request.binary === true) return { body: Buffer.from(request.body).toString('base64'), isBase64Encoded: true }
  return { body: request.body.toString(), isBase64Encoded: false }
}

function queryString (query: Record<string, string> | undefined): string {
  return query === undefined ? '' : new URLSearchParams(query).toString()
}

/** API Gateway REST API (payload format 1.0). */
export function restApiEvent (request: EventRequest = {}): Record<string, unknown> {
  const method = request.method ?? 'GET'
  const path = request.path ?? '/'
  const headers = request.headers ?? {}
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: request.query ?? null,
    multiValueQueryStringParameters: request.query === undefined ? null : Object.fromEntries(Object.entries(request.query).map(([name, value]) => [name, [value]])),
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: '1234567890',
      resourceId: '123456',
      resourcePath: '/{proxy+}',
      httpMethod: method,
      path: `/prod${path}`,
      stage: 'prod',
      protocol: 'HTTP/1.1',
      requestId: request.requestId ?? randomUUID(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: '198.51.100.7', userAgent: 'test' }
    },
    ...encodeBody(request)
  }
}

function v2Event (request: EventRequest, domainName: string, apiId: string): Record<string, unknown> {
  const method = request.method ?? 'GET'
  const path = request.path ?? '/'
  const rawQueryString = queryString(request.query)
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    headers: { host: domainName, ...request.headers },
    ...(request.query !== undefined && { queryStringParameters: request.query }),
    requestContext: {
      accountId: '123456789012',
      apiId,
      domainName,
      domainPrefix: apiId,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'test' },
      requestId: request.requestId ?? randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now()
    },
    ...encodeBody(request)
  }
}

/** API Gateway HTTP API (payload format 2.0). */
export function httpApiEvent (request: EventRequest = {}): Record<string, unknown> {
  return v2Event(request, 'abc123.execute-api.us-east-1.amazonaws.com', 'abc123')
}

/** Lambda Function URL: the 2.0 format with its own domain. */
export function functionUrlEvent (request: EventRequest = {}): Record<string, unknown> {
  return v2Event(request, 'abcdefghij.lambda-url.us-east-1.on.aws', 'abcdefghij')
}

/** Application Load Balancer target group (single-value headers): no request id in the event. */
export function albEvent (request: EventRequest = {}): Record<string, unknown> {
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/halo/6d0ecf831eec9f09' } },
    httpMethod: request.method ?? 'GET',
    path: request.path ?? '/',
    queryStringParameters: request.query ?? {},
    headers: { host: 'halo-123.us-east-1.elb.amazonaws.com', ...request.headers },
    ...encodeBody(request)
  }
}

export function lambdaEvent (shape: EventShape, request: EventRequest = {}): Record<string, unknown> {
  switch (shape) {
    case 'v1': return restApiEvent(request)
    case 'v2': return httpApiEvent(request)
    case 'alb': return albEvent(request)
    case 'url': return functionUrlEvent(request)
  }
}

/** A Lambda context whose `getRemainingTimeInMillis()` counts down from `timeoutMs` in real time. */
export function lambdaContext (timeoutMs = 30_000, overrides: Partial<LambdaContextLike> = {}): LambdaContextLike & { invokedFunctionArn: string, memoryLimitInMB: string } {
  const deadline = Date.now() + timeoutMs
  return {
    awsRequestId: randomUUID(),
    functionName: 'halo-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:halo-test',
    memoryLimitInMB: '512',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    ...overrides
  }
}
