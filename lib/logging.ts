// Structured JSON log lines: pino options shared by the server options and anything that builds its own
// logger (tests, scripts), and the last-line defence that keeps secrets out of every line.
import type { DestinationStream, LevelWithSilent, LoggerOptions } from 'pino'

/** Header names whose values never reach a log line, at any depth of any logged object. */
export const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'] as const

// Matches `"authorization":"…"` (escapes included) or `"set-cookie":[…]` wherever it stands in a JSON line,
// whatever its nesting and letter case: a handler that logs `request.headers` or a whole request still leaks
// nothing, which path-based redaction cannot promise.
const secretField = new RegExp(`"(${SECRET_HEADERS.join('|')})":("(?:[^"\\\\]|\\\\.)*"|\\[(?:[^\\]"]|"(?:[^"\\\\]|\\\\.)*")*\\])`, 'gi')

// Most lines name no secret header at all: a plain test spares them the slower replacing pattern.
const secretHint = /authorization|cookie|api-key/i

export function redactSecrets (line: string): string {
  return secretHint.test(line) ? line.replace(secretField, '"$1":"[Redacted]"') : line
}

let isoMillisecond = -1
let isoField = ''

/** pino's ISO time, formatted once per millisecond: a busy service writes many lines in the same one. */
export function isoTime (): string {
  const now = Date.now()
  if (now !== isoMillisecond) {
    isoMillisecond = now
    isoField = `,"time":"${new Date(now).toISOString()}"`
  }
  return isoField
}

export interface HaloLoggerOptions {
  /** The service name on every line. */
  service: string
  /** The lowest level written; default `LOG_LEVEL` from the environment, else 'info'. */
  level?: LevelWithSilent
  /** Where lines go; default standard output. */
  stream?: DestinationStream
}

/** pino options for one JSON object a line: `level` as a label, ISO `time`, `service`, `msg`. */
export function haloPinoOptions (options: HaloLoggerOptions): LoggerOptions & { stream?: DestinationStream } {
  return {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: options.service },
    timestamp: isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: { streamWrite: redactSecrets },
    ...(options.stream !== undefined && { stream: options.stream })
  }
}
