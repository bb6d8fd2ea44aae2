// Parameter Store through the AWS SDK. Retries (throttling, network errors) are the SDK client's own, with
// its backoff; this layer keeps SSM's limits, bounds every call in time (an SSM that accepts a connection and
// never answers must not hang start-up or a cached value) and turns its errors into Halo's, naming the parameter.
import type { Parameter, SSMClient } from '@aws-sdk/client-ssm'
import { AwsClient, type AwsClientOptions } from '../aws-client.js'
import { HALO_ERR_PARAM_NOT_FOUND, HALO_ERR_PARAM_UNAVAILABLE, errorMessage } from '../errors.js'
import type { ParamSource } from './source.js'

/** SSM's limit for both the names of one GetParameters call and the page size of GetParametersByPath. */
export const SSM_BATCH_SIZE = 10
/** How long one SSM call (the SDK's retries included) may take by default. */
export const DEFAULT_SSM_TIMEOUT_MS = 3_000

export interface SsmSourceOptions {
  /** Milliseconds one call may take, the SDK's retries included; default 3 000. */
  timeoutMs?: number
}

type SsmModule = typeof import('@aws-sdk/client-ssm')

export class SsmSource implements ParamSource {
  // The SDK is loaded on first use: an app that reads its parameters from a file never pays its load time.
  readonly #aws: AwsClient<SsmModule, SSMClient>
  readonly #timeoutMs: number

  /** Reads through `client`, or through a client made from `region` and `endpoint` on first use, which `destroy()` ends. */
  constructor (client: SSMClient | AwsClientOptions<SSMClient>, options: SsmSourceOptions = {}) {
    this.#aws = new AwsClient<SsmModule, SSMClient>(async () => await import('@aws-sdk/client-ssm'), (sdk, config) => new sdk.SSMClient(config),
      'send' in client ? { client } : client)
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_SSM_TIMEOUT_MS
  }

  /** Destroys the client made here, if any (one given is the giver's to destroy). */
  async destroy (): Promise<void> {
    await this.#aws.destroy()
  }

  async getParameter (name: string, decrypt: boolean, signal?: AbortSignal): Promise<string> {
    const bound = this.#bound(signal)
    try {
      const { sdk: { GetParameterCommand }, client } = await this.#aws.connect()
      const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: decrypt }), { abortSignal: bound })
      return Parameter!.Value!
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') throw new HALO_ERR_PARAM_NOT_FOUND(name)
      throw this.#unavailable(name, error, bound)
    }
  }

  async getParameters (names: readonly string[], decrypt: boolean, signal?: AbortSignal): Promise<Map<string, string>> {
    const { sdk: { GetParametersCommand }, client } = await this.#aws.connect()
    const batches: Array<Promise<Parameter[]>> = []
    for (let start = 0; start < names.length; start += SSM_BATCH_SIZE) {
      const batch = names.slice(start, start + SSM_BATCH_SIZE)
      const bound = this.#bound(signal)
      batches.push(client.send(new GetParametersCommand({ Names: batch, WithDecryption: decrypt }), { abortSignal: bound }).then(
        (output) => output.Parameters!,
        (error: unknown) => { throw this.#unavailable(batch.join(', '), error, bound) }))
    }
    return byName((await Promise.all(batches)).flat())
  }

  async getParametersByPath (path: string, recursive: boolean, decrypt: boolean, signal?: AbortSignal): Promise<Map<string, string>> {
    const { sdk: { GetParametersByPathCommand }, client } = await this.#aws.connect()
    const parameters: Parameter[] = []
    let nextToken: string | undefined
    let bound = this.#bound(signal)
    try {
      for (;;) {
        const page = await client.send(new GetParametersByPathCommand({
          Path: path, Recursive: recursive, WithDecryption: decrypt, MaxResults: SSM_BATCH_SIZE, NextToken: nextToken
        }), { abortSignal: bound })
        parameters.push(...page.Parameters!)
        nextToken = page.NextToken
        if (nextToken === undefined) break
        bound = this.#bound(signal)
      }
    } catch (error) {
      throw this.#unavailable(path, error, bound)
    }
    return byName(parameters)
  }

  /** A signal that aborts one call after the timeout, or with the caller's signal (a request's deadline). */
  #bound (signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    return signal === undefined ? timeout : AbortSignal.any([timeout, signal])
  }

  #unavailable (what: string, cause: unknown, bound: AbortSignal): Error {
    // An aborted call's own error says only "Request aborted": say which bound ended it.
    const why = !bound.aborted
      ? errorMessage(cause)
      : (bound.reason as Error | undefined)?.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : 'the request\'s deadline passed'
    return new HALO_ERR_PARAM_UNAVAILABLE(what, why, { cause })
  }
}

function byName (parameters: Parameter[]): Map<string, string> {
  return new Map(parameters.map((parameter) => [parameter.Name!, parameter.Value!]))
}
