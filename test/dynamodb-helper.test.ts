import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import {
  CreateTableCommand, GetItemCommand, ListTablesCommand, PutItemCommand, waitUntilTableExists
} from '@aws-sdk/client-dynamodb'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { startDynamoDB, uniqueTableName } from './helpers/dynamodb.js'

const javaRuns = spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0
const HANDLE_KINDS = ['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'PipeWrap']

/** Sets environment variables for one test; `undefined` removes one. */
function withEnv (t: Test, values: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]))
  const apply = (entries: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
  apply(values)
  t.teardown(() => apply(saved))
}

async function openHandles (): Promise<string[]> {
  await sleep(50) // closed handles leave the list on a later turn of the event loop
  return process.getActiveResourcesInfo().filter((kind) => HANDLE_KINDS.includes(kind)).sort()
}

/** Whether something accepts TCP connections at the endpoint's port. */
async function answers (endpoint: string): Promise<boolean> {
  const socket = connect(Number(new URL(endpoint).port), '127.0.0.1')
  try {
    await once(socket, 'connect')
    return true
  } catch {
    return false
  } finally {
    socket.destroy()
  }
}

async function roundTrip (client: DynamoDBClient): Promise<unknown> {
  const TableName = uniqueTableName('helper')
  await client.send(new CreateTableCommand({
    TableName,
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST'
  }))
  await waitUntilTableExists({ client, minDelay: 0.05, maxDelay: 0.5, maxWaitTime: 10 }, { TableName })
  await client.send(new PutItemCommand({ TableName, Item: { id: { S: 'a' }, data: { B: Buffer.from([0, 255, 1]) } } }))
  const { Item } = await client.send(new GetItemCommand({ TableName, Key: { id: { S: 'a' } }, ConsistentRead: true }))
  return Item
}

const engines = [
  { name: 'dynamodb-local', env: {}, skip: !javaRuns && 'java is not on the PATH' },
  { name: 'dynalite', env: { HALO_TEST_DYNAMODB_ENGINE: 'dynalite' }, skip: false }
] as const

for (const { name, env, skip } of engines) {
  t.test(`${name}: serves tables and items, then stops without leaving a process or handle`, { skip }, async (t) => {
    withEnv(t, { HALO_TEST_DYNAMODB_ENDPOINT: undefined, HALO_TEST_DYNAMODB_ENGINE: undefined, ...env })
    const handlesBefore = await openHandles()
    const dynamodb = await startDynamoDB()
    t.teardown(dynamodb.stop)
    t.equal(dynamodb.engine, name)
    t.match(dynamodb.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/)
    t.same(await roundTrip(dynamodb.client), { id: { S: 'a' }, data: { B: new Uint8Array([0, 255, 1]) } })

    await dynamodb.stop()
    await dynamodb.stop()
    t.notOk(await answers(dynamodb.endpoint), 'the port is closed')
    t.same(await openHandles(), handlesBefore, 'no socket, server, pipe or child process is left open')
  })
}

t.test('without java on the PATH, dynalite is used', async (t) => {
  withEnv(t, { HALO_TEST_DYNAMODB_ENDPOINT: undefined, HALO_TEST_DYNAMODB_ENGINE: undefined, PATH: '' })
  const dynamodb = await startDynamoDB()
  t.teardown(dynamodb.stop)
  t.equal(dynamodb.engine, 'dynalite')
})

t.test('HALO_TEST_DYNAMODB_ENDPOINT is used as is, and stop() leaves that instance running', async (t) => {
  withEnv(t, { HALO_TEST_DYNAMODB_ENDPOINT: undefined, HALO_TEST_DYNAMODB_ENGINE: 'dynalite' })
  const other = await startDynamoDB()
  t.teardown(other.stop)
  withEnv(t, { HALO_TEST_DYNAMODB_ENDPOINT: other.endpoint, HALO_TEST_DYNAMODB_ENGINE: undefined })
  const external = await startDynamoDB()
  t.equal(external.engine, 'external')
  t.equal(external.endpoint, other.endpoint)
  t.ok(await roundTrip(external.client))
  await external.stop()
  t.ok(await other.client.send(new ListTablesCommand({})), 'the external instance still answers')
})

t.test('uniqueTableName gives valid, distinct names', async (t) => {
  const names = new Set(Array.from({ length: 100 }, () => uniqueTableName('orders')))
  t.equal(names.size, 100)
  t.ok([...names].every((name) => /^orders-[A-Za-z0-9_.-]{3,200}$/.test(name)), 'DynamoDB accepts them')
})

t.test('DynamoDB Local start-up failures', { skip: !javaRuns && 'java is not on the PATH' }, (t) => {
  t.beforeEach((t) => withEnv(t, { HALO_TEST_DYNAMODB_ENDPOINT: undefined, HALO_TEST_DYNAMODB_ENGINE: undefined }))

  t.test('a JVM that exits at start-up fails fast, quoting its output', async (t) => {
    // `java -version` still runs with this metaspace, DynamoDB Local does not.
    withEnv(t, { JAVA_TOOL_OPTIONS: '-XX:MaxMetaspaceSize=10m' })
    const handlesBefore = await openHandles()
    const startedAt = Date.now()
    await t.rejects(startDynamoDB(), /DynamoDB Local exited \(code 1, signal null\) before answering\. Its output:\n[^]*Metaspace/)
    t.ok(Date.now() - startedAt < 15_000, 'well before the start-up timeout')
    t.same(await openHandles(), handlesBefore)
  })

  t.test('a JVM that does not answer in time is stopped', async (t) => {
    withEnv(t, { HALO_TEST_DYNAMODB_START_TIMEOUT_MS: '1' })
    const handlesBefore = await openHandles()
    await t.rejects(startDynamoDB(), /DynamoDB Local did not answer ListTables within 1 ms \(last error: .+\)/)
    t.same(await openHandles(), handlesBefore)
  })

  t.test('the JVM does not outlive a test process killed with SIGKILL', async (t) => {
    const helper = fileURLToPath(new URL('./helpers/dynamodb.ts', import.meta.url))
    const script = `const { startDynamoDB } = await import(${JSON.stringify(helper)})
      console.log((await startDynamoDB()).endpoint)
      setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    t.teardown(() => { child.kill('SIGKILL') })
    const [firstLine] = await once(child.stdout, 'data') as [Buffer]
    const endpoint = firstLine.toString().trim()
    t.ok(await answers(endpoint), 'DynamoDB Local runs')
    child.kill('SIGKILL')
    await once(child, 'exit')
    const deadline = Date.now() + 10_000
    while (await answers(endpoint) && Date.now() < deadline) await sleep(100)
    t.notOk(await answers(endpoint), 'its JVM is gone')
  })
  t.end()
})
