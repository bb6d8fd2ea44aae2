// On a machine of few cores, a server and the load generator that drives it take turns on the same core
// unless told otherwise, and each one's figure then depends on the scheduler. Pinning each to cores of its
// own keeps rounds comparable. Linux's taskset does it; elsewhere nothing is pinned.
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'

/** Pins process `pid`, every thread of it, to the cores in `list` (taskset's syntax, e.g. '1-3'); true when done. */
function pin (pid, list) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Core 0 for this process (the load generator), the other cores for the `servers`' pids. Returns a
 * description for the results and `release()`, which gives this process every core again; null when the
 * machine has a single core or cannot pin.
 */
export function separateCores (serverPids) {
  const cores = availableParallelism()
  if (cores < 2) return null
  const serverCores = cores === 2 ? '1' : `1-${cores - 1}`
  if (!serverPids.every((pid) => pin(pid, serverCores)) || !pin(process.pid, '0')) return null
  return {
    description: `servers pinned to core ${serverCores}, load generator to core 0`,
    release: () => pin(process.pid, `0-${cores - 1}`)
  }
}
