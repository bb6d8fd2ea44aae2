// The benchmarks' own step of `npm test` (`npm run bench:smoke`), after the product's tests and outside their
// coverage gate: nothing is timed. Their pure helpers (statistics, round schedule, report, profile reading)
// are tested here; the benchmarks themselves run in a child process with the tiny settings of `--smoke`,
// which only checks that each one starts and returns well-formed results.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

interface Target { atLeast?: number, atMost?: number }

interface BenchResult {
  name: string
  value: number
  unit: string
  baseline?: number
  ratio?: number
  target?: Target
  pass?: boolean
  samples?: number[]
  detail?: string
}

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface CpuProfile { nodes: Array<{ id: number, callFrame: CallFrame }>, samples: number[], timeDeltas: number[] }
interface SelfTime { key: string, milliseconds: number, share: number }
interface Machine { cpu: string, cores: number, memoryGiB: number, os: string, node: string, loadAverage: string }

// bench/ is plain JavaScript without type declarations: its modules are typed here by what the tests use.
interface Stats {
  median (values: number[]): number
  pairedRatio (samples: number[], baselineSamples: number[]): number
  loopRates (rounds: Array<{ invocations: number, cpuMs: number, elapsedMs: number }>): { perCpuSecond: number[], wallClock: string }
}
interface Rounds {
  alternatingRounds<V> (variants: V[], schedule: { rounds: number, warmUp (variant: V): Promise<unknown>, measure (variant: V): Promise<number> }): Promise<number[][]>
  benchMode (options: { quick?: boolean, smoke?: boolean }): string
}
interface Report {
  meetsTarget (result: BenchResult): boolean | undefined
  textTable (results: BenchResult[]): string
  machine (): Machine
  resultsMarkdown (run: { results: BenchResult[], command: string, startedAt: Date, durationSeconds: number, machineBefore: Machine, machineAfter: Machine, previous?: string }): string
}
interface CpuProfileReader {
  functionOf (callFrame: CallFrame): string
  originOf (callFrame: CallFrame): string
  selfTimes (profile: CpuProfile, keyOf: (callFrame: CallFrame) => string): SelfTime[]
  formatSelfTimes (rows: SelfTime[], count: number): string[]
}

async function benchSupport<Module> (file: string): Promise<Module> {
  return await import(new URL(`./support/${file}`, import.meta.url).href) as Module
}

t.test('median, paired ratios and a Lambda loop\'s rates', async (t) => {
  const { median, pairedRatio, loopRates } = await benchSupport<Stats>('stats.js')
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(pairedRatio([90, 50, 200], [100, 100, 100]), 0.9, 'the median of round-by-round ratios')
  t.same(loopRates([
    { invocations: 100, cpuMs: 50, elapsedMs: 100 },
    { invocations: 300, cpuMs: 100, elapsedMs: 200 },
    { invocations: 200, cpuMs: 200, elapsedMs: 400 }
  ]), { perCpuSecond: [2000, 3000, 1000], wallClock: 'wall clock: 1000 inv/s' })
})

t.test('rounds alternate which variant goes first, after one warm-up each', async (t) => {
  const { alternatingRounds, benchMode } = await benchSupport<Rounds>('rounds.js')
  const calls: string[] = []
  const samples = await alternatingRounds(['a', 'b', 'c'], {
    rounds: 2,
    warmUp: async (variant) => calls.push(`warm ${variant}`),
    measure: async (variant) => {
      calls.push(variant)
      return calls.length
    }
  })
  t.same(calls, ['warm a', 'warm b', 'warm c', 'a', 'b', 'c', 'b', 'c', 'a'])
  t.same(samples, [[4, 9], [5, 7], [6, 8]])
  t.equal(benchMode({}), 'full')
  t.equal(benchMode({ quick: true }), 'quick')
  t.equal(benchMode({ quick: true, smoke: true }), 'smoke')
})

