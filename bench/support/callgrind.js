// `--callgrind`: instructions per request, which machine load does not move. Each variant runs under
// `valgrind --tool=callgrind` in a process of its own (an HTTP server the parent sends requests to over one
// keep-alive connection, a Lambda loop, or a loop of SQS batches counted per record); after a warm-up (JIT
// tiering counts invocations, not time, so it is as far along as outside valgrind), its counters are zeroed,
// N requests are served, and the counters dumped: the dump holds exactly those N requests (for the HTTP
// server, the server side only). A full garbage collection just before zeroing keeps a major collection,
// whose cost depends on the heap rather than on the requests, out of the count (scavenges, which the
// requests' garbage causes, stay in). The warm-up runs uninstrumented (--instr-atstart=no, then
// callgrind_control --instr), several times faster, so it can be long enough for V8's compilers to settle:
// after a short one, what they still compile, and the functions not yet optimized, moved the figures by 10%
// from one run to the next. Dumps stay in bench/.callgrind/ for `callgrind_annotate` (native code only: V8's
// JIT code shows as addresses).
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BATCH_SIZE, eventsLoopScript } from '../events.bench.js'
import { httpServerScript } from '../http.bench.js'
import { lambdaLoopScript } from '../lambda.bench.js'
import { startWorker } from './worker.js'

const callgrindDirectory = fileURLToPath(new URL('../.callgrind/', import.meta.url))

const getJson = { method: 'GET', path: '/json' }
const postOrder = { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"sku":"HOTEL-1","quantity":1}' }
const replayedOrder = { ...postOrder, headers: { ...postOrder.headers, 'idempotency-key': 'bench-order-1' } }

/**
 * What is counted: per scenario, a baseline variant and the variants compared with it. HTTP variants serve
 * every HTTP scenario in one server process; Lambda and events variants each run a loop of their own. An
 * events scenario is counted per record, and `against` names the one invocation of another scenario that a
 * record of the last variant is held to (issue 14: a record costs no more than one HTTP invocation).
 */
export const scenarios = [
  { name: 'HTTP GET /json', kind: 'http', request: getJson, variants: ['bare', 'halo'], status: 200 },
  // Halo replays the first answer from its memory store; bare Fastify runs the (trivial) handler each time.
  { name: 'HTTP POST /orders, one idempotency key (replay)', kind: 'http', request: replayedOrder, variants: ['bare', 'halo'], status: 201 },
  { name: 'Lambda GET /json', kind: 'lambda', request: getJson, variants: ['bare', 'halo', 'middy'], status: 200 },
  {
    name: `SQS batch of ${BATCH_SIZE}, per record`,
    kind: 'events',
    batchSize: BATCH_SIZE,
    variants: ['middy-batch', 'halo-events'],
    against: { name: 'A Halo record against one Halo HTTP invocation (Lambda GET /json)', kind: 'lambda', scenario: 'Lambda GET /json', variant: 'halo', target: { atLeast: 1 } }
  }
]

const settings = {
  full: { warmUp: 20000, requests: 1000 },
  quick: { warmUp: 10000, requests: 300 },
  smoke: { warmUp: 20, requests: 20 }
}

/** The instruction count of a callgrind output file (its `summary:` line). */
export function summaryInstructions (text) {
  const match = /^summary: (\d+)/m.exec(text)
  if (match === null) throw new Error('no summary line in the callgrind output')
  return Number(match[1])
}

// V8's garbage collector and its compilers, by their C++ names: what a short count catches by chance (a
// major collection, a function tiering up) rather than what each request does.
const collectorOrCompiler = /Scaveng|Marking|Sweep|Heap|heap::|GCTracer|Evacuat|IterateObjectCache|RootVisit|BodyDescriptor|SizeFromMap|Worklist|MemoryAllocator|ActiveSystemPages|compiler::|maglev::|turboshaft|Compil|Pipeline|interpreter::|Parser|Scanner|Zone/

/**
 * The instructions of a callgrind output file spent in functions other than the collector's and the
 * compilers' (self cost, summed per function; the cost lines after `calls=` are inclusive, not added).
 */
export function requestInstructions (text) {
  const names = new Map()
  let current = ''
  let callCost = false
  let total = 0
  for (const line of text.split('\n')) {
    const first = line.charCodeAt(0)
    if ((first >= 0x30 && first <= 0x39) || line[0] === '+' || line[0] === '-' || line[0] === '*') {
      if (callCost) callCost = false
      else if (!collectorOrCompiler.test(current)) total += Number(line.split(' ')[1] ?? 0)
    } else if (line.startsWith('calls=')) {
      callCost = true
    } else if (line.startsWith('fn=')) {
      const [, id, name] = /^fn=\((\d+)\)(?: (.*))?/.exec(line)
      if (name !== undefined) names.set(id, name)
      current = names.get(id) ?? ''
    } else if (line.startsWith('cfn=')) {
      const [, id, name] = /^cfn=\((\d+)\)(?: (.*))?/.exec(line)
      if (name !== undefined) names.set(id, name)
    }
  }
  return total
}

function callgrindControl (pid, command) {
  execFileSync('callgrind_control', [command, String(pid)], { stdio: 'ignore' })
}

async function startUnderCallgrind (script, args, name) {
  return startWorker(script, args, {
    execPath: 'valgrind',
    execArgv: ['--tool=callgrind', '--quiet', '--instr-atstart=no', `--callgrind-out-file=${join(callgrindDirectory, `${name}.out`)}`, process.execPath, '--expose-gc']
  })
}

