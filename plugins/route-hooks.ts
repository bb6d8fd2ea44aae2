/**
 * The route's own hooks of one kind with `hook` added last. Parts that apply per route add their hooks in
 * `onRoute`, so routes that opt out, or whose method never needs them, pay nothing per request.
 */
export function withRouteHook<H> (existing: H | H[] | undefined, hook: H): H[] {
  return existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook]
}
