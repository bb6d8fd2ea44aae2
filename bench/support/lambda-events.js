// API Gateway HTTP API (payload 2.0) events and Lambda contexts, in the shapes of test/helpers/lambda.ts.
import { randomUUID } from 'node:crypto'

const domainName = 'abc123.execute-api.us-east-1.amazonaws.com'

/** The headers API Gateway adds to a plain client call: several, so header handling costs what it does in production. */
const gatewayHeaders = {
  accept: 'application/json',
  'accept-encoding': 'gzip, deflate, br',
  host: domainName,
  'user-agent': 'bench/1.0',
  'x-amzn-trace-id': 'Root=1-67891233-abcdef012345678912345678',
  'x-forwarded-for': '198.51.100.7',
  'x-forwarded-port': '443',
  'x-forwarded-proto': 'https'
}

export function httpApiEvent ({ method = 'GET', path = '/', headers = {}, body } = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { ...gatewayHeaders, ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName,
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'bench/1.0' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now()
    },
    body: body ?? null,
    isBase64Encoded: false
  }
}

/** A fresh context per invocation, its remaining time counting down in real time from `timeoutMs`. */
export function lambdaContext (timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  return {
    awsRequestId: randomUUID(),
    functionName: 'halo-bench',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:halo-bench',
    memoryLimitInMB: '1024',
    logGroupName: '/aws/lambda/halo-bench',
    logStreamName: '2025/01/01/[$LATEST]0123456789abcdef',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now())
  }
}
