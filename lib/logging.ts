// Structured JSON log lines: pino options shared by the server options and anything that builds its own
// logger (tests, scripts), and the last-line defence that keeps secrets out of every line.
import type { DestinationStream, LevelWithSilent, LoggerOptions } from 'pino'

/** Header names whose values never reach a log line, at any depth of any logged object. */
export const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'] as const

// Matches `"authorization":"…"` (escapes included) or `"set-cookie":[…]` wherever it stands in a JSON line,
// whatever its nesting and letter case: a handler that logs `request.headers` or a whole request still leaks
// nothing, which path-based redaction cannot promise.
const secretField = new RegExp(`"(${SECRET_HEADERS.join('|')})":("(?:[^"\\\\]|\\\\.)*"|\\[(?:[^\\]"]|"(?:[^"\\\\]|\\\\.)*")*\\])`, 'gi')

/**
 * Whether a line may hold a secret header's name: each has a 'k' or a 'z' in some letter case, and most
 * lines have neither, but for the 'Z' that ends the ISO time (followed by a quote, which no name's 'Z' is).
 * A few character searches spare most lines the slower replacing pattern.
 */
function mayNameSecret (line: string): boolean {
  if (line.indexOf('k') !== -1 || line.indexOf('K') !== -1 || line.indexOf('z') !== -1) return true
  const z = line.indexOf('Z')
  return z !== -1 && (line.charCodeAt(z + 1) !== 0x22 || line.indexOf('Z', z + 1) !== -1)
}

export function redactSecrets (line: string): string {
  return mayNameSecret(line) ? line.replace(secretField, '"$1":"[Redacted]"') : line
}

let isoMillisecond = -1
let isoField = ''
let isoSecond = Number.NaN
let isoSecondPrefix = ''

/**
 * pino's ISO time. `toISOString` formats through printf (about 15 000 instructions), so it runs once per
 * second, for the `,"time":"YYYY-MM-DDTHH:MM:SS.` prefix; each millisecond only appends its three digits,
 * and lines written in the same millisecond share the field.
 */
export function isoTime (): string {
  const now = Date.now()
  if (now !== isoMillisecond) {
    isoMillisecond = now
    const millisecond = now % 1000
    const second = now - millisecond
    if (second !== isoSecond) {
      isoSecond = second
      isoSecondPrefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`
    }
    isoField = `${isoSecondPrefix}${millisecond < 10 ? '00' : millisecond < 100 ? '0' : ''}${millisecond}Z"`
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
