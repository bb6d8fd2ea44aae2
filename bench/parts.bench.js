// In-process figures of single parts: what a cached parameter read costs beyond a Map lookup, and what the
// saga engine (memory log, one record per transition) costs per step against calling the same async
// functions one after the other.
import { HaloParams, FileSource, loadSaga } from 'fastify-halo'
import { benchMode } from './support/rounds.js'

const settings = {
  full: { reads: 2_000_000, sagas: 3_000 },
  quick: { reads: 500_000, sagas: 800 },
  smoke: { reads: 1_000, sagas: 5 }
}

const STEPS = 10

function nanosecondsPerCall (calls, fn) {
  const started = process.hrtime.bigint()
  fn(calls)
  return Number(process.hrtime.bigint() - started) / calls
}

async function paramReads (reads) {
  const params = new HaloParams({ source: new FileSource({ '/bench/greeting': 'hello' }) })
  await params.get('/bench/greeting')
  const map = new Map([['/bench/greeting', 'hello']])
  let sink = 0
  const mapRead = (calls) => { for (let i = 0; i < calls; i++) sink += map.get('/bench/greeting').length }
  const cachedRead = (calls) => { for (let i = 0; i < calls; i++) params.get('/bench/greeting').then((value) => { sink += value.length }) }
  mapRead(reads)
  cachedRead(reads)
  await new Promise((resolve) => setImmediate(resolve))
  const mapNs = nanosecondsPerCall(reads, mapRead)
  const cachedNs = nanosecondsPerCall(reads, cachedRead)
  await new Promise((resolve) => setImmediate(resolve))
  return { map: mapNs, cached: cachedNs, sink }
}

function chainDefinition () {
  const States = {}
  for (let step = 1; step <= STEPS; step++) {
    States[`Step${step}`] = { Type: 'Task', Resource: `Api${step}`, ResultPath: `$.Step${step}Result`, ...(step === STEPS ? { End: true } : { Next: `Step${step + 1}` }) }
  }
  return { StartAt: 'Step1', States }
}

async function sagaSteps (sagas) {
  const apis = {}
  for (let step = 1; step <= STEPS; step++) apis[`Step${step}`] = async (payload) => payload.value + step
  const payloads = Object.fromEntries(Object.keys(apis).map((state) => [state, { value: 1 }]))
  const saga = loadSaga('bench', chainDefinition(), { apis })
  const direct = async () => {
    const results = {}
    for (const [state, api] of Object.entries(apis)) results[`${state}Result`] = await api(payloads[state])
    return results
  }
  const timed = async (runOnce) => {
    const started = process.hrtime.bigint()
    for (let i = 0; i < sagas; i++) await runOnce()
    return (sagas * STEPS) / (Number(process.hrtime.bigint() - started) / 1e9)
  }
  await timed(() => saga.run({ payloads }))
  await timed(direct)
  return { engine: await timed(() => saga.run({ payloads })), direct: await timed(direct) }
}

export async function run (options) {
  const { reads, sagas } = settings[benchMode(options)]
  const read = await paramReads(reads)
  const steps = await sagaSteps(sagas)
  return [
    { name: 'Params: Map lookup', value: read.map, unit: 'ns/read' },
    { name: 'Params: cached fastify.params.get', value: read.cached, unit: 'ns/read', baseline: read.map, ratio: read.cached / read.map },
    { name: 'Params: cached get beyond a Map lookup', value: Math.max(0, read.cached - read.map), unit: 'ns/read', target: { atMost: 1000 } },
    { name: 'Saga: the same async functions called directly', value: steps.direct, unit: 'steps/s' },
    { name: 'Saga: engine with the memory log', value: steps.engine, unit: 'steps/s', baseline: steps.direct, ratio: steps.engine / steps.direct }
  ]
}
