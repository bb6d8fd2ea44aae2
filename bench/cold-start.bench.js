// Cold start as on Lambda: each variant is bundled with the README's esbuild command (one ES module, the
// AWS SDK left outside), then fresh processes run the bundle: build the Lambda handler, answer one
// invocation (workers/cold-start-probe.js); the figure is the median time from process start to that
// answer. The Halo probes also tell which AWS SDK packages got loaded though no DynamoDB or SSM part is.
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { root } from './support/paths.js'
import { benchMode } from './support/rounds.js'
import { median } from './support/stats.js'

const bundles = join(root, 'bench', '.cold-start')

/** The README's command ("On Lambda", step 1), through esbuild's API. */
const bundleOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  external: ['@aws-sdk/*'],
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning'
}

/** Bundles the probe of `variant`; resolves with the bundle's path. */
async function bundle (variant) {
  const entry = join(bundles, `${variant}.entry.js`)
  writeFileSync(entry, `import * as variant from '../variants/${variant}.js'\nimport { probe } from '../workers/cold-start-probe.js'\nawait probe(variant)\n`)
  const outfile = join(bundles, `${variant}.mjs`)
  await build({ ...bundleOptions, entryPoints: [entry], outfile })
  return outfile
}

const settings = {
  full: { processes: 10 },
  quick: { processes: 3 },
  smoke: { processes: 1 }
}

/** Runs one probe process; resolves with what it wrote to fd 3. */
function probe (variant, bundlePath) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundlePath], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] })
    let report = ''
    child.stdio[3].setEncoding('utf8').on('data', (chunk) => { report += chunk })
    child.once('error', reject)
    child.once('close', (code) => {
      if (code === 0) resolve(JSON.parse(report))
      else reject(new Error(`cold-start probe of ${variant} exited with ${code}`))
    })
  })
}

export async function run (options) {
  const { processes } = settings[benchMode(options)]
  const variants = ['bare', 'middy', 'halo']
  const reports = new Map(variants.map((variant) => [variant, []]))
  mkdirSync(bundles, { recursive: true })
  const bundlePaths = new Map()
  for (const variant of variants) bundlePaths.set(variant, await bundle(variant))
  // One process at a time, the variants alternating, so that they share the machine's moments alike.
  for (let round = 0; round < processes; round++) {
    for (let step = 0; step < variants.length; step++) {
      const variant = variants[(round + step) % variants.length]
      const report = await probe(variant, bundlePaths.get(variant))
      if (report.statusCode !== 200) throw new Error(`cold-start probe of ${variant} answered ${report.statusCode}`)
      reports.get(variant).push(report)
    }
  }
  const readyTimes = (variant) => reports.get(variant).map((report) => report.readyMs)
  /** Where the time goes: process start to imports done, then building the app and the first invocation. */
  const split = (variant) => {
    const imported = median(reports.get(variant).map((report) => report.importedMs))
    return `imports done at ${Math.round(imported)} ms, then ${Math.round(median(readyTimes(variant)) - imported)} ms to build and answer`
  }
  const [bare, middy, halo] = variants.map((variant) => median(readyTimes(variant)))
  const awsSdkPackages = [...new Set(reports.get('halo').flatMap((report) => report.awsSdkPackages))]
  return [
    { name: 'Cold start: bare @fastify/aws-lambda', value: bare, unit: 'ms', samples: readyTimes('bare'), detail: split('bare') },
    { name: 'Cold start: Middy + Powertools Logger', value: middy, unit: 'ms', samples: readyTimes('middy'), detail: `${split('middy')}; Halo / Middy ${(median(readyTimes('halo')) / middy).toFixed(2)}` },
    {
      name: 'Cold start: Halo, every default part',
      value: halo,
      unit: 'ms',
      baseline: bare,
      ratio: halo / bare,
      target: { atMost: 1.15 },
      samples: readyTimes('halo'),
      detail: split('halo')
    },
    { name: 'AWS SDK packages loaded by Halo without DynamoDB/SSM parts', value: awsSdkPackages.length, unit: 'packages', target: { atMost: 0 }, detail: awsSdkPackages.join(', ') || 'none' }
  ]
}
