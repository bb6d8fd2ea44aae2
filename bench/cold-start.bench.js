// Cold start: fresh processes (workers/cold-start-probe.js) that import a variant, build its Lambda handler
// and answer one invocation; the figure is the median time from process start to that answer. The Halo
// probes also tell which AWS SDK packages got loaded though no DynamoDB or SSM part is configured.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { benchMode } from './support/rounds.js'
import { median } from './support/stats.js'

const probeScript = fileURLToPath(new URL('./workers/cold-start-probe.js', import.meta.url))

const settings = {
  full: { processes: 10 },
  quick: { processes: 3 },
  smoke: { processes: 1 }
}

/** Runs one probe process; resolves with what it wrote to fd 3. */
function probe (variant) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [probeScript, variant], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] })
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
  // One process at a time, the variants alternating, so that they share the machine's moments alike.
  for (let round = 0; round < processes; round++) {
    for (let step = 0; step < variants.length; step++) {
      const variant = variants[(round + step) % variants.length]
      const report = await probe(variant)
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
    { name: 'Cold start: Middy + Powertools Logger', value: middy, unit: 'ms', samples: readyTimes('middy'), detail: split('middy') },
    {
      name: 'Cold start: Halo, every default part',
      value: halo,
      unit: 'ms',
      baseline: middy,
      ratio: halo / middy,
      target: { atMost: 1.2 },
      samples: readyTimes('halo'),
      detail: split('halo')
    },
    { name: 'AWS SDK packages loaded by Halo without DynamoDB/SSM parts', value: awsSdkPackages.length, unit: 'packages', target: { atMost: 0 }, detail: awsSdkPackages.join(', ') || 'none' }
  ]
}