t.test('the table and RESULTS.md judge each result against its target', async (t) => {
  const { meetsTarget, textTable, machine, resultsMarkdown } = await benchSupport<Report>('report.js')
  const results: BenchResult[] = [
    { name: 'bare', value: 12345.6, unit: 'req/s', samples: [12000, 12345.6] },
    { name: 'halo', value: 11000, unit: 'req/s', baseline: 12345.6, ratio: 0.891, target: { atLeast: 0.9 }, samples: [11000] },
    { name: 'cold', value: 45.67, unit: 'ms', baseline: 40, ratio: 1.14, target: { atMost: 1.2 } },
    { name: 'sdk', value: 0, unit: 'packages', target: { atMost: 0 }, detail: 'none' },
    { name: 'small', value: 1.234, unit: 'x' }
  ]
  t.same(results.map(meetsTarget), [undefined, false, true, true, undefined])

  const lines = textTable(results).split('\n')
  t.match(lines[0], /^benchmark +figure +unit +baseline +ratio +target +result$/)
  t.match(lines[3], /^halo +11,000 +req\/s +12,346 +0\.891 +≥ 0\.90 +FAIL$/)
  t.match(lines[4], /^cold +45\.7 +ms +40 +1\.140 +≤ 1\.20 +pass$/)
  t.match(lines[5], /^sdk +0 +packages +≤ 0 +pass$/)
  t.match(lines[6], /^small +1\.23 +x$/)

  const now = machine()
  t.equal(now.node, process.version)
  t.ok(now.cores > 0 && now.memoryGiB > 0)
  const page = resultsMarkdown({ results, command: 'npm run bench', startedAt: new Date(0), durationSeconds: 99.6, machineBefore: now, machineAfter: now })
  t.match(page, 'Written by `npm run bench`')
  t.match(page, 'Date: 1970-01-01T00:00:00.000Z; duration 100 s')
  t.match(page, '| halo | 11,000 | req/s | 12,346 | 0.891 | ≥ 0.90 | FAIL |')
  t.match(page, '- bare: 12,000, 12,346 req/s\n- halo: 11,000 req/s\n- sdk (none)\n')
  t.notMatch(page, '- cold')

  const major = process.versions.node.split('.')[0]
  t.match(page, `## Node ${major}\n`)
  const otherNode = { ...now, node: 'v99.1.0' }
  const both = resultsMarkdown({ results: results.slice(0, 1), command: 'npm run bench', startedAt: new Date(1000), durationSeconds: 5, machineBefore: otherNode, machineAfter: otherNode, previous: page })
  t.ok(both.indexOf('## Node 99\n') < both.indexOf(`## Node ${major}\n`), 'one section per Node major, the newest first')
  t.match(both, '| halo | 11,000 | req/s | 12,346 | 0.891 | ≥ 0.90 | FAIL |', 'the other major\'s section is kept')
  const rerun = resultsMarkdown({ results: results.slice(0, 1), command: 'npm run bench', startedAt: new Date(2000), durationSeconds: 5, machineBefore: otherNode, machineAfter: otherNode, previous: both })
  t.equal(rerun.split('## Node 99\n').length, 2, 'a rerun rewrites its own section')
  t.match(rerun, 'Date: 1970-01-01T00:00:02.000Z')
  t.notMatch(rerun, 'Date: 1970-01-01T00:00:01.000Z')
})

