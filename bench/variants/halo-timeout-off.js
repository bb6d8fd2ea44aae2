// Halo with every default part but the timeout part: the baseline that weighs what that part costs.
import { buildApp as buildHaloApp } from './halo.js'

export const label = 'Halo, timeout part off'

export function buildApp () {
  return buildHaloApp({ timeout: false })
}