/** Collects garbage, zeroes the counters, runs `work`, dumps them to `<file>.out`; says how many instructions `work` took. */
async function counted (worker, name, file, work) {
  await worker.ask({ collectGarbage: true })
  callgrindControl(worker.pid, '--zero')
  await work()
  callgrindControl(worker.pid, '--dump')
  // The first dump of a process is written as `<out file>.1`, the next `.2`, and so on.
  worker.dumps = (worker.dumps ?? 0) + 1
  const dump = join(callgrindDirectory, `${name}.out.${worker.dumps}`)
  const target = join(callgrindDirectory, `${file}.out`)
  renameSync(dump, target)
  const text = readFileSync(target, 'utf8')
  return { all: summaryInstructions(text), own: requestInstructions(text) }
}

async function send (port, { method, path, headers, body }, status, count) {
  for (let sent = 0; sent < count; sent++) {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body })
    await response.arrayBuffer()
    if (response.status !== status) throw new Error(`${method} ${path} answered ${response.status}`)
  }
  return count
}

const fileName = (text) => text.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase()

/**
 * How each kind of scenario is driven: the process counted, and how about `count` requests (records, for
 * events: whole batches of them) are sent to it; `drive` says how many were.
 */
const drivers = {
  http: {
    script: httpServerScript,
    unit: 'instr/req',
    drive: (server, { request, status }, count) => send(server.ready.port, request, status, count)
  },
  lambda: {
    script: lambdaLoopScript,
    unit: 'instr/req',
    drive: async (loop, { request, status }, count) => (await loop.ask({ request, status, invocations: count })).invocations
  },
  events: {
    script: eventsLoopScript,
    unit: 'instr/record',
    drive: async (loop, { batchSize }, count) => (await loop.ask({ batchSize, batches: Math.max(1, Math.round(count / batchSize)) })).invocations
  }
}

/** Instructions per request (or record) of one variant in each scenario of its kind, after about `warmUp` of them. */
async function countVariant (kind, variant, { warmUp, requests }) {
  const name = `${kind}-${variant}`
  const { script, drive } = drivers[kind]
  const worker = await startUnderCallgrind(script, [variant], name)
  try {
    const counts = new Map()
    for (const scenario of scenarios.filter((scenario) => scenario.kind === kind && scenario.variants.includes(variant))) {
      callgrindControl(worker.pid, '--instr=off')
      await drive(worker, scenario, warmUp)
      callgrindControl(worker.pid, '--instr=on')
      let served = 0
      const instructions = await counted(worker, name, `${name}-${fileName(scenario.name)}`, async () => { served = await drive(worker, scenario, requests) })
      counts.set(scenario.name, { all: instructions.all / served, own: instructions.own / served })
    }
    return counts
  } finally {
    await worker.stop()
  }
}

/**
 * Counts every variant (all at once: instruction counts do not depend on how many cores are free) and
 * returns one result per scenario and variant, the compared ones with their ratio to the baseline written
 * as requests per instruction (baseline instructions / variant instructions), as the other benchmarks
 * write throughput ratios.
 */
export async function runCallgrind ({ mode, only }) {
  rmSync(callgrindDirectory, { recursive: true, force: true })
  mkdirSync(callgrindDirectory, { recursive: true })
  const chosen = scenarios.filter((scenario) => only === undefined || scenario.kind === only)
  const jobs = new Map()
  const countOnce = (kind, variant) => {
    const key = `${kind}-${variant}`
    if (!jobs.has(key)) jobs.set(key, countVariant(kind, variant, settings[mode]))
  }
  for (const { kind, variants, against } of chosen) {
    for (const variant of variants) countOnce(kind, variant)
    if (against !== undefined) countOnce(against.kind, against.variant)
  }
  const counts = new Map(await Promise.all([...jobs].map(async ([key, job]) => [key, await job])))
  const results = []
  const figures = [
    { figure: 'all', title: '' },
    { figure: 'own', title: ', without GC and JIT compilation' }
  ]
  for (const { name, kind, variants, against } of chosen) {
    const [baseline, ...compared] = variants
    const { unit } = drivers[kind]
    const labelOf = async (variant) => {
      const { label, lambdaLabel } = await import(`../variants/${variant}.js`)
      return kind === 'http' ? label : lambdaLabel
    }
    for (const { figure, title } of figures) {
      const baselineInstructions = counts.get(`${kind}-${baseline}`).get(name)[figure]
      results.push({ name: `${name}${title}: ${await labelOf(baseline)}`, value: baselineInstructions, unit })
      for (const variant of compared) {
        const instructions = counts.get(`${kind}-${variant}`).get(name)[figure]
        results.push({
          name: `${name}${title}: ${await labelOf(variant)}`,
          value: instructions,
          unit,
          baseline: baselineInstructions,
          ratio: baselineInstructions / instructions
        })
      }
      if (against !== undefined) {
        const instructions = counts.get(`${kind}-${variants.at(-1)}`).get(name)[figure]
        const againstInstructions = counts.get(`${against.kind}-${against.variant}`).get(against.scenario)[figure]
        results.push({ name: `${against.name}${title}`, value: instructions, unit, baseline: againstInstructions, ratio: againstInstructions / instructions, target: against.target })
      }
    }
  }
  return results
}
