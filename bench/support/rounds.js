/**
 * Measures each variant `rounds` times, after one warm-up each, in alternating order: round r starts with
 * variant r (mod n), so that a drift in machine load (other processes, thermal) does not favour any one.
 * Returns, per variant, the figure of every round.
 */
export async function alternatingRounds (variants, { rounds, warmUp, measure }) {
  for (const variant of variants) await warmUp(variant)
  const samples = variants.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < variants.length; step++) {
      const index = (round + step) % variants.length
      samples[index].push(await measure(variants[index]))
    }
  }
  return samples
}

/** `smoke` for the test's tiny settings, `quick` for `--quick`, else `full`. */
export function benchMode ({ quick, smoke }) {
  if (smoke) return 'smoke'
  return quick ? 'quick' : 'full'
}
