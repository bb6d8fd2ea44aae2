// Halo with every default part but the idempotency part: the baseline that weighs what that part costs.
import { buildApp as buildHaloApp } from './halo.js'

export const label = 'Halo, idempotency part off'

export function buildApp () {
  return buildHaloApp({ idempotency: false })
}
