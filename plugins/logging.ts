import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyRequest, FastifyReply, HookHandlerDoneFunction } from 'fastify'
import { DEBUG_LOG_HEADER } from '../lib/correlation.js'
import { DEFAULT_SAMPLE_RATE, decideDebugLog, sampleRateFromEnvironment } from '../lib/logging.js'
import { validateOptions, numberBetween } from '../lib/options.js'
import { claimRegistration } from './registration.js'

export interface LoggingOptions {
  /** Share of requests logged at debug. Default: `SAMPLE_DEBUG_LOG_RATE` from the environment, else 0.01. */
  sampleRate?: number
}

const levelsAboveDebug = new Set(['info', 'warn', 'error', 'fatal'])

const logging: FastifyPluginAsync<LoggingOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo-logging')
  validateOptions('loggingPlugin', options, { sampleRate: numberBetween(0, 1) })
  const sampleRate = options.sampleRate ?? sampleRateFromEnvironment(process.env.SAMPLE_DEBUG_LOG_RATE, DEFAULT_SAMPLE_RATE)

  fastify.decorateRequest('debugLogEnabled', null)
  fastify.addHook('onRequest', function sampleDebugLog (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const enabled = decideDebugLog(request.headers[DEBUG_LOG_HEADER], sampleRate)
    request.debugLogEnabled = enabled
    request.correlationIds[DEBUG_LOG_HEADER] = enabled ? 'true' : 'false'
    // Only this request's child logger changes level; concurrent requests keep theirs.
    if (enabled && levelsAboveDebug.has(request.log.level)) request.log.level = 'debug'
    done()
  })
}

export const loggingPlugin = fp(logging, {
  name: 'fastify-halo-logging',
  dependencies: ['fastify-halo-correlation']
})
