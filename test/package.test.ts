// The package as a user gets it (DESIGN.md section 12): `npm pack` on a clean copy of the sources builds
// dist/ first; the tarball installs with fastify (from the npm cache where it can) into a project outside this
// repository; there it is imported, required, and the README's quick start type-checks under a strict
// NodeNext configuration.
import t from 'tap'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { codeBlockAfter, runCommand } from './helpers/processes.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const requireFromRoot = createRequire(join(root, 'package.json'))
const versionOf = (name: string): string => (requireFromRoot(`${name}/package.json`) as { version: string }).version
const SOURCES = ['package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json', 'index.ts', 'lib', 'plugins']

// Building with tsc and installing with npm take minutes on a busy machine, more than .taprc's default.
t.setTimeout(600_000)

const work = await mkdtemp(join(tmpdir(), 'fastify-halo-pack-'))
const clone = join(work, 'clone')
const project = join(work, 'project')
let files: string[] = []

t.before(async () => {
  // A clean copy of what a clone holds (no dist/), with this repository's dev dependencies to build with.
  await mkdir(clone)
  for (const source of SOURCES) await cp(join(root, source), join(clone, source), { recursive: true })
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir')
  const packed = JSON.parse((await runCommand('npm', ['pack', '--json', '--pack-destination', work], clone)).stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  files = packed[0]!.files.map(({ path }) => path)
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'halo-user', private: true, type: 'module' }))
  await runCommand('npm', [
    'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts',
    join(work, packed[0]!.filename), `fastify@${versionOf('fastify')}`, `@types/node@${versionOf('@types/node')}`
  ], project)
})
t.teardown(() => rm(work, { recursive: true, force: true }))

t.test('npm pack builds dist/ and ships it with the types, README and LICENSE, and no maps to missing sources', async (t) => {
  for (const file of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/plugins/halo.js', 'dist/lib/saga/saga.js']) {
    t.ok(files.includes(file), `${file} is in the tarball`)
  }
  t.same(files.filter((file) => file.endsWith('.map') || (file.endsWith('.ts') && !file.endsWith('.d.ts'))), [], 'no source maps, no .ts sources')
})

t.test('import and require both give the plugin', async (t) => {
  await writeFile(join(project, 'imported.mjs'), [
    "import halo, { haloServerOptions, createLambdaHandler } from 'fastify-halo'",
    "console.log(JSON.stringify([typeof halo, typeof haloServerOptions, typeof createLambdaHandler, halo[Symbol.for('fastify.display-name')]]))"
  ].join('\n'))
  await writeFile(join(project, 'required.cjs'), [
    "const halo = require('fastify-halo')",
    "console.log(JSON.stringify([typeof halo.default, typeof halo.haloServerOptions, typeof halo.createLambdaHandler, halo.default[Symbol.for('fastify.display-name')]]))"
  ].join('\n'))
  const expected = ['function', 'function', 'function', 'fastify-halo']
  t.same(JSON.parse((await runCommand(process.execPath, ['imported.mjs'], project)).stdout), expected, 'import')
  const required = await runCommand(process.execPath, ['required.cjs'], project)
  t.same(JSON.parse(required.stdout), expected, 'require')
  t.equal(required.stderr, '', 'require() prints no warning')
})

t.test("the README's quick start type-checks in a strict NodeNext project", async (t) => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  await writeFile(join(project, 'service.ts'), codeBlockAfter(readme, 'Your own service:', 'ts'))
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'] },
    files: ['service.ts']
  }))
  const tsc = requireFromRoot.resolve('typescript/bin/tsc')
  const { stdout } = await runCommand(process.execPath, [tsc, '-p', 'tsconfig.json'], project)
  t.equal(stdout, '', 'tsc reports no error')
})
