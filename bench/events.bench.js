// Events in process: batches of 100 SQS records through Halo's createLambdaHandler against Middy +
// Powertools Batch doing the same job, one process per variant, in alternating rounds. The figure is
// records per CPU-second. Halo's target: a record costs no more than one HTTP invocation through
// createLambdaHandler, measured in the same run by lambda.bench.js's loop (GET /json).
import { alternatingRounds, benchMode } from './support/rounds.js'
import { loopRates, median, pairedRatio } from './support/stats.js'
import { startWorker } from './support/worker.js'
import { lambdaLoopScript } from './lambda.bench.js'
import { fileURLToPath } from 'node:url'

export const eventsLoopScript = fileURLToPath(new URL('./workers/events-loop.js', import.meta.url))
export const BATCH_SIZE = 100

const settings = {
  full: { warmUpMs: 2000, rounds: 30, roundMs: 400 },
  quick: { warmUpMs: 500, rounds: 5, roundMs: 300 },
  smoke: { warmUpMs: 100, rounds: 1, roundMs: 200 }
}

export async function run (options) {
  const { warmUpMs, rounds, roundMs } = settings[benchMode(options)]
  const variants = await Promise.all([
    { name: 'halo-events', script: eventsLoopScript, message: { batchSize: BATCH_SIZE } },
    { name: 'middy-batch', script: eventsLoopScript, message: { batchSize: BATCH_SIZE } },
    { name: 'halo', script: lambdaLoopScript, message: { request: { method: 'GET', path: '/json' } } }
  ].map(async (variant) => {
    const { lambdaLabel } = await import(`./variants/${variant.name}.js`)
    return { ...variant, label: lambdaLabel, loop: await startWorker(variant.script, [variant.name]) }
  }))
  try {
    const samples = await alternatingRounds(variants, {
      rounds,
      warmUp: ({ loop, message }) => loop.ask({ ...message, durationMs: warmUpMs }),
      measure: ({ loop, message }) => loop.ask({ ...message, durationMs: roundMs })
    })
    const [halo, middy, http] = samples.map((sample) => loopRates(sample).perCpuSecond)
    const [haloRates, middyRates] = samples.map(loopRates)
    return [
      { name: `SQS batch of ${BATCH_SIZE}: ${variants[1].label}`, value: median(middy), unit: 'records/CPU-s', samples: middy, detail: middyRates.wallClock.replace('inv/s', 'records/s') },
      { name: `SQS batch of ${BATCH_SIZE}: ${variants[0].label}`, value: median(halo), unit: 'records/CPU-s', baseline: median(middy), ratio: pairedRatio(halo, middy), samples: halo, detail: haloRates.wallClock.replace('inv/s', 'records/s') },
      { name: 'A Halo record against one Halo HTTP invocation (GET /json)', value: median(halo), unit: 'records/CPU-s', baseline: median(http), ratio: pairedRatio(halo, http), target: { atLeast: 1 } }
    ]
  } finally {
    await Promise.all(variants.map(({ loop }) => loop.stop()))
  }
}
