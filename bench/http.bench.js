// HTTP: autocannon against the same routes served by bare Fastify and by Fastify with every default Halo
// part, each server in a process of its own while autocannon runs here, in alternating rounds. Two figures
// per round: requests per second, and requests per second of the server's CPU time, which machine load
// (other processes) disturbs less.
import autocannon from 'autocannon'
import { fileURLToPath } from 'node:url'
import { separateCores } from './support/cpu-affinity.js'
import { alternatingRounds, benchMode } from './support/rounds.js'
import { median, pairedRatio } from './support/stats.js'
import { startWorker } from './support/worker.js'

export const httpServerScript = fileURLToPath(new URL('./workers/http-server.js', import.meta.url))

const getJson = { method: 'GET', path: '/json' }
const postOrder = { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"sku":"HOTEL-1","quantity":1}' }

/**
 * What is measured: one request each (sent on every connection; its route is in support/routes.js), served
 * by a baseline and a compared variant (bench/variants/), the compared one held to the target as a ratio.
 * The first two weigh all of Halo against bare Fastify; the last two the cost of one part, as Halo with the
 * part against Halo without it.
 */
export const scenarios = [
  { name: 'GET /json', request: getJson, variants: ['bare', 'halo'], target: { atLeast: 0.9 } },
  {
    // Every request repeats one idempotency key: Halo replays the first answer from its memory store, bare
    // Fastify runs the (trivial) handler each time. Issue 15's target: the replay nearly as cheap.
    name: 'POST /orders, one idempotency key (replay)',
    request: { ...postOrder, headers: { ...postOrder.headers, 'idempotency-key': 'bench-order-1' } },
    variants: ['bare', 'halo'],
    target: { atLeast: 0.85 }
  },
  // The part's cost is at most 3% of the figure: a ratio of at least 1 / 1.03.
  { name: 'GET /json, timeout part', request: getJson, variants: ['halo-timeout-off', 'halo'], target: { atLeast: 0.971 } },
  { name: 'POST /orders without a key, idempotency part', request: postOrder, variants: ['halo-idempotency-off', 'halo'], target: { atLeast: 0.98 } }
]

// Many short rounds: on a shared machine, a burst of other work spoils a few rounds, which the median of
// round-by-round ratios then leaves out.
const settings = {
  full: { warmUpSeconds: 3, rounds: 15, roundSeconds: 1 },
  quick: { warmUpSeconds: 0.5, rounds: 3, roundSeconds: 0.4 },
  smoke: { warmUpSeconds: 0.2, rounds: 1, roundSeconds: 0.2 }
}

/** Sends `request` to `port` for `seconds` on 10 connections, one request in flight each; says how many were answered. */
export async function load (port, request, seconds) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${request.path}`,
    method: request.method,
    headers: request.headers,
    body: request.body,
    connections: 10,
    pipelining: 1,
    duration: seconds
  })
  // A broken route answers errors fast: only a clean run is a figure.
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${request.method} ${request.path}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`)
  }
  return { requests: result.requests.total, seconds: result.duration }
}

async function round (server, request, seconds) {
  const before = await server.ask({})
  const { requests, seconds: elapsed } = await load(server.ready.port, request, seconds)
  const after = await server.ask({})
  return { perSecond: requests / elapsed, perCpuSecond: requests / ((after.cpuMs - before.cpuMs) / 1000) }
}

export async function run (options) {
  const { warmUpSeconds, rounds, roundSeconds } = settings[benchMode(options)]
  const names = [...new Set(scenarios.flatMap((scenario) => scenario.variants))]
  const servers = new Map(await Promise.all(names.map(async (name) => {
    const { label } = await import(`./variants/${name}.js`)
    return [name, { label, server: await startWorker(httpServerScript, [name]) }]
  })))
  const pinning = separateCores([...servers.values()].map(({ server }) => server.pid))
  try {
    const results = []
    for (const { name, request, variants: pair, target } of scenarios) {
      const variants = pair.map((variantName) => servers.get(variantName))
      const [baseline, compared] = await alternatingRounds(variants, {
        rounds,
        warmUp: ({ server }) => load(server.ready.port, request, warmUpSeconds),
        measure: ({ server }) => round(server, request, roundSeconds)
      })
      const detail = pinning?.description
      const figures = [
        { figure: 'perSecond', title: `HTTP ${name}`, unit: 'req/s', target },
        { figure: 'perCpuSecond', title: `HTTP ${name}, server CPU`, unit: 'req/CPU-s' }
      ]
      for (const { figure, title, unit, target } of figures) {
        const baselineSamples = baseline.map((sample) => sample[figure])
        const comparedSamples = compared.map((sample) => sample[figure])
        results.push(
          { name: `${title}: ${variants[0].label}`, value: median(baselineSamples), unit, samples: baselineSamples, detail },
          {
            name: `${title}: ${variants[1].label}`,
            value: median(comparedSamples),
            unit,
            baseline: median(baselineSamples),
            ratio: pairedRatio(comparedSamples, baselineSamples),
            target,
            samples: comparedSamples,
            detail
          }
        )
      }
    }
    return results
  } finally {
    pinning?.release()
    await Promise.all([...servers.values()].map(({ server }) => server.stop()))
  }
}
