// The fields Halo adds to every request, declared once from HaloRequestFields (lib/context.ts), the same
// interface `haloContext()` reads: the correlation part decorates the ids, `correlationHeaders` and `fetch`,
// the logging part `debugLogEnabled`, the timeout part `deadline`.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Deadline, HaloRequestFields } from '../lib/context.js'
import { DEFAULT_MARGIN_MS, passiveDeadline } from '../lib/deadline.js'
import { currentInvocation } from '../lib/lambda.js'
import { kDeadline } from '../lib/symbols.js'

declare module 'fastify' {
  interface FastifyRequest extends HaloRequestFields {}
}

/** A request as the parts that set its deadline see it. */
export interface DeadlineHolder extends FastifyRequest {
  [kDeadline]: Deadline | null
}

/**
 * Decorates `deadline` unless done already: the timeout part sets it, the correlation part's `fetch`, the
 * idempotency and saga parts read it, and any of them may be registered without the others. Where no part
 * set one it reads as a passive deadline, made on first read (most such requests never read it), so that
 * `request.deadline` is never null.
 */
export function decorateDeadline (fastify: FastifyInstance): void {
  if (fastify.hasRequestDecorator('deadline')) return
  fastify.decorateRequest(kDeadline, null)
  fastify.decorateRequest('deadline', {
    getter (this: FastifyRequest): Deadline {
      const holder = this as DeadlineHolder
      holder[kDeadline] ??= passiveDeadline(currentInvocation()?.context, DEFAULT_MARGIN_MS)
      return holder[kDeadline]
    }
  })
}
