// How every Halo part reaches an AWS service. The SDK module is imported on first use, so an application that
// never calls the service does not pay its load time. The client is the caller's when one is given, else made
// here from `region` and `endpoint`; `destroy()` ends only a client made here (one given is the giver's).

/** How a part is told which client to use; every option is optional. */
export interface AwsClientOptions<Client> {
  /** The client to use; by default one is made from `region` and `endpoint` on first use. */
  client?: Client
  /** For the client made when none is given (default: the SDK's, from AWS_REGION). */
  region?: string
  /** For the client made when none is given, e.g. DynamoDB Local's `http://localhost:8000`. */
  endpoint?: string
}

/** The SDK module and the client to send through. */
export interface AwsConnection<Sdk, Client> {
  sdk: Sdk
  client: Client
}

interface DestroyableClient {
  destroy (): void
}

export class AwsClient<Sdk, Client extends DestroyableClient> {
  readonly #load: () => Promise<Sdk>
  readonly #make: (sdk: Sdk, config: { region?: string, endpoint?: string }) => Client
  readonly #options: AwsClientOptions<Client>
  #connection: Promise<AwsConnection<Sdk, Client>> | undefined

  /**
   * @param load imports the SDK module, e.g. `() => import('@aws-sdk/client-dynamodb')`
   * @param make makes a client from the module, e.g. `(sdk, config) => new sdk.DynamoDBClient(config)`
   */
  constructor (load: () => Promise<Sdk>, make: (sdk: Sdk, config: { region?: string, endpoint?: string }) => Client, options: AwsClientOptions<Client>) {
    this.#load = load
    this.#make = make
    this.#options = options
  }

  /** The SDK and the client, loaded and made on the first call. */
  async connect (): Promise<AwsConnection<Sdk, Client>> {
    this.#connection ??= this.#load().then((sdk) => ({
      sdk,
      client: this.#options.client ?? this.#make(sdk, { region: this.#options.region, endpoint: this.#options.endpoint })
    }))
    return await this.#connection
  }

  /** Destroys the client made here, if any; a later `connect` makes a new one. */
  async destroy (): Promise<void> {
    const connection = this.#connection
    this.#connection = undefined
    if (connection === undefined || this.#options.client !== undefined) return
    const { client } = await connection
    client.destroy()
  }
}
