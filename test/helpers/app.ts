// A Halo app as a user builds one, logging into a capture instead of standard output.
import Fastify, { type FastifyInstance } from 'fastify'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import halo, { haloServerOptions, type HaloOptions } from '../../index.js'
import type { LevelWithSilent } from 'pino'
import { captureLogs, type LogCapture } from './logs.js'

export interface TestApp {
  app: FastifyInstance
  logs: LogCapture
}

export async function buildApp (
  options: HaloOptions = {},
  routes: (app: FastifyInstance) => void = () => {},
  level: LevelWithSilent = 'info'
): Promise<TestApp> {
  const logs = captureLogs()
  const app = Fastify(haloServerOptions({ service: 'test-service', level, stream: logs.stream }))
  await app.register(halo, options)
  routes(app)
  await app.ready()
  return { app, logs }
}

export interface Upstream {
  url: string
  requests: Array<{ method: string, url: string, headers: IncomingHttpHeaders, body: string }>
  server: Server
}

/** A plain HTTP server standing for a downstream service; `reply` decides each answer. */
export async function startUpstream (
  reply: (request: { method: string, url: string, headers: IncomingHttpHeaders, body: string }, index: number) => { status?: number, headers?: Record<string, string>, body?: string, delayMs?: number } = () => ({})
): Promise<Upstream> {
  const requests: Upstream['requests'] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      const seen = { method: req.method as string, url: req.url as string, headers: req.headers, body }
      requests.push(seen)
      const answer = reply(seen, requests.length - 1)
      const send = (): void => {
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers })
        res.end(answer.body ?? '{"ok":true}')
      }
      if (answer.delayMs === undefined) send()
      else setTimeout(send, answer.delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, requests, server }
}

export function closeUpstream (upstream: Upstream): Promise<void> {
  upstream.server.closeAllConnections()
  return new Promise((resolve) => upstream.server.close(() => resolve()))
}
