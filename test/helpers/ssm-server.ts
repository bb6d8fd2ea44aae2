// An in-process SSM Parameter Store speaking the AWS JSON 1.1 protocol, so that tests run the real
// @aws-sdk/client-ssm over HTTP. It keeps SSM's limits (10 names per GetParameters, MaxResults ≤ 10),
// its errors (`__type` in a 400 body) and SecureString behaviour, and lets a test inject throttling,
// latency, a hold on every answer or a hang (no answer ever), and count the calls per action.
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SSMClient } from '@aws-sdk/client-ssm'
import { ConfiguredRetryStrategy } from '@smithy/core/retry'
import type { Test } from 'tap'

export type SsmAction = 'GetParameter' | 'GetParameters' | 'GetParametersByPath' | 'PutParameter'
export type SsmParameterType = 'String' | 'StringList' | 'SecureString'

export interface SsmServer {
  /** `http://127.0.0.1:PORT`, the client's endpoint. */
  readonly url: string
  /** Requests received per action, throttled and failed ones included. */
  readonly calls: Record<SsmAction, number>
  /** Milliseconds every answer waits before being sent. */
  latencyMs: number
  /**
   * While true, requests are received and counted but never answered, as by an SSM that accepts connections
   * and hangs. Setting it back to false answers later requests; the hung ones stay unanswered until `close()`.
   */
  hanging: boolean
  put (name: string, value: string, type?: SsmParameterType): void
  /** The next `count` requests fail with this error type (default `ThrottlingException`, which the SDK retries). */
  failNext (count: number, errorType?: string): void
  /** Holds every answer until `resume()`; requests are still received and counted. */
  pause (): void
  resume (): void
  resetCalls (): void
  /** What a SecureString reads as without `WithDecryption`. */
  ciphertext (value: string): string
  close (): Promise<void>
}

interface StoredParameter {
  Name: string
  Type: SsmParameterType
  Value: string
  Version: number
  LastModifiedDate: number
}

type Body = Record<string, unknown>

class SsmError extends Error {
  constructor (readonly type: string, message: string) {
    super(message)
  }
}

const MAX_BATCH = 10

