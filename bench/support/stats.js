export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/**
 * The median of round-by-round ratios: each round measures every variant within seconds, under the same
 * load, so on a shared machine this is steadier than the ratio of the two medians.
 */
export function pairedRatio (samples, baselineSamples) {
  return median(samples.map((sample, round) => sample / baselineSamples[round]))
}
