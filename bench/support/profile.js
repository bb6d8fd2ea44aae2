// `--profile`: CPU profiles of the Halo HTTP server and of the Halo Lambda loop, written to
// bench/.cpuprofile/, and where their time goes: the busiest functions, and the busiest origins
// (Halo's own files, each dependency, Node's internals, the garbage collector).
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { httpServerScript, load, scenarios as httpScenarios } from '../http.bench.js'
import { lambdaLoopScript, scenarios as lambdaScenarios } from '../lambda.bench.js'
import { formatSelfTimes, functionOf, originOf, selfTimes } from './cpu-profile.js'
import { startWorker } from './worker.js'

const profileDirectory = fileURLToPath(new URL('../.cpuprofile/', import.meta.url))

function cpuProfileArguments (name) {
  return ['--cpu-prof', `--cpu-prof-dir=${profileDirectory}`, `--cpu-prof-name=${name}`]
}

function printProfile (title, file) {
  const profile = JSON.parse(readFileSync(join(profileDirectory, file), 'utf8'))
  console.log(`\n${title} (bench/.cpuprofile/${file}): top 15 functions by self time`)
  console.log(formatSelfTimes(selfTimes(profile, functionOf), 15).join('\n'))
  console.log('by origin:')
  console.log(formatSelfTimes(selfTimes(profile, originOf), 10).join('\n'))
}

export async function runProfiles ({ seconds }) {
  rmSync(profileDirectory, { recursive: true, force: true })
  mkdirSync(profileDirectory, { recursive: true })

  const server = await startWorker(httpServerScript, ['halo'], { execArgv: cpuProfileArguments('http-halo.cpuprofile') })
  try {
    await load(server.ready.port, httpScenarios[0].request, seconds)
  } finally {
    await server.stop()
  }

  const loop = await startWorker(lambdaLoopScript, ['halo'], { execArgv: cpuProfileArguments('lambda-halo.cpuprofile') })
  try {
    await loop.ask({ request: lambdaScenarios[0].request, durationMs: seconds * 1000 })
  } finally {
    await loop.stop()
  }

  printProfile(`HTTP server, Halo, ${httpScenarios[0].name}`, 'http-halo.cpuprofile')
  printProfile(`Lambda loop, Halo, ${lambdaScenarios[0].name}`, 'lambda-halo.cpuprofile')
}
