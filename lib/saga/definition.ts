// The saga definition format (the original Halo's subset of Amazon States Language) and its load-time
// checks. A definition is two kinds of path: the forward path, from StartAt through `Next` to `End`, and
// compensation chains, entered through a forward state's `Catch` and leading on through `Next` to a
// `Fail`. Everything the executor needs is worked out here once, so running a saga walks plain arrays.
// Each TypeBox builder by name, not the `Type` object, and `Errors` rather than the compiler: a bundle then
// carries the few builders used, not all of TypeBox, and every cold start parses less.
import * as Type from '@sinclair/typebox'
import type { Static, TSchema } from '@sinclair/typebox'
import { Errors } from '@sinclair/typebox/errors'
import { HALO_ERR_SAGA_DEFINITION } from '../errors.js'

/** The `ErrorEquals` name that matches every error. */
export const ALL_ERRORS = 'States.ALL'

const StateName = Type.String({ minLength: 1 })
/** One level below the root: `$.BookHotelResult` stores a result as `results.BookHotelResult`. */
const ResultPath = Type.String({ pattern: '^\\$\\.[A-Za-z_][A-Za-z0-9_-]*$' })
const ErrorEquals = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })

export const SagaCatcherSchema = Type.Object({
  ErrorEquals,
  Next: StateName,
  /** Where the error (`{ Error, Cause }`) is stored for the compensations to read. */
  ResultPath: Type.Optional(ResultPath)
}, { additionalProperties: false })

/**
 * As in Amazon States Language: `MaxAttempts` counts the retries after the first attempt (0: never
 * retry), and the n-th retry waits `IntervalSeconds * BackoffRate ** (n - 1)`.
 */
export const SagaRetrierSchema = Type.Object({
  ErrorEquals,
  IntervalSeconds: Type.Optional(Type.Number({ minimum: 0, default: 1 })),
  MaxAttempts: Type.Optional(Type.Integer({ minimum: 0, default: 3 })),
  BackoffRate: Type.Optional(Type.Number({ minimum: 1, default: 2 }))
}, { additionalProperties: false })

export const SagaTaskStateSchema = Type.Object({
  Type: Type.Literal('Task'),
  Comment: Type.Optional(Type.String()),
  /** Names the partner API; per-Resource schemas check its payloads and results. */
  Resource: Type.String({ minLength: 1 }),
  ResultPath,
  Next: Type.Optional(StateName),
  End: Type.Optional(Type.Literal(true)),
  Catch: Type.Optional(Type.Array(SagaCatcherSchema)),
  Retry: Type.Optional(Type.Array(SagaRetrierSchema))
}, { additionalProperties: false })

export const SagaFailStateSchema = Type.Object({
  Type: Type.Literal('Fail'),
  Comment: Type.Optional(Type.String()),
  Cause: Type.Optional(Type.String()),
  Error: Type.Optional(Type.String())
}, { additionalProperties: false })

/** A saga definition: a Task needs exactly one of `Next` and `End` (checked by `loadSaga`). */
export const SagaDefinitionSchema = Type.Object({
  Comment: Type.Optional(Type.String()),
  StartAt: StateName,
  TimeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  States: Type.Record(Type.String({ minLength: 1 }), Type.Union([SagaTaskStateSchema, SagaFailStateSchema]), { minProperties: 1 })
}, { additionalProperties: false })

export type SagaCatcher = Static<typeof SagaCatcherSchema>
export type SagaRetrier = Static<typeof SagaRetrierSchema>
export type SagaTaskState = Static<typeof SagaTaskStateSchema>
export type SagaFailState = Static<typeof SagaFailStateSchema>
export type SagaDefinition = Static<typeof SagaDefinitionSchema>

/** The load-time analysis of a definition. */
export interface SagaGraph {
  /** The forward states in the order they run. */
  readonly forward: readonly string[]
  /** Every Task state, forward and compensation, by name. */
  readonly tasks: ReadonlyMap<string, SagaTaskState>
  /** The compensation Task states. */
  readonly compensations: ReadonlySet<string>
  /**
   * Per forward state, where the compensations start that undo a run which reached it whatever the error:
   * its `States.ALL` Catch, else the one of the nearest earlier forward state that has one.
   */
  readonly recoveryEntries: ReadonlyMap<string, string | undefined>
  /**
   * The compensation Task states, in order, that a Catch entering at `entry` runs. Built when asked: chains
   * share their tails, and listing every chain at load would be quadratic in the states.
   */
  chain (entry: string | undefined): string[]
}

/** Names that a result key must not take: `results` is a plain object. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

// The definition as a whole is checked with the States left open, then each state against the schema
// of its own Type: union errors would not say which state is wrong.
let schemas: { topLevel: TSchema, state: Map<unknown, TSchema> } | undefined
function definitionSchemas (): NonNullable<typeof schemas> {
  return (schemas ??= {
    topLevel: Type.Object({
      ...SagaDefinitionSchema.properties,
      States: Type.Record(Type.String({ minLength: 1 }), Type.Unknown(), { minProperties: 1 })
    }, { additionalProperties: false }),
    state: new Map<unknown, TSchema>([
      ['Task', SagaTaskStateSchema],
      ['Fail', SagaFailStateSchema]
    ])
  })
}

function refuse (sagaName: string, problem: string): never {
  throw new HALO_ERR_SAGA_DEFINITION(`saga "${sagaName}": ${problem}`)
}

/** The first problem a schema finds in a value, as `/path message`, or undefined. */
export function firstSchemaError (schema: TSchema, value: unknown): string | undefined {
  const error = Errors(schema, value).First()
  return error === undefined ? undefined : `${error.path === '' ? '/' : error.path} ${error.message}`
}

