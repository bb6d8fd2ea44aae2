// The symbols Halo keys its own state with on objects it shares with the framework (the raw request, the
// request), in one place as fastify keeps its own in lib/symbols.js: no two parts can pick the same key, and
// none of them can collide with a user's property.

/** Set on the raw request by genReqId when it refused the incoming header, so the plugin can warn once. */
export const kRejectedCorrelationId = Symbol('halo.rejectedCorrelationId')
/** Set on the raw request by genReqId, so the correlation plugin does not resolve the id a second time. */
export const kResolvedCorrelationId = Symbol('halo.resolvedCorrelationId')
/** The idempotency record a request owns, to complete with its answer or release. */
export const kIdempotencyClaim = Symbol('halo.idempotencyClaim')
/** The stored body a replay sends, so the route's onSend hook knows its payload for one. */
export const kReplayedBody = Symbol('halo.replayedBody')
/** The listener a request's late answer (after its 504) is handed to: the idempotency part stores it. */
export const kLateAnswerListener = Symbol('halo.lateAnswerListener')
/** Marks the reply that carried the timeout part's 504, which settles no idempotency claim. */
export const kTimeoutAnswer = Symbol('halo.timeoutAnswer')
/** The deadline a part set on the request; `request.deadline` reads it, or makes a passive one when none did. */
export const kDeadline = Symbol('halo.deadline')
