// One cold start: a fresh process, bundled with the README's esbuild command together with one variant
// (bench/cold-start.bench.js writes the entry), builds the variant's Lambda handler, answers one invocation,
// and writes to fd 3 how long that took since the process started (performance.now() counts from the
// process's time origin), when the bundle's imports were done, and which AWS SDK packages got loaded on the
// way. Logs go to stdout, which the parent points at /dev/null, as Lambda's runtime would take them.
import { writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { httpApiEvent, lambdaContext } from '../support/lambda-events.js'

/** Runs the probe on `variant` (its module, imported by the bundled entry) and ends the process. */
export async function probe (variant) {
  const importedMs = performance.now()
  const handler = await variant.createLambdaHandler()
  const response = await handler(httpApiEvent({ method: 'GET', path: '/json' }), lambdaContext())
  const readyMs = performance.now()

  // AWS SDK v3 packages stay outside the bundle (--external:@aws-sdk/*) and are CommonJS: importing them goes
  // through the CommonJS loader, whose cache therefore lists every SDK file that was loaded.
  const awsSdkPackages = new Set()
  for (const file of Object.keys(createRequire(import.meta.url).cache)) {
    const match = /[\\/]node_modules[\\/](@aws-sdk[\\/][^\\/]+)/.exec(file)
    if (match !== null) awsSdkPackages.add(match[1].replace('\\', '/'))
  }

  writeSync(3, JSON.stringify({ importedMs, readyMs, statusCode: response.statusCode, awsSdkPackages: [...awsSdkPackages].sort() }))
  process.exit(0)
}
