// Sagas on AWS Step Functions. A loaded definition is exported as a state machine whose Tasks invoke the
// app's own function; each such invocation runs one state's API here, and an execution's end is read
// back as the in-process engine would have ended. The state machine's data is the saga's: the payloads,
// the correlation `__context__`, Halo's bookkeeping and the results keyed by ResultPath, in the same
// shape as `results` in-process.
import { createHash } from '../builtins.js'
import { HALO_ERR_OPTION, SagaError, SagaRollback } from '../errors.js'
import { ALL_ERRORS, analyseDefinition, type SagaDefinition, type SagaRetrier, type SagaTaskState } from './definition.js'
import { errorInfo } from './log.js'
import type { SagaExecutionData, SagaTaskInvocation } from './task-invocation.js'

/** Keys of the execution's data that are not results: a ResultPath may not name them. */
export const PAYLOADS_KEY = 'payloads'
export const CONTEXT_KEY = '__context__'
export const HALO_KEY = '__halo__'
const RESERVED_KEYS = new Set([PAYLOADS_KEY, CONTEXT_KEY, HALO_KEY])

/** AWS's recommended retry of the Lambda service's own transient errors, before any of the saga's. */
export const LAMBDA_SERVICE_RETRIER = {
  ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
  IntervalSeconds: 1,
  MaxAttempts: 3,
  BackoffRate: 2,
  JitterStrategy: 'FULL'
}

export interface StateMachineOptions {
  /** The ARN of the function whose `createLambdaHandler` serves the tasks (the app's own). */
  functionArn: string
  /** How compensations are retried on the errors their own Retry does not handle; as `LoadSagaOptions`. */
  compensationRetry?: Omit<SagaRetrier, 'ErrorEquals'>
}

/** An Amazon States Language definition, as `JSON.stringify` writes it for Step Functions. */
export type StateMachineDefinition = Record<string, unknown> & { StartAt: string, States: Record<string, Record<string, unknown>> }

/** What the Fail state's cause says: nothing compensated yet, or the failed state, its error and the compensations done. */
type RollbackSummary = { compensated: [] } | { failedState: string, error: { name: string, message: string }, compensated: string[] }

const EMPTY_ROLLBACK = JSON.stringify({ compensated: [] } satisfies RollbackSummary)

function resultKey (resultPath: string): string {
  return resultPath.slice(2)
}

/** ASL wants `States.ALL` alone and last; later entries never match in-process either. */
function normalised<T extends { ErrorEquals: string[] }> (entries: readonly T[]): T[] {
  const kept: T[] = []
  for (const entry of entries) {
    if (entry.ErrorEquals.includes(ALL_ERRORS)) {
      kept.push({ ...entry, ErrorEquals: [ALL_ERRORS] })
      break
    }
    kept.push(entry)
  }
  return kept
}

/** ASL's IntervalSeconds is a whole number from 1. */
function aslRetrier ({ ErrorEquals, IntervalSeconds, MaxAttempts, BackoffRate }: SagaRetrier): Record<string, unknown> {
  return {
    ErrorEquals,
    IntervalSeconds: Math.max(1, Math.ceil(IntervalSeconds ?? 1)),
    MaxAttempts: MaxAttempts ?? 3,
    BackoffRate: BackoffRate ?? 2
  }
}

/**
 * The saga as a deployable Amazon States Language definition: every Task an `arn:aws:states:::lambda:invoke`
 * of `functionArn` whose payload names the saga and state and carries the execution's data; the function
 * answers the new data (`OutputPath: $.Payload`), with the state's result at its ResultPath as in-process.
 * Catch keeps its error path; Retry is kept after AWS's retry of Lambda service errors; a compensation is
 * retried as in-process (its Catch naming itself becomes that retry), and the Fail state's cause is what the
 * rollback came to, so that `sagaOutcome` can tell the caller.
 */
