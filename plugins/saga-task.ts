// Step Functions' Task invocations of the app's function. Each is served as a request of the app, to a
// route only such an invocation reaches, so that a step runs through the same hooks as any request:
// correlation ids from the task's `__context__`, log fields, the invocation's deadline.
import type { FastifyInstance } from 'fastify'
import { taskHeaders, type SagaTaskInvocation } from '../lib/saga/task-invocation.js'

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
