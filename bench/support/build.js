// Benchmarks import the built package ('fastify-halo' resolves to dist/ through package.json "exports"), so
// that they measure what users get: dist/ is rebuilt first when any source is newer.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { root } from './paths.js'

const builtEntry = join(root, 'dist', 'index.js')
const sources = ['index.ts', 'lib', 'plugins', 'tsconfig.json', 'tsconfig.build.json', 'package.json']

function newestModification (path) {
  if (!existsSync(path)) return 0
  const stats = statSync(path)
  if (!stats.isDirectory()) return stats.mtimeMs
  return readdirSync(path).reduce((newest, entry) => Math.max(newest, newestModification(join(path, entry))), stats.mtimeMs)
}

/**
 * Builds dist/ with `tsc -p tsconfig.build.json` unless it is newer than every source; `log` tells why.
 * A failed build emits nothing, so dist/ stays older than the sources and the next run tries again.
 */
export function ensureBuilt (log) {
  if (existsSync(builtEntry) && statSync(builtEntry).mtimeMs >= Math.max(...sources.map((source) => newestModification(join(root, source))))) return
  log('building dist/ (tsc -p tsconfig.build.json): it is missing or older than the sources')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noEmitOnError'], { cwd: root, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`the build failed, nothing was measured:\n${build.stdout}${build.stderr}`)
}
