// The Step Functions engine: a run starts an execution of the saga's exported state machine instead of
// running it in this process. The client is the caller's `SFN` (the aggregated client of
// @aws-sdk/client-sfn, whose methods take a command's input), so Halo needs no SDK package of its own.
import { HALO_ERR_OPTION } from '../errors.js'
import { isFunction, validateOptions, type OptionCheck } from '../options.js'
import { executionInput, sagaOutcome, type SagaExecutionEnd } from './state-machine.js'
import type { SagaResult } from './saga.js'

/** The input of StartExecution and StartSyncExecution. */
export interface StartExecutionInput {
  stateMachineArn: string
  input: string
  name?: string
}

/** The methods of `new SFN(...)` (@aws-sdk/client-sfn) that the engine calls. */
export interface StepFunctionsClient {
  startExecution (input: StartExecutionInput, options?: { abortSignal?: AbortSignal }): Promise<{ executionArn?: string }>
  startSyncExecution (input: StartExecutionInput, options?: { abortSignal?: AbortSignal }): Promise<SagaExecutionEnd>
}

export interface StepFunctionsEngineOptions {
  /** An `SFN` client: `new SFN({ region })`. (An `SFNClient` has no such methods and is refused at register.) */
  client: StepFunctionsClient
  /** The ARN of the state machine that `app.saga.stateMachine(name, …)` was deployed as. */
  stateMachineArn: (name: string) => string
}

/** One execution to start: what `app.saga.run` and `start` take, with the correlation headers to carry. */
export interface SagaExecutionRequest {
  payloads: Record<string, unknown>
  context?: unknown
  /** The execution's name (`sagaId` of the run); default Step Functions' own. */
  name?: string
  correlation: Record<string, string>
  signal?: AbortSignal
}

const isStepFunctionsClient: OptionCheck = (value) =>
  typeof Object(value).startExecution === 'function' && typeof Object(value).startSyncExecution === 'function'
    ? undefined
    : 'must be an SFN client of @aws-sdk/client-sfn (with startExecution and startSyncExecution; an SFNClient has neither)'

export function validateStepFunctionsEngine (where: string, options: StepFunctionsEngineOptions | undefined): void {
  validateOptions(where, options, { client: isStepFunctionsClient, stateMachineArn: isFunction }, { required: ['client', 'stateMachineArn'] })
}

/** Runs and starts sagas as executions of their state machines. */
export class StepFunctionsEngine {
  readonly #client: StepFunctionsClient
  readonly #stateMachineArn: (name: string) => string

  constructor (options: StepFunctionsEngineOptions) {
    this.#client = options.client
    this.#stateMachineArn = options.stateMachineArn
  }

  /** An Express workflow, run synchronously: its results, or `SagaRollback` / `SagaError` as in-process. */
  async run (saga: string, request: SagaExecutionRequest): Promise<SagaResult> {
    const end = await this.#client.startSyncExecution(this.#start(saga, request), { abortSignal: request.signal })
    return sagaOutcome(end)
  }

  /** A Standard workflow, started: resolves to its execution ARN once Step Functions has it. */
  async start (saga: string, request: SagaExecutionRequest): Promise<string> {
    const { executionArn } = await this.#client.startExecution(this.#start(saga, request), { abortSignal: request.signal })
    return executionArn as string
  }

  #start (saga: string, { payloads, context, name, correlation }: SagaExecutionRequest): StartExecutionInput {
    const stateMachineArn = this.#stateMachineArn(saga)
    if (typeof stateMachineArn !== 'string' || stateMachineArn === '') throw new HALO_ERR_OPTION(`sagaPlugin: engine.stepFunctions.stateMachineArn("${saga}") returned no ARN`)
    const input = JSON.stringify(executionInput(payloads, correlation, context))
    return name === undefined ? { stateMachineArn, input } : { stateMachineArn, input, name }
  }
}
