// Runs a command to its end and keeps what it printed: the packaging, bundling and deployment tests drive
// npm, tsc and esbuild as a user would, from the command line.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface CommandResult {
  stdout: string
  stderr: string
}

/** Runs `command` with `args` in `cwd`; rejects with its output when it exits non-zero. */
export async function runCommand (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  try {
    return await execFileAsync(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    const { stdout, stderr } = error as CommandResult
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error })
  }
}

/** The fenced code block of `language` that follows the line holding `marker` in a Markdown text. */
export function codeBlockAfter (markdown: string, marker: string, language: string): string {
  const start = markdown.indexOf(marker)
  if (start === -1) throw new Error(`no "${marker}" in the text`)
  const open = markdown.indexOf('```' + language + '\n', start)
  const close = markdown.indexOf('```', open + 3)
  if (open === -1 || close === -1) throw new Error(`no ${language} block after "${marker}"`)
  return markdown.slice(open + language.length + 4, close)
}
