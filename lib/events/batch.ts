// Per-record outcomes of a batch (DESIGN.md section 10). Records run in lanes: a lane runs its records one
// at a time, in order, and after a failure reports the rest of it failed without running them. A record
// of an SQS standard queue (or of a topic, bucket or bus) is a lane of its own, an SQS FIFO message group
// is one lane, a Kinesis or DynamoDB shard's batch is one lane; lanes run side by side up to the
// concurrency. Every record shares the invocation's deadline: one that cannot start in time is failed
// unrun, so that the records already done are not redelivered with it.
import { HALO_ERR_RECORD_FAILED } from '../errors.js'
import { failureIdentifier, messageGroup, type RecordBatch } from './records.js'

/** Why a record was reported failed without running. */
export type SkipReason = 'deadline' | 'earlier failure'

export interface BatchRunner {
  /** Lanes running at once. */
  readonly concurrency: number
  /** Runs one record through its route; true when it succeeded. Never rejects. */
  run (record: unknown): Promise<boolean>
  /** Whether a record may still start: enough of the invocation's time is left. */
  mayStart (): boolean
  /** Told of each record failed without running. */
  skipped (record: unknown, reason: SkipReason): void
}

/** The partial batch answer of SQS, Kinesis and DynamoDB Streams event source mappings. */
export interface EventBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>
}

function lanes (batch: RecordBatch): number[][] {
  const { source, records } = batch
  if (source === 'kinesis' || source === 'dynamodb') return [records.map((_record, index) => index)]
  if (!batch.fifo) return records.map((_record, index) => [index])
  const groups = new Map<string, number[]>()
  records.forEach((record, index) => {
    const group = messageGroup(record)
    const lane = groups.get(group)
    if (lane === undefined) groups.set(group, [index])
    else lane.push(index)
  })
  return [...groups.values()]
}

/** Runs a batch's records; returns whether each failed, by position. */
export async function runBatch (batch: RecordBatch, runner: BatchRunner): Promise<boolean[]> {
  const { records } = batch
  const failed: boolean[] = new Array(records.length).fill(false)
  const pending = lanes(batch)
  let next = 0

  async function runLane (lane: number[]): Promise<void> {
    let skipReason: SkipReason | undefined
    for (const index of lane) {
      const record = records[index]
      if (skipReason === undefined && !runner.mayStart()) skipReason = 'deadline'
      if (skipReason !== undefined) {
        failed[index] = true
        runner.skipped(record, skipReason)
        continue
      }
      if (!await runner.run(record)) {
        failed[index] = true
        skipReason = 'earlier failure'
      }
    }
  }

  async function worker (): Promise<void> {
    while (next < pending.length) await runLane(pending[next++] as number[])
  }

  const workers: Array<Promise<void>> = []
  for (let count = Math.min(runner.concurrency, pending.length); count > 0; count--) workers.push(worker())
  await Promise.all(workers)
  return failed
}

/**
 * The handler's answer: the failed records of a queue or stream by identifier (a stream resumes at the
 * first); for topics, buses and buckets, invoked asynchronously, a failure is thrown so that Lambda's
 * retries and on-failure destination apply.
 */
export function batchOutcome (batch: RecordBatch, failed: readonly boolean[]): EventBatchResponse | undefined {
  const { source, records } = batch
  if (source === 'sqs' || source === 'kinesis' || source === 'dynamodb') {
    const batchItemFailures: EventBatchResponse['batchItemFailures'] = []
    failed.forEach((isFailed, index) => {
      if (isFailed) batchItemFailures.push({ itemIdentifier: failureIdentifier(source, records[index]) })
    })
    return { batchItemFailures }
  }
  const failures = failed.filter(Boolean).length
  if (failures > 0) throw new HALO_ERR_RECORD_FAILED(failures, records.length, source)
  return undefined
}
