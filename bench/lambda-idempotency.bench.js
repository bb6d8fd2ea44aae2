// Lambda in process, idempotent POST on DynamoDB: Halo's createLambdaHandler with its DynamoDB store against
// Middy with Powertools Logger and Idempotency (DynamoDB persistence layer), both on one table of one private
// DynamoDB Local (dynalite where Java is missing; support/dynamodb-local.js). As in lambda.bench.js, each
// variant's handler runs in a loop in a process of its own (workers/lambda-loop.js), in alternating rounds,
// and the figure is invocations per second of the loop's CPU time: the time spent waiting for DynamoDB is
// not in it, the work of calling it is. Next to it, the DynamoDB calls each invocation made.
import { DynamoDBIdempotencyStore } from 'fastify-halo'
import { lambdaLoopScript } from './lambda.bench.js'
import { startLocalDynamoDB } from '../support/dynamodb-local.js'
import { alternatingRounds, benchMode } from './support/rounds.js'
import { loopRates, median, pairedRatio } from './support/stats.js'
import { startWorker } from './support/worker.js'

/** The baseline (the peer) first, then Halo. Both are given `{ endpoint, table }`. */
const variantNames = ['middy-idempotency', 'halo-dynamodb']
const PEER = 0
const HALO = 1

const TABLE = 'halo-bench-idempotency'
const KEY_HEADER = 'idempotency-key'

const order = {
  method: 'POST',
  path: '/orders',
  headers: { 'content-type': 'application/json' },
  body: '{"sku":"HOTEL-1","quantity":1}'
}

/**
 * What is measured, on POST /orders (support/routes.js; variants/middy-idempotency.js), answered 201:
 * - replay: every invocation repeats one key and body, so after the first each one replays the stored answer;
 * - new key: every invocation has a key of its own, so each one claims a record and stores its answer.
 */
export const scenarios = [
  { name: 'one idempotency key (replay)', request: { ...order, headers: { ...order.headers, [KEY_HEADER]: 'bench-order-1' } }, replays: true },
  { name: 'a new idempotency key each time', request: order, freshKeyHeader: KEY_HEADER, replays: false }
]

// Longer warm-ups than lambda.bench.js: the CPU time of an invocation keeps falling for seconds while the JIT
// compiles the AWS SDK's call path (its compiler threads count in the process's CPU time), and an invocation
// waits for DynamoDB, so a second holds fewer of them. Full mode takes about 50 s, DynamoDB Local's start
// included.
const settings = {
  full: { warmUpMs: 4000, rounds: 16, roundMs: 400 },
  quick: { warmUpMs: 500, rounds: 4, roundMs: 200 },
  smoke: { warmUpMs: 50, rounds: 1, roundMs: 100 }
}

const sum = (values) => values.reduce((total, value) => total + value, 0)

/** A replay scenario must measure replays only, the other none: else the figures are of something else. */
function checkReplays (scenario, label, rounds) {
  const invocations = sum(rounds.map((round) => round.invocations))
  const replayed = sum(rounds.map((round) => round.replayed))
  if (replayed !== (scenario.replays ? invocations : 0)) {
    throw new Error(`${label}, ${scenario.name}: ${replayed} of ${invocations} invocations were idempotent replays`)
  }
}

export async function run (options) {
  const { warmUpMs, rounds, roundMs } = settings[benchMode(options)]
  // The AWS SDK warns once per process that its releases from 2027 need Node 22: noise in the progress output
  // of this process and of the workers (which inherit the environment).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const dynamodb = await startLocalDynamoDB()
  const engine = dynamodb.engine === 'dynalite' ? 'dynalite' : 'DynamoDB Local'
  let variants = []
  try {
    // One table for both: Halo's store creates it (partition key `id`, TTL on `expiration`).
    await new DynamoDBIdempotencyStore({ table: TABLE, client: dynamodb.client }).ensureTable()
    const handlerOptions = JSON.stringify({ endpoint: dynamodb.endpoint, table: TABLE })
    variants = await Promise.all(variantNames.map(async (name) => {
      const { lambdaLabel } = await import(`./variants/${name}.js`)
      return { label: lambdaLabel, loop: await startWorker(lambdaLoopScript, [name, handlerOptions]) }
    }))
    const results = []
    for (const scenario of scenarios) {
      const message = (durationMs) => ({ request: scenario.request, durationMs, status: 201, freshKeyHeader: scenario.freshKeyHeader })
      const samples = await alternatingRounds(variants, {
        rounds,
        warmUp: ({ loop }) => loop.ask(message(warmUpMs)),
        measure: ({ loop }) => loop.ask(message(roundMs))
      })
      samples.forEach((variantRounds, index) => checkReplays(scenario, variants[index].label, variantRounds))
      const title = `Lambda POST /orders on ${engine}, ${scenario.name}`
      const rates = samples.map(loopRates)
      const perCpuSecond = rates.map((rate) => rate.perCpuSecond)
      const callsPerInvocation = samples.map((variantRounds) => ({
        overall: sum(variantRounds.map((round) => round.dynamoDBCalls)) / sum(variantRounds.map((round) => round.invocations)),
        rounds: variantRounds.map(({ dynamoDBCalls, invocations }) => dynamoDBCalls / invocations)
      }))
      results.push(
        { name: `${title}: ${variants[PEER].label}`, value: median(perCpuSecond[PEER]), unit: 'inv/CPU-s', samples: perCpuSecond[PEER], detail: rates[PEER].wallClock },
        {
          name: `${title}: ${variants[HALO].label}`,
          value: median(perCpuSecond[HALO]),
          unit: 'inv/CPU-s',
          baseline: median(perCpuSecond[PEER]),
          ratio: pairedRatio(perCpuSecond[HALO], perCpuSecond[PEER]),
          samples: perCpuSecond[HALO],
          detail: rates[HALO].wallClock
        },
        { name: `${title}: DynamoDB calls, ${variants[PEER].label}`, value: callsPerInvocation[PEER].overall, unit: 'calls/inv', samples: callsPerInvocation[PEER].rounds },
        {
          name: `${title}: DynamoDB calls, ${variants[HALO].label}`,
          value: callsPerInvocation[HALO].overall,
          unit: 'calls/inv',
          baseline: callsPerInvocation[PEER].overall,
          ratio: callsPerInvocation[HALO].overall / callsPerInvocation[PEER].overall,
          samples: callsPerInvocation[HALO].rounds
        }
      )
    }
    return results
  } finally {
    await Promise.all(variants.map(({ loop }) => loop.stop()))
    await dynamodb.stop()
  }
}
