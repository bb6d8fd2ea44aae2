import type { FastifyReply, FastifyRequest } from 'fastify'
import { PROBLEM_CONTENT_TYPE, toProblem, type ErrorLike, type ProblemDetails } from '../lib/problem.js'

/** The RFC 9457 problem answering `error`, traced by the correlation id: without the correlation part, the request id. */
export function problemFor (request: FastifyRequest, error: ErrorLike, exposeErrors: boolean): ProblemDetails {
  return toProblem(error, request.correlationId || request.id, exposeErrors)
}

/** Sends `problem` as `application/problem+json` with its status: every Halo error answer goes out here. */
export function sendProblem (reply: FastifyReply, problem: ProblemDetails): FastifyReply {
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem))
}