export async function startSsmServer (): Promise<SsmServer> {
  const parameters = new Map<string, StoredParameter>()
  const calls: Record<SsmAction, number> = { GetParameter: 0, GetParameters: 0, GetParametersByPath: 0, PutParameter: 0 }
  let failures = 0
  let failureType = 'ThrottlingException'
  let hold: Promise<void> | undefined
  let release = (): void => {}

  const ciphertext = (value: string): string =>
    'AQICAH' + createHash('sha256').update(value).digest('base64')

  const present = (parameter: StoredParameter, decrypt: unknown) => ({
    ...parameter,
    Value: parameter.Type === 'SecureString' && decrypt !== true ? ciphertext(parameter.Value) : parameter.Value,
    ARN: `arn:aws:ssm:us-east-1:123456789012:parameter${parameter.Name.startsWith('/') ? '' : '/'}${parameter.Name}`,
    DataType: 'text'
  })

  const store = (name: string, value: string, type: SsmParameterType): number => {
    const version = (parameters.get(name)?.Version ?? 0) + 1
    parameters.set(name, { Name: name, Type: type, Value: value, Version: version, LastModifiedDate: Date.now() / 1000 })
    return version
  }

  const actions: Record<SsmAction, (body: Body) => Body> = {
    GetParameter (body) {
      const parameter = parameters.get(body.Name as string)
      if (parameter === undefined) throw new SsmError('ParameterNotFound', `Parameter ${String(body.Name)} not found.`)
      return { Parameter: present(parameter, body.WithDecryption) }
    },
    GetParameters (body) {
      const names = body.Names as string[]
      if (names.length > MAX_BATCH) {
        throw new SsmError('ValidationException', `Member 'names' must have length less than or equal to ${MAX_BATCH}`)
      }
      const found = names.filter((name) => parameters.has(name))
      return {
        Parameters: found.map((name) => present(parameters.get(name)!, body.WithDecryption)),
        InvalidParameters: names.filter((name) => !parameters.has(name))
      }
    },
    GetParametersByPath (body) {
      const maxResults = (body.MaxResults as number | undefined) ?? MAX_BATCH
      if (maxResults > MAX_BATCH) {
        throw new SsmError('ValidationException', `Member 'maxResults' must be less than or equal to ${MAX_BATCH}`)
      }
      const path = body.Path as string
      const prefix = path.endsWith('/') ? path : path + '/'
      const matching = [...parameters.keys()].sort().filter((name) =>
        name.startsWith(prefix) && (body.Recursive === true || !name.slice(prefix.length).includes('/')))
      const start = body.NextToken === undefined ? 0 : Number(Buffer.from(body.NextToken as string, 'base64').toString())
      const end = start + maxResults
      return {
        Parameters: matching.slice(start, end).map((name) => present(parameters.get(name)!, body.WithDecryption)),
        ...(end < matching.length ? { NextToken: Buffer.from(String(end)).toString('base64') } : {})
      }
    },
    PutParameter (body) {
      const name = body.Name as string
      if (parameters.has(name) && body.Overwrite !== true) {
        throw new SsmError('ParameterAlreadyExists', `Parameter ${name} already exists.`)
      }
      return { Version: store(name, body.Value as string, (body.Type as SsmParameterType | undefined) ?? 'String'), Tier: 'Standard' }
    }
  }

  const send = (response: ServerResponse, status: number, body: Body): void => {
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' })
    response.end(JSON.stringify(body))
  }

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const action = String(request.headers['x-amz-target']).replace(/^AmazonSSM\./, '') as SsmAction
    if (!Object.hasOwn(actions, action)) {
      send(response, 400, { __type: 'UnknownOperationException', message: `Unknown operation ${action}` })
      return
    }
    calls[action]++
    if (server.hanging) return
    if (server.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, server.latencyMs))
    await hold
    if (failures > 0) {
      failures--
      send(response, 400, { __type: failureType, message: 'Injected failure' })
      return
    }
    try {
      send(response, 200, actions[action](JSON.parse(Buffer.concat(chunks).toString())))
    } catch (error) {
      const { type, message } = error as SsmError
      send(response, 400, { __type: type, message })
    }
  }

  const http = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => { response.destroy(error as Error) })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))

  const server: SsmServer = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    calls,
    latencyMs: 0,
    hanging: false,
    put (name, value, type = 'String') { store(name, value, type) },
    failNext (count, errorType = 'ThrottlingException') {
      failures = count
      failureType = errorType
    },
    pause () {
      hold = new Promise((resolve) => { release = resolve })
    },
    resume () {
      release()
      hold = undefined
    },
    resetCalls () {
      for (const action of Object.keys(calls) as SsmAction[]) calls[action] = 0
    },
    ciphertext,
    async close () {
      server.resume()
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    }
  }
  return server
}

/**
 * The real SDK client, pointed at a test server with fake credentials. Retries wait `retryDelayMs` instead of
 * the SDK's seconds of backoff; `retryAttempts` lists the attempt number each backoff was computed for.
 */
export function ssmClient (url: string, { maxAttempts = 3, retryDelayMs = 5 } = {}): SSMClient & { retryAttempts: number[] } {
  const retryAttempts: number[] = []
  const client = new SSMClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
    retryStrategy: new ConfiguredRetryStrategy(maxAttempts, (attempt) => {
      retryAttempts.push(attempt)
      return retryDelayMs
    })
  })
  return Object.assign(client, { retryAttempts })
}

/** A server and a client for one test, both closed when the test ends. */
export async function ssmForTest (t: Test): Promise<{ server: SsmServer, client: ReturnType<typeof ssmClient> }> {
  const server = await startSsmServer()
  const client = ssmClient(server.url)
  t.teardown(async () => {
    client.destroy()
    await server.close()
  })
  return { server, client }
}
