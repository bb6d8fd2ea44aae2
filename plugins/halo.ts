import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { correlationPlugin, type CorrelationOptions } from './correlation.js'
import { loggingPlugin, type LoggingOptions } from './logging.js'
import { errorsPlugin, type ErrorsOptions } from './errors.js'
import { timeoutPlugin, type TimeoutOptions } from './timeout.js'
import { paramsPlugin, type ParamsOptions } from './params.js'
import { sagaPlugin, type SagaOptions } from './saga.js'
import { idempotencyPlugin, type IdempotencyOptions } from './idempotency.js'
import { eventsPlugin } from './events.js'
import { validateOptions, anyOf, isObject, oneOf } from '../lib/options.js'
import { claimRegistration } from './registration.js'

/** One object per part; `false` turns a part off. Every part but params is on by default; params is on when given. */
export interface HaloOptions {
  correlation?: CorrelationOptions | false
  logging?: LoggingOptions | false
  errors?: ErrorsOptions | false
  timeout?: TimeoutOptions | false
  idempotency?: IdempotencyOptions | false
  params?: ParamsOptions | false
  saga?: SagaOptions | false
}

const partOptions = anyOf(isObject, oneOf(false))

const halo: FastifyPluginAsync<HaloOptions> = async (fastify, options) => {
  claimRegistration(fastify, 'fastify-halo')
  validateOptions('fastify-halo', options, {
    correlation: partOptions,
    logging: partOptions,
    errors: partOptions,
    timeout: partOptions,
    idempotency: partOptions,
    params: partOptions,
    saga: partOptions
  })
  if (options.correlation !== false) await fastify.register(correlationPlugin, options.correlation ?? {})
  await fastify.register(eventsPlugin)
  if (options.logging !== false) await fastify.register(loggingPlugin, options.logging ?? {})
  if (options.errors !== false) await fastify.register(errorsPlugin, options.errors ?? {})
  if (options.timeout !== false) await fastify.register(timeoutPlugin, options.timeout ?? {})
  if (options.idempotency !== false) await fastify.register(idempotencyPlugin, options.idempotency ?? {})
  if (options.params !== undefined && options.params !== false) await fastify.register(paramsPlugin, options.params)
  if (options.saga !== false) await fastify.register(sagaPlugin, options.saga ?? {})
}

export const haloPlugin = fp(halo, { name: 'fastify-halo' })
