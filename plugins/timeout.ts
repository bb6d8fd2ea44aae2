import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, FastifyBaseLogger, RouteOptions } from 'fastify'
import { budgetMs, DeadlineWatch, RequestDeadline } from '../lib/deadline.js'
import { HALO_ERR_OPTION, HALO_ERR_TIMEOUT } from '../lib/errors.js'
import { currentInvocation } from '../lib/lambda.js'
import { integerBetween, validateOptions } from '../lib/options.js'
import { PROBLEM_CONTENT_TYPE, toProblem } from '../lib/problem.js'
import { withRouteHook } from './route-hooks.js'
import { claimRegistration } from './registration.js'

export interface TimeoutOptions {
  /** Milliseconds kept back from Lambda's remaining time, to answer before Lambda kills the call. Default 500. */
  marginMs?: number
  /** The budget of a request served locally (not on Lambda). Default 29 000, API Gateway's own limit. */
  defaultMs?: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's budget in milliseconds (locally; on Lambda the smaller of this and the remaining time), or false for none. */
    timeout?: number | false
  }
}

/** How often in-flight deadlines are checked: a 504 goes out at most this late. */
const DEADLINE_TICK_MS = 10

function dropLateReply (this: FastifyReply): FastifyReply {
  return this
}

/**
 * After the 504, the handler's own outcome no longer reaches anyone: a late reply is dropped, and a late
 * failure that Fastify would log as an error is logged at debug, since nothing went wrong that the
 * timeout warning has not already said.
 */
function silenceLateOutcome (request: FastifyRequest, reply: FastifyReply): void {
  reply.send = dropLateReply
  const requestLog = request.log
  const quiet: FastifyBaseLogger = Object.create(requestLog)
  quiet.error = function lateFailure (this: FastifyBaseLogger, ...args: Parameters<FastifyBaseLogger['error']>) {
    requestLog.debug(args[0] as object, 'late outcome after the deadline dropped')
  }
  reply.log = quiet
}

function answerTimeout (request: FastifyRequest, reply: FastifyReply, deadline: RequestDeadline, elapsed: number): void {
  const error = new HALO_ERR_TIMEOUT(elapsed)
  deadline.expire(error)
  if (reply.sent) return
  request.log.warn({ route: request.routeOptions.url, elapsed }, 'request timed out')
  if (reply.raw.headersSent) {
    // A stream already under way cannot become a 504; cutting it is the only honest answer left.
    reply.raw.destroy(error)
    return
  }
  reply.code(504).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(toProblem(error, request.correlationId || request.id, false)))
  silenceLateOutcome(request, reply)
}

/**
 * Settles one watched request on the watch's tick; true while it still needs watching. A client that went
 * away aborts the signal, so that downstream work done for it can stop too: looking at the socket here
 * spares every request an abort listener of its own.
 */
function stillWatched (reply: FastifyReply, now: number): boolean {
  const raw = reply.raw
  if (raw.writableEnded) return false
  // Watched replies are those whose onRequest set a RequestDeadline.
  const deadline = reply.request.deadline as RequestDeadline
  if (raw.destroyed) {
    deadline.expire(new Error('client closed the request'))
    return false
  }
  if (deadline.at > now) return true
  answerTimeout(reply.request, reply, deadline, now - deadline.startedAt)
  return false
}

function routeTimeout (route: RouteOptions): number | false | undefined {
  const setting = (route.config as { timeout?: unknown } | undefined)?.timeout
  if (setting === undefined || setting === false) return setting
  if (!Number.isInteger(setting) || (setting as number) <= 0) {
    throw new HALO_ERR_OPTION(`timeoutPlugin: route ${String(route.method)} ${route.url} config.timeout must be a positive integer (milliseconds) or false, got ${JSON.stringify(setting)}`)
  }
  return setting as number
}

const timeout: FastifyPluginAsync<TimeoutOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-timeout')
  validateOptions('timeoutPlugin', options, { marginMs: integerBetween(0), defaultMs: integerBetween(1) })
  const marginMs = options.marginMs ?? 500
  const defaultMs = options.defaultMs ?? 29_000
  if (marginMs >= defaultMs) {
    throw new HALO_ERR_OPTION(`timeoutPlugin: option "marginMs" (${marginMs}) must be less than "defaultMs" (${defaultMs})`)
  }

  if (!fastify.hasRequestDecorator('deadline')) fastify.decorateRequest('deadline', null)
  const watch = new DeadlineWatch<FastifyReply>(stillWatched, DEADLINE_TICK_MS)
  fastify.addHook('onClose', async () => { watch.stop() })

  fastify.addHook('onRoute', (route) => {
    const setting = routeTimeout(route)
    if (setting === false) return
    const routeMs = setting

    function startDeadline (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      const startedAt = Date.now()
      const budget = budgetMs(currentInvocation()?.context, routeMs, defaultMs, marginMs)
      const deadline = new RequestDeadline(startedAt, Math.max(0, budget))
      request.deadline = deadline
      if (budget <= 0) {
        // Less time left than the margin: an answer now beats Lambda's bare 502 later.
        answerTimeout(request, reply, deadline, 0)
        return
      }
      watch.watch(reply)
      done()
    }

    route.onRequest = withRouteHook(route.onRequest, startDeadline)
  })
}

export const timeoutPlugin = fp(timeout, {
  name: 'fastify-halo-timeout',
  fastify: '5.x'
})
