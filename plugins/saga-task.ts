// Step Functions' Task invocations of the app's function. Each is served as a request of the app, to a
// route only such an invocation reaches, so that a step runs through the same hooks as any request:
// correlation ids from the task's `__context__`, log fields, the invocation's deadline.
import type { FastifyInstance, RouteHandlerMethod } from 'fastify'
import { HALO_ERR_SAGA_TASK } from '../lib/errors.js'
import { currentInvocation } from '../lib/lambda.js'
import { runSagaTask, taskIdempotencyKey } from '../lib/saga/state-machine.js'
import { isSagaTaskInvocation, taskHeaders, type SagaTaskInvocation } from '../lib/saga/task-invocation.js'
import type { LoadedSagas } from '../lib/saga/loaded.js'

/** The route a task invocation is served by; over HTTP it is not found. */
export const SAGA_TASK_PATH = '/__halo/saga-task'

/** The error each failed task ended with, for the handler to rethrow under its own name. */
export const sagaTaskFailures = new WeakMap<SagaTaskInvocation, unknown>()

/**
 * Serves a task invocation (inside its Lambda invocation's context): resolves to the execution's new data,
 * or throws the step's error so that the state machine's Retry and Catch see its name.
 */
export async function serveSagaTask (app: FastifyInstance, invocation: SagaTaskInvocation): Promise<unknown> {
  const response = await app.inject({ method: 'POST', url: SAGA_TASK_PATH, headers: taskHeaders(invocation) })
  if (sagaTaskFailures.has(invocation)) throw sagaTaskFailures.get(invocation)
  const body = response.json()
  if (response.statusCode === 200) return body
  // Refused before the step ran (a call-chain loop) or answered for it (a timeout): the problem's code names it.
  throw Object.assign(new Error(body.detail), { name: body.code })
}

/** Named by its code, which is what a state machine's Catch can match. */
function unknownTask (message: string): Error {
  return Object.assign(new HALO_ERR_SAGA_TASK(`saga task: ${message}`), { name: 'HALO_ERR_SAGA_TASK' })
}

/** The route handler that runs the state a task invocation names, with the saga's context. */
export function sagaTaskHandler (loaded: LoadedSagas): RouteHandlerMethod {
  return async function serveSagaTaskRequest (request, reply) {
    const invocation = currentInvocation()?.event
    if (!isSagaTaskInvocation(invocation)) return await reply.callNotFound()
    const { saga: name, state, executionId, retryCount } = invocation.__halo__
    request.log = request.log.child({ saga: name, state, executionId })
    try {
      const { saga, apis: api } = loaded.get(name, unknownTask)
      const task = Object.hasOwn(saga.definition.States, state) ? saga.definition.States[state] : undefined
      if (task?.Type !== 'Task' || !Object.hasOwn(api, state)) throw unknownTask(`saga "${name}" has no Task state "${state}" with an API`)
      // A payload written by hand (a console test of the function) may leave out the retry count.
      const attempt = (retryCount ?? 0) + 1
      request.log.info({ event: 'task-started', attempt }, `saga ${name} task ${state}`)
      return await runSagaTask(name, saga.definition, invocation, {
        task,
        compensation: !saga.forward.includes(state),
        run: async (results) => await api[state](invocation.input.payloads?.[state], {
          saga: name,
          sagaId: executionId,
          state,
          attempt,
          results,
          signal: request.deadline.signal,
          idempotencyKey: taskIdempotencyKey(executionId, state),
          log: request.log,
          context: invocation.input.__halo__?.context
        })
      })
    } catch (error) {
      sagaTaskFailures.set(invocation, error)
      throw error
    }
  }
}
