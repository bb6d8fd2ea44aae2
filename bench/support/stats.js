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

/**
 * The rates of a Lambda loop's rounds (workers/lambda-loop.js): invocations per CPU second of each round,
 * the figure, and the median wall-clock rate, a note beside it.
 */
export function loopRates (rounds) {
  const wallClock = median(rounds.map(({ invocations, elapsedMs }) => invocations / (elapsedMs / 1000)))
  return {
    perCpuSecond: rounds.map(({ invocations, cpuMs }) => invocations / (cpuMs / 1000)),
    wallClock: `wall clock: ${Math.round(wallClock)} inv/s`
  }
}
