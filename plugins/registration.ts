import type { FastifyInstance } from 'fastify'
import { HALO_ERR_ALREADY_REGISTERED } from '../lib/errors.js'

/**
 * Refuses a second registration of the plugin `name` on the same instance (or a parent): the second would
 * otherwise fail on Fastify's "decorator already present" error, which names a decorator instead of the
 * plugin, or, for a part that decorates nothing, add its hooks twice. The marker is a decorator, so
 * sibling encapsulated contexts may each register the plugin once. `Symbol.for` lets two copies of the
 * package on one instance see each other's markers.
 */
export function claimRegistration (fastify: FastifyInstance, name: string): void {
  const marker = Symbol.for(`${name}.registered`)
  if (fastify.hasDecorator(marker)) throw new HALO_ERR_ALREADY_REGISTERED(name)
  fastify.decorate(marker, true)
}
