// `npm run bench [-- options]`: builds dist/ if needed, runs every bench/*.bench.js on the Node it is started
// with, prints one table and writes that Node major's section of bench/RESULTS.md.
//   --quick         shorter rounds and fewer processes (under a minute)
//   --only <name>   only bench/<name>.bench.js (RESULTS.md is left as it is)
//   --json          print the results as JSON instead of the table
//   --smoke         tiny settings, for the smoke test: checks that every benchmark runs, measures nothing
//   --profile       write CPU profiles of the Halo HTTP server and Lambda loop to bench/.cpuprofile/ and
//                   print their busiest functions, instead of the benchmarks
//   --callgrind     instructions per request of each variant under valgrind's callgrind (needs valgrind),
//                   instead of the benchmarks; steady where wall-clock figures are not. With --quick, fewer
//                   requests; with --only http, lambda or events, those scenarios only. Dumps in bench/.callgrind/
// A benchmark is one file: `export async function run({ quick, smoke })` resolving to
// `[{ name, value, unit, baseline?, ratio?, target?: { atLeast } | { atMost }, samples?, detail? }]`.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ensureBuilt } from './support/build.js'
import { runCallgrind } from './support/callgrind.js'
import { runProfiles } from './support/profile.js'
import { benchMode } from './support/rounds.js'
import { machine, meetsTarget, resultsMarkdown, textTable } from './support/report.js'

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    callgrind: { type: 'boolean', default: false },
    only: { type: 'string' }
  }
})

const benchDirectory = new URL('./', import.meta.url)
const resultsFile = new URL('./RESULTS.md', import.meta.url)
// Progress goes to stderr, so that stdout holds only the table or the JSON.
const progress = (message) => process.stderr.write(`${message}\n`)

function checkResult (file, result) {
  const problems = []
  if (typeof result.name !== 'string' || result.name === '') problems.push('name')
  if (!Number.isFinite(result.value)) problems.push('value')
  if (typeof result.unit !== 'string') problems.push('unit')
  if (result.baseline !== undefined && !Number.isFinite(result.baseline)) problems.push('baseline')
  if (result.ratio !== undefined && !Number.isFinite(result.ratio)) problems.push('ratio')
  if (result.target !== undefined && !Number.isFinite(result.target.atLeast ?? result.target.atMost)) problems.push('target')
  if (problems.length > 0) throw new Error(`${file} returned a malformed result (${problems.join(', ')}): ${JSON.stringify(result)}`)
}

async function runBenchmarks () {
  const files = readdirSync(benchDirectory)
    .filter((file) => file.endsWith('.bench.js') && (flags.only === undefined || file === `${flags.only}.bench.js`))
    .sort()
  if (files.length === 0) throw new Error(`no benchmark named ${flags.only}`)
  const results = []
  for (const file of files) {
    progress(`running ${file}`)
    const benchmark = await import(new URL(file, benchDirectory))
    for (const result of await benchmark.run({ quick: flags.quick, smoke: flags.smoke })) {
      checkResult(file, result)
      results.push({ ...result, pass: meetsTarget(result) })
    }
  }
  return results
}

const startedAt = new Date()
const machineBefore = machine()
ensureBuilt(progress)
if (flags.profile) {
  await runProfiles({ seconds: flags.smoke ? 0.5 : flags.quick ? 3 : 10 })
} else if (flags.callgrind) {
  const results = await runCallgrind({ mode: benchMode(flags), only: flags.only })
  console.log(flags.json ? JSON.stringify({ machine: machineBefore, results }, null, 2) : textTable(results))
} else {
  const results = await runBenchmarks()
  const durationSeconds = (Date.now() - startedAt.getTime()) / 1000
  if (flags.json) console.log(JSON.stringify({ machine: machineBefore, durationSeconds, results }, null, 2))
  else console.log(textTable(results))
  if (!flags.smoke && flags.only === undefined) {
    const command = ['npm run bench', ...(flags.quick ? ['-- --quick'] : [])].join(' ')
    const previous = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : ''
    writeFileSync(resultsFile, resultsMarkdown({ results, command, startedAt, durationSeconds, machineBefore, machineAfter: machine(), previous }))
    progress(`written to the Node ${process.versions.node.split('.')[0]} section of bench/RESULTS.md in ${Math.round(durationSeconds)} s`)
  }
}
