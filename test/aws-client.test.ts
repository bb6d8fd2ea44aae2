// The one way Halo reaches an AWS service: the SDK module loaded on first use, the caller's client used as
// given and left alone, a client made here destroyed by destroy(). A stand-in module and client record what
// happens to them, so that loading and ownership are observed directly.
import t from 'tap'
import { AwsClient } from '../lib/aws-client.js'

class RecordingClient {
  destroyed = 0
  constructor (readonly config: { region?: string, endpoint?: string }) {}
  destroy (): void {
    this.destroyed++
  }
}

function standIn (): { loads: () => number, made: RecordingClient[], load: () => Promise<{ Client: typeof RecordingClient }>, make: (sdk: { Client: typeof RecordingClient }, config: { region?: string, endpoint?: string }) => RecordingClient } {
  let loads = 0
  const made: RecordingClient[] = []
  return {
    loads: () => loads,
    made,
    load: async () => {
      loads++
      return { Client: RecordingClient }
    },
    make: (sdk, config) => {
      const client = new sdk.Client(config)
      made.push(client)
      return client
    }
  }
}

t.test('the SDK is loaded and the client made on first use, once, from region and endpoint', async (t) => {
  const sdk = standIn()
  const aws = new AwsClient(sdk.load, sdk.make, { region: 'eu-west-1', endpoint: 'http://localhost:8000' })
  t.equal(sdk.loads(), 0, 'nothing is loaded before the first call')
  const [first, second] = await Promise.all([aws.connect(), aws.connect()])
  t.equal(first.client, second.client)
  t.equal(sdk.loads(), 1)
  t.same(sdk.made.map((client) => client.config), [{ region: 'eu-west-1', endpoint: 'http://localhost:8000' }])
})

t.test('destroy() ends a client made here, and a later call makes a new one', async (t) => {
  const sdk = standIn()
  const aws = new AwsClient(sdk.load, sdk.make, {})
  await aws.destroy()
  t.equal(sdk.loads(), 0, 'destroying before any call loads nothing')
  const { client } = await aws.connect()
  await aws.destroy()
  t.equal((client as RecordingClient).destroyed, 1)
  const { client: next } = await aws.connect()
  t.not(next, client)
  t.equal(sdk.made.length, 2)
})

t.test('a client the caller gave is used as it is and never destroyed', async (t) => {
  const sdk = standIn()
  const given = new RecordingClient({})
  const aws = new AwsClient(sdk.load, sdk.make, { client: given, region: 'ignored' })
  t.equal((await aws.connect()).client, given)
  await aws.destroy()
  t.equal(given.destroyed, 0)
  t.equal(sdk.made.length, 0)
})
