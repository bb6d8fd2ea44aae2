// The README's bundling command, run as written on examples/travel/lambda.ts, makes a bundle that runs:
// lambda-local, an independent Lambda runner, loads it in a process of its own and invokes it with an API
// Gateway HTTP API (v2) event, the function's environment pointing at real DynamoDB and SSM stand-ins.
import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { buildTravelApp } from '../examples/travel/app.js'
import { httpApiEvent } from './helpers/lambda.js'
import { captureLogs } from './helpers/logs.js'
import { codeBlockAfter, runCommand } from './helpers/processes.js'
import { deployTravel } from './helpers/travel-deployment.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const lambdaLocal = createRequire(import.meta.url).resolve('lambda-local/build/cli.js')

t.test("the README's esbuild command bundles the travel example into a handler lambda-local runs", async (t) => {
  const command = codeBlockAfter(await readFile(join(root, 'README.md'), 'utf8'), 'Bundle your handler', 'sh')
  t.match(command, /--outfile=build\/lambda\.mjs/, 'the command writes build/lambda.mjs')
  await runCommand('sh', ['-c', command], root)

  // The partners the bundled service calls: the example's own partner routes, on a server of their own.
  const partners = await buildTravelApp({ logStream: captureLogs().stream })
  t.teardown(() => partners.close())
  await partners.listen({ port: 0, host: '127.0.0.1' })
  const { env } = await deployTravel(t, `http://127.0.0.1:${(partners.server.address() as AddressInfo).port}/partners`)

  const work = await mkdtemp(join(tmpdir(), 'fastify-halo-bundle-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const eventFile = join(work, 'event.json')
  await writeFile(eventFile, JSON.stringify(httpApiEvent({
    method: 'POST',
    path: '/bookings',
    headers: { 'content-type': 'application/json', 'x-correlation-id': 'bundle-1', 'idempotency-key': 'trip-1' },
    body: JSON.stringify({ traveller: 'Ada Lovelace', destination: 'Lisbon' })
  })))
  const { stdout } = await runCommand(process.execPath, [
    lambdaLocal, '--esm', '-l', join(root, 'build', 'lambda.mjs'), '-h', 'handler', '-e', eventFile, '-t', '20',
    '--verboselevel', '3', '-E', JSON.stringify(env)
  ], work)

  const lines = stdout.split('\n')
  const logLines = lines.filter((line) => line.startsWith('{"level":')).map((line) => JSON.parse(line))
  t.ok(logLines.length > 0, 'the function logged JSON lines')
  t.ok(logLines.every((line) => line.service === 'travel' && line.correlationId === 'bundle-1'), 'each with the service and the correlation id')
  t.ok(logLines.some((line) => line.saga === 'travel'), 'the saga logged its steps')
  // lambda-local prints the result after its "End - Result:" line as indented JSON whose opening brace ends a
  // line of its own (after lambda-local's level label, colored or not); log lines written later may come first.
  // eslint-disable-next-line no-control-regex -- ANSI color codes
  const printed = stdout.replace(/\x1b\[[0-9;]*m/g, '')
  const opening = /^(?:info: )?\{$/m.exec(printed.slice(printed.indexOf('End - Result:')))
  t.ok(opening !== null, 'lambda-local printed a result')
  const resultStart = printed.indexOf('End - Result:') + opening!.index + opening![0].length - 1
  const result = JSON.parse(printed.slice(resultStart, printed.indexOf('\n}', resultStart) + 2))
  t.equal(result.statusCode, 201, result.body)
  t.equal(result.headers['x-correlation-id'], 'bundle-1')
  t.match(JSON.parse(result.body), { sagaId: String, results: { BookHotelResult: { status: 'booked' }, BookRentalResult: { status: 'booked' } } })
})