export function toStateMachine (name: string, definition: SagaDefinition, options: StateMachineOptions): StateMachineDefinition {
  // A `${Substitution}` of SAM's DefinitionSubstitutions is as good as the ARN it stands for.
  if (typeof options?.functionArn !== 'string' || !/^(arn:|\$\{)/.test(options.functionArn)) {
    throw new HALO_ERR_OPTION(`saga "${name}" stateMachine: option "functionArn" must be a Lambda function ARN (or a \${Substitution})`)
  }
  const graph = analyseDefinition(name, definition)
  const compensationRetry: SagaRetrier = { ErrorEquals: [ALL_ERRORS], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2, ...options.compensationRetry }
  const states: Record<string, Record<string, unknown>> = {}
  for (const [stateName, state] of Object.entries(definition.States)) {
    if (state.Type === 'Fail') {
      states[stateName] = { Type: 'Fail', Comment: state.Comment, Error: state.Error ?? 'SagaRollback', CausePath: `$.${HALO_KEY}.rollback` }
      continue
    }
    const key = resultKey(state.ResultPath)
    if (RESERVED_KEYS.has(key)) throw new HALO_ERR_OPTION(`saga "${name}" stateMachine: state "${stateName}": ResultPath "${state.ResultPath}" is reserved on Step Functions`)
    const compensation = !graph.forward.includes(stateName)
    const retry = normalised(state.Retry ?? [])
    if (compensation && !retry.some(({ ErrorEquals }) => ErrorEquals.includes(ALL_ERRORS))) retry.push(compensationRetry)
    const catchers = normalised((state.Catch ?? []).filter((catcher) => catcher.Next !== stateName))
    states[stateName] = {
      Type: 'Task',
      Comment: state.Comment,
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        FunctionName: options.functionArn,
        Payload: {
          [HALO_KEY]: { saga: name, state: stateName, 'executionId.$': '$$.Execution.Id', 'retryCount.$': '$$.State.RetryCount' },
          [`${CONTEXT_KEY}.$`]: `$.${CONTEXT_KEY}`,
          'input.$': '$'
        }
      },
      OutputPath: '$.Payload',
      Retry: [LAMBDA_SERVICE_RETRIER, ...retry.map(aslRetrier)],
      ...(catchers.length === 0
        ? {}
        : { Catch: catchers.map(({ ErrorEquals, Next, ResultPath }) => ({ ErrorEquals, Next, ResultPath: ResultPath ?? `$.${HALO_KEY}.error` })) }),
      ...(state.End === true ? { End: true } : { Next: state.Next })
    }
  }
  return JSON.parse(JSON.stringify({ Comment: definition.Comment, StartAt: definition.StartAt, TimeoutSeconds: definition.TimeoutSeconds, States: states }))
}

/** The data an execution of the saga starts with. `context` (the run's) must survive JSON. */
export function executionInput (payloads: Record<string, unknown>, correlation: Record<string, string>, context: unknown): SagaExecutionData {
  return { payloads, __context__: correlation, __halo__: { context, rollback: EMPTY_ROLLBACK } }
}

/** The results so far: the execution's data less Halo's keys. */
export function resultsOf (data: Record<string, unknown>): Record<string, unknown> {
  const results: Record<string, unknown> = {}
  for (const key in data) if (!RESERVED_KEYS.has(key)) results[key] = data[key]
  return results
}

/** `ctx.idempotencyKey` of a state in an execution: the same on every attempt, as in-process. */
export function taskIdempotencyKey (executionId: string, state: string): string {
  return createHash('sha256').update(`${executionId}\n${state}`).digest('base64url')
}

/** A caught error as ASL's Catch writes it. Lambda's Cause is its error answer as JSON, whose message is the cause; a service's Cause is plain text. */
function caughtError ({ Error: name, Cause: cause }: { Error: string, Cause: string }): { name: string, message: string } {
  try {
    const { errorMessage } = JSON.parse(cause) as { errorMessage?: unknown }
    if (typeof errorMessage === 'string') return { name, message: errorMessage }
  } catch {}
  return { name, message: cause }
}

