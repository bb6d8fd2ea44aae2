// Parameter Store through the AWS SDK. Retries (throttling, network errors) are the SDK client's own, with
// its backoff; this layer only keeps SSM's limits and turns its errors into Halo's, naming the parameter.
import type { Parameter, SSMClient } from '@aws-sdk/client-ssm'
import { AwsClient, type AwsClientOptions } from '../aws-client.js'
import { HALO_ERR_PARAM_NOT_FOUND, HALO_ERR_PARAM_UNAVAILABLE, errorMessage } from '../errors.js'
import type { ParamSource } from './source.js'

/** SSM's limit for both the names of one GetParameters call and the page size of GetParametersByPath. */
export const SSM_BATCH_SIZE = 10

type SsmModule = typeof import('@aws-sdk/client-ssm')

export class SsmSource implements ParamSource {
  // The SDK is loaded on first use: an app that reads its parameters from a file never pays its load time.
  readonly #aws: AwsClient<SsmModule, SSMClient>

  /** Reads through `client`, or through a client made from `region` and `endpoint` on first use, which `destroy()` ends. */
  constructor (client: SSMClient | AwsClientOptions<SSMClient>) {
    this.#aws = new AwsClient<SsmModule, SSMClient>(async () => await import('@aws-sdk/client-ssm'), (sdk, config) => new sdk.SSMClient(config),
      'send' in client ? { client } : client)
  }

  /** Destroys the client made here, if any (one given is the giver's to destroy). */
  async destroy (): Promise<void> {
    await this.#aws.destroy()
  }

  async getParameter (name: string, decrypt: boolean): Promise<string> {
    try {
      const { sdk: { GetParameterCommand }, client } = await this.#aws.connect()
      const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: decrypt }))
      return Parameter!.Value!
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') throw new HALO_ERR_PARAM_NOT_FOUND(name)
      throw unavailable(name, error)
    }
  }

  async getParameters (names: readonly string[], decrypt: boolean): Promise<Map<string, string>> {
    const { sdk: { GetParametersCommand }, client } = await this.#aws.connect()
    const batches: Array<Promise<Parameter[]>> = []
    for (let start = 0; start < names.length; start += SSM_BATCH_SIZE) {
      const batch = names.slice(start, start + SSM_BATCH_SIZE)
      batches.push(client.send(new GetParametersCommand({ Names: batch, WithDecryption: decrypt })).then(
        (output) => output.Parameters!,
        (error: unknown) => { throw unavailable(batch.join(', '), error) }))
    }
    return byName((await Promise.all(batches)).flat())
  }

  async getParametersByPath (path: string, recursive: boolean, decrypt: boolean): Promise<Map<string, string>> {
    const { sdk: { GetParametersByPathCommand }, client } = await this.#aws.connect()
    const parameters: Parameter[] = []
    let nextToken: string | undefined
    try {
      do {
        const page = await client.send(new GetParametersByPathCommand({
          Path: path, Recursive: recursive, WithDecryption: decrypt, MaxResults: SSM_BATCH_SIZE, NextToken: nextToken
        }))
        parameters.push(...page.Parameters!)
        nextToken = page.NextToken
      } while (nextToken !== undefined)
    } catch (error) {
      throw unavailable(path, error)
    }
    return byName(parameters)
  }
}

function unavailable (what: string, cause: unknown): Error {
  return new HALO_ERR_PARAM_UNAVAILABLE(what, errorMessage(cause), { cause })
}

function byName (parameters: Parameter[]): Map<string, string> {
  return new Map(parameters.map((parameter) => [parameter.Name!, parameter.Value!]))
}
