import { errorCodes, type FastifyInstance } from 'fastify'
import { HALO_ERR_ALREADY_REGISTERED } from '../lib/errors.js'

/** The Fastify major every part is built for. */
const FASTIFY_RANGE = '5.x'

/**
 * What every part does first on registration. It refuses a Fastify other than 5 with the error fastify-plugin's
 * `fastify: '5.x'` would give: that option makes Fastify run semver, whose first use in a process compiles
 * its regular expressions, about 16M instructions or 2.5% of a bundled Lambda's cold start, where a prefix
 * says as much. It refuses a second registration of the plugin `name` on the same instance (or a parent): the
 * second would otherwise fail on Fastify's "decorator already present" error, which names a decorator instead
 * of the plugin, or, for a part that decorates nothing, add its hooks twice. The marker is a decorator, so
 * sibling encapsulated contexts may each register the plugin once. `Symbol.for` lets two copies of the
 * package on one instance see each other's markers.
 */
export function claimRegistration (fastify: FastifyInstance, name: string): void {
  if (!fastify.version.startsWith('5.')) throw new errorCodes.FST_ERR_PLUGIN_VERSION_MISMATCH(name, FASTIFY_RANGE, fastify.version)
  const marker = Symbol.for(`${name}.registered`)
  if (fastify.hasDecorator(marker)) throw new HALO_ERR_ALREADY_REGISTERED(name)
  fastify.decorate(marker, true)
}
