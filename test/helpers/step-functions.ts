// Step Functions for tests: aws-local-stepfunctions (an independent ASL interpreter) runs an exported
// definition, its Lambda tasks invoking a Halo handler in process as Lambda would (a function error
// becomes the task's error, named by its errorType, its Cause the error answer as JSON); and an HTTP
// stand-in speaking the AWS JSON 1.0 protocol of StartExecution and StartSyncExecution, so that tests
// drive it with the real @aws-sdk/client-sfn.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SFN } from '@aws-sdk/client-sfn'
import { StateMachine } from 'aws-local-stepfunctions'

type JSONValue = Parameters<StateMachine['run']>[0]
import type { Test } from 'tap'
import type { LambdaContextLike } from '../../lib/lambda.js'

export type TaskHandler = (event: unknown, context: LambdaContextLike) => Promise<unknown>

export interface ExecutionEnd {
  executionArn: string
  status: 'SUCCEEDED' | 'FAILED'
  output?: string
  error?: string
  cause?: string
  /** Every state entered, in order. */
  visited: string[]
}

function lambdaContext (timeoutMs: number): LambdaContextLike {
  const end = Date.now() + timeoutMs
  return {
    awsRequestId: randomUUID(),
    functionName: 'travel',
    functionVersion: '$LATEST',
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now())
  }
}

/** Runs `definition` on `input` to its end; every Task state's invocation goes to `handler`. */
export async function runExecution (definition: object, input: unknown, handler: TaskHandler, name: string = randomUUID()): Promise<ExecutionEnd> {
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:saga:${name}`
  const states = (definition as { States: Record<string, { Type: string }> }).States
  const tasks = Object.keys(states).filter((state) => states[state].Type === 'Task')
  const machine = new StateMachine(definition as never, { validationOptions: { checkPaths: true, checkArn: true } })
  const invoke = async (parameters: JSONValue): Promise<JSONValue> => {
    try {
      const Payload = await handler((parameters as { Payload: unknown }).Payload, lambdaContext(30_000))
      return { StatusCode: 200, Payload } as JSONValue
    } catch (error) {
      const { name: errorType, message: errorMessage } = error as Error
      throw Object.assign(new Error(JSON.stringify({ errorType, errorMessage })), { name: errorType })
    }
  }
  const execution = machine.run(input as JSONValue, {
    overrides: {
      taskResourceLocalHandlers: Object.fromEntries(tasks.map((state) => [state, invoke])),
      retryIntervalOverrides: Object.fromEntries(tasks.map((state) => [state, 0]))
    },
    context: { Execution: { Id: executionArn, Name: name, Input: input as JSONValue, StartTime: new Date().toISOString() }, State: { RetryCount: 0 } } as never
  })
  const visited: string[] = []
  const logged = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') visited.push(event.state.name)
    }
  })()
  try {
    const output = await execution.result
    await logged
    return { executionArn, status: 'SUCCEEDED', output: JSON.stringify(output), visited }
  } catch (error) {
    await logged
    // The runner wraps the state's error (Fail's Error and Cause, or a Task's uncaught error) as its cause.
    const { name, message } = (error as Error).cause as Error
    return { executionArn, status: 'FAILED', error: name, cause: message, visited }
  }
}

export interface StepFunctionsServer {
  /** An `SFN` client of @aws-sdk/client-sfn that talks to this stand-in. */
  client: SFN
  /** Each execution started, as it ended. */
  executions: Array<ExecutionEnd & { stateMachineArn: string, input: unknown, sync: boolean }>
}

/**
 * Step Functions over HTTP: StartSyncExecution answers the execution's end, StartExecution its ARN while it
 * runs on. `definitions` by state machine ARN.
 */
export async function startStepFunctionsServer (t: Test, definitions: Record<string, object>, handler: TaskHandler): Promise<StepFunctionsServer> {
  const executions: StepFunctionsServer['executions'] = []
  const running = new Set<Promise<unknown>>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      const action = String(req.headers['x-amz-target']).replace('AWSStepFunctions.', '')
      const { stateMachineArn, input, name } = JSON.parse(body) as { stateMachineArn: string, input: string, name?: string }
      const answer = (status: number, payload: object): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' })
        res.end(JSON.stringify(payload))
      }
      const definition = definitions[stateMachineArn]
      if (definition === undefined) {
        answer(400, { __type: 'StateMachineDoesNotExist', message: `State Machine Does Not Exist: '${stateMachineArn}'` })
        return
      }
      const parsed: unknown = JSON.parse(input)
      const executionName = name ?? randomUUID()
      const ended = runExecution(definition, parsed, handler, executionName).then((end) => {
        executions.push({ ...end, stateMachineArn, input: parsed, sync: action === 'StartSyncExecution' })
        return end
      })
      const startDate = Date.now() / 1000
      if (action === 'StartExecution') {
        running.add(ended)
        ended.finally(() => running.delete(ended)).catch(() => {})
        answer(200, { executionArn: `arn:aws:states:us-east-1:123456789012:execution:saga:${executionName}`, startDate })
        return
      }
      ended.then(({ visited, ...end }) => answer(200, { ...end, stateMachineArn, name: executionName, startDate, stopDate: Date.now() / 1000 })).catch(() => {})
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = new SFN({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // StartSyncExecution's host is `sync-states.…`: a prefix on 127.0.0.1 would not resolve.
    disableHostPrefix: true
  })
  t.teardown(async () => {
    await Promise.all(running)
    client.destroy()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { client, executions }
}
