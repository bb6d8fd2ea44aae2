import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from './helpers/app.js'
import { haloContext } from '../index.js'

async function deepInside (): Promise<string | undefined> {
  await sleep(5)
  return haloContext()?.correlationId
}

t.test('haloContext() is the request\'s context after awaits, and undefined outside a request', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.post('/', async (request) => {
      await sleep(1)
      const context = haloContext()
      return {
        id: await deepInside(),
        viaTimer: await new Promise((resolve) => setTimeout(() => resolve(haloContext()?.correlationId), 1)),
        same: context === (request as unknown),
        headers: context?.correlationHeaders()
      }
    })
  })
  t.teardown(() => app.close())
  t.equal(haloContext(), undefined)
  const answers = await Promise.all(['one', 'two', 'three'].map((id) => app.inject({ method: 'POST', url: '/', headers: { 'x-correlation-id': id }, payload: { big: 'x'.repeat(100_000) } })))
  for (const [index, id] of ['one', 'two', 'three'].entries()) {
    t.match(answers[index]!.json(), { id, viaTimer: id, same: true, headers: { 'x-correlation-id': id } })
  }
  t.equal(haloContext(), undefined)
})

t.test('over a real socket, a parsed body does not lose the request\'s context', async (t) => {
  const { app } = await buildApp({}, (app) => {
    app.post('/', async () => ({ id: haloContext()?.correlationId }))
  })
  t.teardown(() => app.close())
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const answers = await Promise.all(['one', 'two'].map(async (id) => {
    const response = await fetch(address, { method: 'POST', headers: { 'x-correlation-id': id, 'content-type': 'application/json' }, body: JSON.stringify({ big: 'x'.repeat(200_000) }) })
    return ((await response.json()) as { id: string }).id
  }))
  t.same(answers, ['one', 'two'])
})
