import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import lambdaLocal from 'lambda-local'
import { buildApp } from './helpers/app.js'
import { sqsEvent } from './helpers/events.js'
import { createLambdaHandler, type EventBatchResponse } from '../index.js'

t.test('lambda-local, 2 s timeout, 500 ms margin: 20 records of 200 ms answer in time, and only the records that did not finish are reported', async (t) => {
  const started: number[] = []
  const timedOut: number[] = []
  const { app } = await buildApp({ timeout: { marginMs: 500 } }, (app) => {
    app.post<{ Body: { n: number } }>('/slow', async (request) => {
      started.push(request.body.n)
      await sleep(200)
      if (request.deadline!.expired) timedOut.push(request.body.n)
      return { n: request.body.n }
    })
  })
  t.teardown(() => app.close())
  const handler = createLambdaHandler(app, { events: { sqs: '/slow', concurrency: 2, marginMs: 500 } })
  const event = sqsEvent(Array.from({ length: 20 }, (_, n) => ({ body: JSON.stringify({ n }), messageId: `m-${n}` })))
  const result = await lambdaLocal.execute({ event, lambdaFunc: { handler }, lambdaHandler: 'handler', timeoutMs: 2000, verboseLevel: 0 }) as EventBatchResponse
  // A record cut by its deadline was answered 504 while its handler still ran; let those handlers end.
  await sleep(300)
  const reported = result.batchItemFailures.map((failure) => Number(failure.itemIdentifier.slice(2))).sort((a, b) => a - b)
  const notStarted = Array.from({ length: 20 }, (_, n) => n).filter((n) => !started.includes(n))
  t.ok(notStarted.length > 0, `records were left unstarted: ${notStarted.join(',')}`)
  t.same(reported, [...notStarted, ...timedOut].sort((a, b) => a - b), 'reported: exactly the records not started and those cut by the deadline')
  t.ok(started.every((n) => !reported.includes(n) || timedOut.includes(n)), 'no record that finished is reported')
})
