import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, FastifyBaseLogger, RouteOptions } from 'fastify'
import { API_GATEWAY_LIMIT_MS, budgetMs, DEFAULT_MARGIN_MS, DeadlineWatch, passiveDeadline, RequestDeadline } from '../lib/deadline.js'
import { HALO_ERR_OPTION, HALO_ERR_TIMEOUT } from '../lib/errors.js'
import { currentInvocation } from '../lib/lambda.js'
import { integerBetween, validateOptions } from '../lib/options.js'
import { kDeadline, kLateAnswerListener, kTimeoutAnswer } from '../lib/symbols.js'
import { withRouteHook } from './route-hooks.js'
import { decorateDeadline, type DeadlineHolder } from './request-fields.js'
import { problemFor, sendProblem } from './send-problem.js'
import { claimRegistration } from './registration.js'

export interface TimeoutOptions {
  /** Milliseconds kept back from Lambda's remaining time, to answer before Lambda kills the call. Default 500. */
  marginMs?: number
  /** The budget of a request served locally (not on Lambda). Default 29 000, API Gateway's own limit. */
  defaultMs?: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * This route's budget in milliseconds (locally; on Lambda the smaller of this and the remaining time), or
     * false for none: no 504, and a deadline that only counts down Lambda's remaining time (locally, never passes).
     */
    timeout?: number | false
  }
}

/** How often in-flight deadlines are checked: a 504 goes out at most this late. */
const DEADLINE_TICK_MS = 10

type Headers = ReturnType<FastifyReply['getHeaders']>

/**
 * Hears the handler's answer that comes after the 504, for a part that has a use for it (the idempotency part
 * stores it for the repeats): `statusCode` is the one the handler set (before or after the 504), or 500 for a
 * late failure, whose error is then the `payload`; `headers()` those the handler's reply holds, without the
 * 504's. Set per request under `kLateAnswerListener`.
 */
export type LateAnswerListener = (reply: FastifyReply, statusCode: number, payload: unknown, headers: () => Headers) => void

interface TimedRequest extends DeadlineHolder {
  [kLateAnswerListener]: LateAnswerListener | null
}

/** Whether `reply` carries the timeout's own 504 rather than the handler's answer. */
export function isTimeoutAnswer (reply: FastifyReply): boolean {
  return (reply as { [kTimeoutAnswer]?: boolean })[kTimeoutAnswer] === true
}

/**
 * After the 504, the handler's own outcome no longer reaches the client: a late reply is not sent, and a late
 * failure that Fastify would log as an error is logged at debug, since nothing went wrong that the timeout
 * warning has not already said. Both are handed to the request's late-answer listener, if any. A late
 * `reply.code()` sets the late answer's status, not the 504's.
 */
function divertLateOutcome (request: TimedRequest, reply: FastifyReply, timeoutReply: FastifyReply): void {
  let lateStatus = reply.statusCode
  const before = reply.getHeaders()
  // The 504 shares the handler's response object, which may keep the headers the 504 was sent with.
  const lateHeaders = (): Headers => {
    const headers = reply.getHeaders()
    const timeoutHeaders = timeoutReply.getHeaders()
    for (const name of Object.keys(timeoutHeaders)) {
      if (!(name in before) && headers[name] === timeoutHeaders[name]) delete headers[name]
    }
    return headers
  }
  const hear = (statusCode: number, payload: unknown): void => {
    request[kLateAnswerListener]?.(reply, statusCode, payload, lateHeaders)
  }
  reply.code = reply.status = function lateCode (this: FastifyReply, statusCode: number) {
    lateStatus = statusCode
    return this
  } as FastifyReply['code']
  reply.send = function lateSend (this: FastifyReply, payload?: unknown) {
    hear(payload instanceof Error ? 500 : lateStatus, payload)
    return this
  }
  const requestLog = request.log
  const quiet: FastifyBaseLogger = Object.create(requestLog)
  quiet.error = function lateFailure (this: FastifyBaseLogger, ...args: Parameters<FastifyBaseLogger['error']>) {
    requestLog.debug(args[0] as object, 'late outcome after the deadline dropped')
    hear(500, (args[0] as { err?: unknown }).err)
  }
  reply.log = quiet
}

