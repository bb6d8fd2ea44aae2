// Reading V8 .cpuprofile files (written by `node --cpu-prof`): where the busy time went.
import { fileURLToPath } from 'node:url'
import { root } from './paths.js'

function relativePath (url) {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  return path.startsWith(root) ? path.slice(root.length) : path
}

/** A function: its name and where it is defined, relative to the package root. */
export function functionOf ({ functionName, url, lineNumber }) {
  const name = functionName || '(anonymous)'
  return url === '' ? name : `${name} ${relativePath(url)}:${lineNumber + 1}`
}

/**
 * Where a function comes from: the package under node_modules, the file of this package (dist/…), Node's
 * internals, or, for code without a script (garbage collector, native builtins), its name.
 */
export function originOf ({ functionName, url }) {
  if (url === '') return functionName
  if (url.startsWith('node:')) return 'node internals'
  const path = relativePath(url)
  const dependency = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  return dependency === null ? path : dependency[1]
}

/**
 * Self time grouped by `keyOf(callFrame)`, busiest first, in milliseconds and as a share of the busy time
 * (idle time, waiting for I/O, left out). Every sample stands for the interval up to the next one.
 */
export function selfTimes (profile, keyOf) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const byKey = new Map()
  let busyMicros = 0
  for (let index = 0; index < profile.samples.length - 1; index++) {
    const { callFrame } = nodes.get(profile.samples[index])
    if (callFrame.functionName === '(idle)') continue
    const micros = profile.timeDeltas[index + 1]
    busyMicros += micros
    const key = keyOf(callFrame)
    byKey.set(key, (byKey.get(key) ?? 0) + micros)
  }
  return [...byKey]
    .map(([key, micros]) => ({ key, milliseconds: micros / 1000, share: micros / busyMicros }))
    .sort((a, b) => b.milliseconds - a.milliseconds)
}

/** Lines of text: the `count` busiest keys, with their time and share. */
export function formatSelfTimes (rows, count) {
  return rows.slice(0, count).map(({ key, milliseconds, share }) =>
    `${milliseconds.toFixed(0).padStart(7)} ms ${(share * 100).toFixed(1).padStart(5)} %  ${key}`)
}
