// The fields Halo adds to every request, declared once from HaloRequestFields (lib/context.ts), the same
// interface `haloContext()` reads: the correlation part decorates the ids, `correlationHeaders` and `fetch`,
// the logging part `debugLogEnabled`, the timeout part `deadline`.
import type { FastifyInstance } from 'fastify'
import type { HaloRequestFields } from '../lib/context.js'

declare module 'fastify' {
  interface FastifyRequest extends HaloRequestFields {}
}

/**
 * Decorates `deadline` (null until the timeout part sets it) unless done already: the timeout part sets it and
 * the correlation part's `fetch` reads it, and either may be registered without the other.
 */
export function decorateDeadline (fastify: FastifyInstance): void {
  if (!fastify.hasRequestDecorator('deadline')) fastify.decorateRequest('deadline', null)
}