/** Which of an error's name and code the state's Retry and Catch name: Step Functions matches one name only. */
function errorNameFor (task: SagaTaskState, error: unknown): string {
  const { name, code } = errorInfo(error)
  const named = [...task.Retry ?? [], ...task.Catch ?? []].flatMap(({ ErrorEquals }) => ErrorEquals)
  return code !== undefined && !named.includes(name) && named.includes(code) ? code : name
}

export interface SagaTaskStep {
  /** The state's Task definition. */
  task: SagaTaskState
  /** Whether it is a compensation. */
  compensation: boolean
  /** Runs the API with the results so far; returns its result. */
  run (results: Record<string, unknown>): Promise<unknown>
}

/**
 * Runs one Task invocation: the data in, the API run by `step`, the new data out. A failure is rethrown
 * as an Error named as the state's Retry and Catch know it. A compensation also records, for the Fail
 * state's cause, what the rollback has come to.
 */
export async function runSagaTask (name: string, definition: SagaDefinition, invocation: SagaTaskInvocation, step: SagaTaskStep): Promise<SagaExecutionData> {
  const { state } = invocation.__halo__
  const data = invocation.input
  const results = resultsOf(data)
  let result: unknown
  try {
    result = await step.run(results)
  } catch (error) {
    throw Object.assign(new Error(errorInfo(error).message), { name: errorNameFor(step.task, error) })
  }
  const next: SagaExecutionData = { ...data, [resultKey(step.task.ResultPath)]: result ?? null }
  if (step.compensation) next.__halo__ = { ...data.__halo__, rollback: JSON.stringify(rollbackSummary(name, definition, data, state)) }
  return next
}

/** The state that failed (the first forward state without a result), its error, and the compensations done. */
function rollbackSummary (name: string, definition: SagaDefinition, data: SagaExecutionData, compensating: string): RollbackSummary {
  const graph = analyseDefinition(name, definition)
  const done = (state: string): boolean => Object.hasOwn(data, resultKey((definition.States[state] as SagaTaskState).ResultPath))
  const failedState = graph.forward.find((state) => !done(state)) as string
  // The chain entered is the one whose compensations before this one are all done.
  const entered = (definition.States[failedState] as SagaTaskState).Catch?.find(({ Next }) => {
    const chain = graph.chain(Next)
    const at = chain.indexOf(compensating)
    return at >= 0 && chain.slice(0, at).every(done)
  })
  const caught = entered?.ResultPath === undefined ? data.__halo__.error : data[resultKey(entered.ResultPath)]
  const error = caughtError(caught as { Error: string, Cause: string })
  const chain = graph.chain(entered?.Next)
  return { failedState, error, compensated: chain.slice(0, chain.indexOf(compensating) + 1) }
}

/** What an execution came to, as Step Functions reports it (StartSyncExecution's answer). */
export interface SagaExecutionEnd {
  executionArn?: string
  status?: string
  output?: string
  error?: string
  cause?: string
}

/**
 * Reads an execution's end as the in-process engine ends: the results, else `SagaRollback` when it reached
 * the Fail state, else `SagaError` (a compensation failed past its retries, the execution timed out).
 */
export function sagaOutcome (end: SagaExecutionEnd): { sagaId: string, results: Record<string, unknown> } {
  const sagaId = end.executionArn ?? ''
  // Step Functions sets the output of every execution that succeeds, and the status of every one that ended.
  if (end.status === 'SUCCEEDED') return { sagaId, results: resultsOf(JSON.parse(end.output as string)) }
  const cause = Object.assign(new Error(end.cause ?? `execution ${String(end.status)}`), { name: end.error ?? 'Error' })
  // A cause that is no rollback summary (a Task's uncaught error, a timeout) may be any text.
  let summary: Partial<Extract<RollbackSummary, { failedState: string }>> = {}
  try {
    summary = Object(JSON.parse(end.cause ?? ''))
  } catch {}
  if (typeof summary.failedState === 'string') {
    const { error, compensated } = summary as Extract<RollbackSummary, { failedState: string }>
    const failure = Object.assign(new Error(error.message), { name: error.name })
    throw new SagaRollback(sagaId, summary.failedState, failure, compensated)
  }
  throw new SagaError(sagaId, 'unknown', cause, {}, [])
}