t.test('CPU profiles are read as self time per function and per origin, idle time left out', async (t) => {
  const { functionOf, originOf, selfTimes, formatSelfTimes } = await benchSupport<CpuProfileReader>('cpu-profile.js')
  const frames: CallFrame[] = [
    { functionName: '(idle)', url: '', lineNumber: -1 },
    { functionName: 'redactSecrets', url: new URL('../dist/lib/logging.js', import.meta.url).href, lineNumber: 9 },
    { functionName: '', url: `${root}node_modules/@fastify/aws-lambda/index.js`, lineNumber: 0 },
    { functionName: 'nextTick', url: 'node:internal/process/task_queues', lineNumber: 102 },
    { functionName: '(garbage collector)', url: '', lineNumber: -1 },
    { functionName: 'elsewhere', url: '/opt/other/file.js', lineNumber: 4 }
  ]
  const profile: CpuProfile = {
    nodes: frames.map((callFrame, index) => ({ id: index + 1, callFrame })),
    samples: [1, 2, 2, 3, 4, 5, 6, 1],
    timeDeltas: [0, 500, 1000, 1000, 1000, 500, 1000, 1000]
  }
  t.same(selfTimes(profile, functionOf).map(({ key, milliseconds }) => [key, milliseconds]), [
    ['redactSecrets dist/lib/logging.js:10', 2],
    ['(anonymous) node_modules/@fastify/aws-lambda/index.js:1', 1],
    ['(garbage collector)', 1],
    ['elsewhere /opt/other/file.js:5', 1],
    ['nextTick node:internal/process/task_queues:103', 0.5]
  ])
  const origins = selfTimes(profile, originOf)
  t.same(origins.map(({ key, share }) => [key, share]), [
    ['dist/lib/logging.js', 2 / 5.5],
    ['@fastify/aws-lambda', 1 / 5.5],
    ['(garbage collector)', 1 / 5.5],
    ['/opt/other/file.js', 1 / 5.5],
    ['node internals', 0.5 / 5.5]
  ])
  t.same(formatSelfTimes(origins, 1), ['      2 ms  36.4 %  dist/lib/logging.js'])
})

function runBench (...args: string[]): { status: number | null, stdout: string, stderr: string } {
  // Outside coverage: tap's process tracking adds its loader to every child it sees spawned, but records no
  // coverage where _TAPJS_PROCESSINFO_COVERAGE_ is 0 (which it passes on to the grandchildren too).
  const { NODE_V8_COVERAGE: _coverage, NODE_OPTIONS: _options, ...env } = process.env
  return spawnSync(process.execPath, ['bench/run.js', ...args], {
    cwd: root,
    env: { ...env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
    encoding: 'utf8',
    timeout: 150_000
  })
}

t.test('every benchmark runs and returns well-formed results', async (t) => {
  const { status, stdout, stderr } = runBench('--smoke', '--json')
  t.equal(status, 0, stderr)
  const { machine, results } = JSON.parse(stdout) as { machine: Machine, results: BenchResult[] }
  t.equal(machine.node, process.version)
  for (const prefix of ['HTTP GET /json', 'HTTP GET /json, timeout part', 'HTTP POST /orders without a key, idempotency part', 'Lambda GET /json', 'Lambda POST /orders on ', 'Cold start']) {
    t.ok(results.some((result) => result.name.startsWith(prefix)), `a result for ${prefix}`)
  }
  for (const result of results) {
    t.ok(Number.isFinite(result.value) && result.value >= 0, `${result.name}: a figure`)
    t.type(result.unit, 'string')
    if (result.baseline !== undefined) t.ok(result.baseline > 0 && Number.isFinite(result.ratio), `${result.name}: baseline and ratio`)
    t.equal(typeof result.pass, result.target === undefined ? 'undefined' : 'boolean', `${result.name}: judged only against a target`)
    for (const sample of result.samples ?? []) t.ok(Number.isFinite(sample), `${result.name}: samples are figures`)
  }
  t.match(results.find((result) => result.name.startsWith('AWS SDK packages')), { unit: 'packages', target: { atMost: 0 } })
  t.ok(results.some((result) => result.unit === 'calls/inv' && result.value > 0), 'DynamoDB calls per idempotent invocation')
})

t.test('--profile writes CPU profiles and prints where their time goes', async (t) => {
  const { status, stdout, stderr } = runBench('--smoke', '--profile')
  t.equal(status, 0, stderr)
  t.match(stdout, /HTTP server, Halo, GET \/json .*top 15 functions by self time/)
  t.match(stdout, /Lambda loop, Halo, GET \/json .*top 15 functions by self time/)
  t.match(stdout, /by origin:\n +\d+ ms +[\d.]+ % {2}\S/)
  t.ok(existsSync(new URL('./.cpuprofile/http-halo.cpuprofile', import.meta.url)))
  t.ok(existsSync(new URL('./.cpuprofile/lambda-halo.cpuprofile', import.meta.url)))
})

t.test('an unknown benchmark is refused', async (t) => {
  const { status, stderr } = runBench('--smoke', '--only', 'no-such-bench')
  t.not(status, 0)
  t.match(stderr, /no benchmark named no-such-bench/)
})
