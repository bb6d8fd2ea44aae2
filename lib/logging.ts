// Structured JSON log lines: pino options shared by the server options and anything that builds its own
// logger (tests, scripts), the last-line defence that keeps secrets out of every line, and the sampling that
// decides which requests log at debug.
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

/** pino's ISO time, formatted once per millisecond: a busy service writes many lines in the same one. */
export function isoTime (): string {
  const now = Date.now()
  if (now !== isoMillisecond) {
    isoMillisecond = now
    isoField = `,"time":"${new Date(now).toISOString()}"`
  }
  return isoField
}

/** The share of requests logged at debug unless the options or `SAMPLE_DEBUG_LOG_RATE` say otherwise. */
export const DEFAULT_SAMPLE_RATE = 0.01

/**
 * Sampled debug logging: an incoming `debug-log-enabled: true|false` decides, so a whole call chain logs
 * at one level; otherwise a roll against the sample rate.
 */
export function decideDebugLog (headerValue: unknown, sampleRate: number): boolean {
  if (headerValue === 'true') return true
  if (headerValue === 'false') return false
  return sampleRate > 0 && Math.random() < sampleRate
}

/** The sample rate from `SAMPLE_DEBUG_LOG_RATE` when it holds a number from 0 to 1, else the default. */
export function sampleRateFromEnvironment (value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback
  const rate = Number(value)
  return Number.isFinite(rate) && rate >= 0 && rate <= 1 ? rate : fallback
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
