import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest, FastifyReply, FastifyError } from 'fastify'
import { HALO_ERR_NOT_FOUND } from '../lib/errors.js'
import type { ErrorLike } from '../lib/problem.js'
import { validateOptions, isBoolean } from '../lib/options.js'
import { problemFor, sendProblem } from './send-problem.js'
import { claimRegistration } from './registration.js'

export interface ErrorsOptions {
  /** Show 5xx error messages to clients. Default false: a generic detail and the trace id. */
  exposeErrors?: boolean
}

const errors: FastifyPluginAsync<ErrorsOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-errors')
  validateOptions('errorsPlugin', options, { exposeErrors: isBoolean })
  const exposeErrors = options.exposeErrors ?? false

  function answerError (error: ErrorLike, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const problem = problemFor(request, error, exposeErrors)
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail)
    return sendProblem(reply, problem)
  }

  fastify.setErrorHandler(function problemErrorHandler (error: FastifyError, request, reply) {
    return answerError(error, request, reply)
  })
  fastify.setNotFoundHandler(function problemNotFound (request, reply) {
    return answerError(new HALO_ERR_NOT_FOUND(`${request.method}:${request.url}`), request, reply)
  })
}

export const errorsPlugin = fp(errors, { name: 'fastify-halo-errors' })