function checkShape (sagaName: string, definition: unknown): SagaDefinition {
  const { topLevel, state: stateSchemas } = definitionSchemas()
  const topLevelError = firstSchemaError(topLevel, definition)
  if (topLevelError !== undefined) refuse(sagaName, topLevelError)
  for (const [stateName, state] of Object.entries((definition as { States: Record<string, unknown> }).States)) {
    const type = (state as { Type?: unknown } | null)?.Type
    const schema = stateSchemas.get(type)
    if (schema === undefined) refuse(sagaName, `state "${stateName}": unknown Type ${JSON.stringify(type)} (known: Task, Fail)`)
    const stateError = firstSchemaError(schema, state)
    if (stateError !== undefined) refuse(sagaName, `state "${stateName}": ${stateError}`)
    const task = state as SagaTaskState
    if (task.Type === 'Task' && (task.Next === undefined) === (task.End === undefined)) {
      refuse(sagaName, `state "${stateName}": a Task needs exactly one of Next and End`)
    }
    if (task.Type !== 'Task') continue
    for (const resultPath of [task.ResultPath, ...(task.Catch ?? []).map((catcher) => catcher.ResultPath)]) {
      if (resultPath !== undefined && RESERVED_KEYS.has(resultPath.slice(2))) {
        refuse(sagaName, `state "${stateName}": ResultPath "${resultPath}" names a property every object has`)
      }
    }
  }
  return definition as SagaDefinition
}

/**
 * Checks a definition and works out its paths; throws HALO_ERR_SAGA_DEFINITION naming the state at fault.
 */
export function analyseDefinition (sagaName: string, input: unknown): SagaGraph {
  const definition = checkShape(sagaName, input)
  const states = definition.States
  const named = (target: string, where: string): void => {
    if (!Object.hasOwn(states, target)) refuse(sagaName, `${where} names "${target}", which is not a state`)
  }
  named(definition.StartAt, 'StartAt')
  for (const [stateName, state] of Object.entries(states)) {
    if (state.Type === 'Fail') continue
    if (state.Next !== undefined) named(state.Next, `state "${stateName}": Next`)
    for (const catcher of state.Catch ?? []) named(catcher.Next, `state "${stateName}": Catch.Next`)
  }

  const tasks = new Map<string, SagaTaskState>()
  const reached = new Set<string>()
  const forward: string[] = []
  for (let stateName: string | undefined = definition.StartAt; stateName !== undefined;) {
    const state: SagaTaskState | SagaFailState = states[stateName]
    if (state.Type === 'Fail') refuse(sagaName, `state "${stateName}": the forward path ends in a Fail state, with no way to End`)
    if (reached.has(stateName)) refuse(sagaName, `state "${stateName}": the forward path returns to it (a cycle)`)
    reached.add(stateName)
    tasks.set(stateName, state)
    forward.push(stateName)
    stateName = state.Next
  }

  // Each compensation state is walked once: a walk stops where an earlier one went on from.
  const forwardStates = new Set(forward)
  const compensations = new Set<string>()
  const walked = new Set<string>()
  const walkChain = (entry: string, forwardState: string): void => {
    const onThisWalk = new Set<string>()
    for (let stateName: string | undefined = entry; stateName !== undefined && !walked.has(stateName);) {
      if (forwardStates.has(stateName)) refuse(sagaName, `state "${forwardState}": its compensation chain leads back into the forward path at "${stateName}"`)
      const state: SagaTaskState | SagaFailState = states[stateName]
      reached.add(stateName)
      if (state.Type === 'Fail') break
      if (onThisWalk.has(stateName)) refuse(sagaName, `state "${stateName}": its compensation chain returns to it (a cycle)`)
      for (const catcher of state.Catch ?? []) {
        // A compensation catching into itself means "retry me", as in the original Halo's definitions.
        if (catcher.Next !== stateName) refuse(sagaName, `state "${stateName}": a compensation's Catch may only name itself (retry), not "${catcher.Next}"`)
      }
      tasks.set(stateName, state)
      compensations.add(stateName)
      onThisWalk.add(stateName)
      stateName = state.Next
    }
    for (const stateName of onThisWalk) walked.add(stateName)
  }

  const recoveryEntries = new Map<string, string | undefined>()
  let inherited: string | undefined
  for (const stateName of forward) {
    for (const catcher of (states[stateName] as SagaTaskState).Catch ?? []) {
      walkChain(catcher.Next, stateName)
      if (catcher.ErrorEquals.includes(ALL_ERRORS)) inherited = catcher.Next
    }
    recoveryEntries.set(stateName, inherited)
  }

  for (const stateName of Object.keys(states)) {
    if (!reached.has(stateName)) refuse(sagaName, `state "${stateName}" is unreachable`)
  }
  const chain = (entry: string | undefined): string[] => {
    const compensationStates: string[] = []
    for (let stateName = entry; stateName !== undefined && compensations.has(stateName); stateName = tasks.get(stateName)?.Next) {
      compensationStates.push(stateName)
    }
    return compensationStates
  }
  return { forward, tasks, compensations, recoveryEntries, chain }
}
