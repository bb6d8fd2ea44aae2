// One variant's SQS handler invoked in a loop with batches of SQS records, one invocation at a time as
// Lambda does (each on a turn of the event loop of its own), each record with a new message id (as a queue
// delivers new messages, so no idempotency store replays them). Argument: the variant's name. Every tenth
// record fails on purpose, so that the partial batch answer is part of the job; the loop checks that answer.
import { randomUUID } from 'node:crypto'
import { lambdaContext } from '../support/lambda-events.js'
import { cpuMilliseconds, runWorker } from '../support/worker.js'

const QUEUE_ARN = 'arn:aws:sqs:us-east-1:123456789012:orders'
/** Lambda's longest timeout: a batch under valgrind (`--callgrind`) runs far slower than a usual one would let it. */
const TIMEOUT_MS = 900_000

/** A record of the SQS event, as the event source mapping sends it, carrying an upstream correlation id. */
function sqsRecord (n) {
  return {
    messageId: randomUUID(),
    receiptHandle: 'handle',
    body: JSON.stringify({ n, item: 'ticket', quantity: 2 }),
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: '1523232000000', SenderId: '123456789012', ApproximateFirstReceiveTimestamp: '1523232000001' },
    messageAttributes: { 'x-correlation-id': { stringValue: `upstream-${n}`, dataType: 'String' } },
    md5OfBody: '7b270e59b47ff90a553787216d55d91d',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'us-east-1'
  }
}

export function sqsBatch (size) {
  return { Records: Array.from({ length: size }, (_, n) => sqsRecord(n)) }
}

runWorker(async ([variantName]) => {
  const variant = await import(`../variants/${variantName}.js`)
  const handler = await variant.createSqsHandler()
  return {
    ready: {},
    /**
     * Invokes batches of `batchSize` records for `durationMs`, or `batches` times; says how many records went
     * through, in how much wall and CPU time. With `collectGarbage` (under --expose-gc), only runs a full
     * garbage collection.
     */
    async handle ({ collectGarbage = false, batchSize, durationMs, batches }) {
      if (collectGarbage) {
        globalThis.gc()
        return {}
      }
      const started = performance.now()
      const cpuBefore = cpuMilliseconds()
      const end = started + durationMs
      let records = 0
      while (batches === undefined ? performance.now() < end : records < batches * batchSize) {
        const answer = await handler(sqsBatch(batchSize), lambdaContext(TIMEOUT_MS))
        const expected = Math.ceil((batchSize - 3) / 10)
        if (answer.batchItemFailures.length !== expected) throw new Error(`${batchItemFailuresText(answer)}: expected ${expected} failures`)
        records += batchSize
        // Lambda's runtime fetches the next event over HTTP: each invocation starts on a turn of the event loop
        // of its own, after the timers and immediates the last one left.
        await new Promise(setImmediate)
      }
      return { invocations: records, elapsedMs: performance.now() - started, cpuMs: cpuMilliseconds() - cpuBefore }
    }
  }
})

function batchItemFailuresText (answer) {
  return `answered ${JSON.stringify(answer).slice(0, 200)}`
}