function answerTimeout (request: FastifyRequest, reply: FastifyReply, deadline: RequestDeadline, elapsed: number): void {
  const error = new HALO_ERR_TIMEOUT(elapsed)
  deadline.expire(error)
  if (reply.sent) return
  if (reply.raw.headersSent) {
    // A stream already under way cannot become a 504; cutting it is the only honest answer left.
    request.log.warn({ route: request.routeOptions.url, elapsed }, 'request timed out')
    reply.raw.destroy(error)
    return
  }
  if (deadline.answerUnderWay) {
    // An answer in its onSend hooks (a store write, a slow hook of the app's) is the one answer this request gets.
    request.log.warn({ route: request.routeOptions.url, elapsed }, 'deadline passed while the answer was being sent; that answer stands')
    return
  }
  request.log.warn({ route: request.routeOptions.url, elapsed }, 'request timed out')
  // The 504 goes out on a reply of its own, so that the handler's keeps its status and headers for its late
  // answer, and nothing the handler's reply does later can reach the client.
  const ReplyOfRoute = reply.constructor as new (raw: FastifyReply['raw'], request: FastifyRequest, log: FastifyBaseLogger) => FastifyReply
  const timeoutReply = new ReplyOfRoute(reply.raw, request, request.log)
  divertLateOutcome(request as TimedRequest, reply, timeoutReply)
  ;(timeoutReply as { [kTimeoutAnswer]?: boolean })[kTimeoutAnswer] = true
  const headers = reply.getHeaders()
  delete headers['content-length']
  sendProblem(timeoutReply.headers(headers), problemFor(request, error, false))
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
  const deadline = (reply.request as TimedRequest)[kDeadline] as RequestDeadline
  if (raw.destroyed) {
    deadline.expire(new Error('client closed the request'))
    return false
  }
  if (deadline.at > now) return true
  answerTimeout(reply.request, reply, deadline, now - deadline.startedAt)
  return false
}

function marginBelowBudget ({ marginMs = DEFAULT_MARGIN_MS, defaultMs = API_GATEWAY_LIMIT_MS }: TimeoutOptions): string | undefined {
  return marginMs < defaultMs ? undefined : `option "marginMs" (${marginMs}) must be less than "defaultMs" (${defaultMs})`
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
  validateOptions('timeoutPlugin', options, { marginMs: integerBetween(0), defaultMs: integerBetween(1) }, { rules: [marginBelowBudget] })
  const marginMs = options.marginMs ?? DEFAULT_MARGIN_MS
  const defaultMs = options.defaultMs ?? API_GATEWAY_LIMIT_MS

  decorateDeadline(fastify)
  if (!fastify.hasRequestDecorator(kLateAnswerListener)) fastify.decorateRequest(kLateAnswerListener, null)
  // Registered with the part, before the app's own onSend hooks: a deadline passing while any of them runs
  // finds the answer under way.
  fastify.addHook('onSend', function noteAnswerUnderWay (request, _reply, payload, done) {
    // Not `request.deadline`, which would make a passive deadline for a route without one.
    const deadline = (request as TimedRequest)[kDeadline]
    if (deadline instanceof RequestDeadline) deadline.answerUnderWay = true
    done(null, payload)
  })
  const watch = new DeadlineWatch<FastifyReply>(stillWatched, DEADLINE_TICK_MS)
  fastify.addHook('onClose', async () => { watch.stop() })

  /**
   * A route without a timeout still counts down Lambda's remaining time, less this part's margin rather than the
   * default one `request.deadline` would keep; locally that deadline is made only if read.
   */
  function startPassiveDeadline (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const invocation = currentInvocation()
    if (invocation !== undefined) (request as TimedRequest)[kDeadline] = passiveDeadline(invocation.context, marginMs)
    done()
  }

  fastify.addHook('onRoute', (route) => {
    const setting = routeTimeout(route)
    if (setting === false) {
      route.onRequest = withRouteHook(route.onRequest, startPassiveDeadline)
      return
    }
    const routeMs = setting

    function startDeadline (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      const startedAt = Date.now()
      const budget = budgetMs(currentInvocation()?.context, routeMs, defaultMs, marginMs)
      const deadline = new RequestDeadline(startedAt, Math.max(0, budget))
      ;(request as TimedRequest)[kDeadline] = deadline
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

export const timeoutPlugin = fp(timeout, { name: 'fastify-halo-timeout' })
