// Lambda in process: each variant's handler invoked in a loop (workers/lambda-loop.js), one process per
// variant, in alternating rounds of a fixed time. The figure is invocations per second of the loop's CPU
// time: the loop never waits, so on an idle machine that is its wall-clock rate, and on a shared one it
// leaves out the time spent waiting for a core (the wall-clock rate is in the raw figures).
import { fileURLToPath } from 'node:url'
import { alternatingRounds, benchMode } from './support/rounds.js'
import { loopRates, median, pairedRatio } from './support/stats.js'
import { startWorker } from './support/worker.js'

export const lambdaLoopScript = fileURLToPath(new URL('./workers/lambda-loop.js', import.meta.url))

/** The baseline first; a variant with a target is held to it, as a ratio to the baseline. */
const variantTargets = [
  { name: 'bare' },
  { name: 'halo', target: { atLeast: 0.9 } },
  { name: 'middy' }
]

/** What is measured: the request each event carries; its route is in support/routes.js (and variants/middy.js). */
export const scenarios = [
  { name: 'GET /json', request: { method: 'GET', path: '/json' } }
]

// Many short rounds: on a shared machine, a burst of other work spoils a few rounds, which the median of
// round-by-round ratios then leaves out.
const settings = {
  full: { warmUpMs: 2000, rounds: 40, roundMs: 300 },
  quick: { warmUpMs: 500, rounds: 6, roundMs: 200 },
  smoke: { warmUpMs: 100, rounds: 1, roundMs: 200 }
}

export async function run (options) {
  const { warmUpMs, rounds, roundMs } = settings[benchMode(options)]
  const variants = await Promise.all(variantTargets.map(async ({ name, target }) => {
    const { lambdaLabel } = await import(`./variants/${name}.js`)
    return { name, label: lambdaLabel, target, loop: await startWorker(lambdaLoopScript, [name]) }
  }))
  try {
    const results = []
    for (const { name, request } of scenarios) {
      const samples = await alternatingRounds(variants, {
        rounds,
        warmUp: ({ loop }) => loop.ask({ request, durationMs: warmUpMs }),
        measure: ({ loop }) => loop.ask({ request, durationMs: roundMs })
      })
      const rates = samples.map(loopRates)
      const perCpuSecond = rates.map((rate) => rate.perCpuSecond)
      const [baseline] = perCpuSecond
      results.push({ name: `Lambda ${name}: ${variants[0].label}`, value: median(baseline), unit: 'inv/CPU-s', samples: baseline, detail: rates[0].wallClock })
      for (let index = 1; index < variants.length; index++) {
        const { label, target } = variants[index]
        results.push({
          name: `Lambda ${name}: ${label}`,
          value: median(perCpuSecond[index]),
          unit: 'inv/CPU-s',
          baseline: median(baseline),
          ratio: pairedRatio(perCpuSecond[index], baseline),
          target,
          samples: perCpuSecond[index],
          detail: rates[index].wallClock
        })
      }
      const halo = perCpuSecond[variants.findIndex((variant) => variant.name === 'halo')]
      const middy = perCpuSecond[variants.findIndex((variant) => variant.name === 'middy')]
      results.push({ name: `Lambda ${name}: Halo vs Middy + Powertools Logger`, value: median(halo), unit: 'inv/CPU-s', baseline: median(middy), ratio: pairedRatio(halo, middy) })
    }
    return results
  } finally {
    await Promise.all(variants.map(({ loop }) => loop.stop()))
  }
}
