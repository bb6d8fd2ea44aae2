// Structured JSON log lines: pino options shared by the server options and anything that builds its own
// logger (tests, scripts), the last-line defence that keeps secrets out of every line, and the sampling that
// decides which requests log at debug.
import type { DestinationStream, LevelWithSilent, LoggerOptions } from 'pino'

/** Header names whose values never reach a log line, at any depth of any logged object. */
export const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization'] as const

const REDACTED = '[Redacted]'
const secretNames = new Set<string>(SECRET_HEADERS)
/** Every secret name, or a credential scheme: a line without one of these holds no secret we know of. */
const secretHint = /authorization|cookie|x-api-key|bearer|basic/i
/** The tails of "Bearer" and "Basic" in their usual letter cases: one pattern is faster than four searches. */
const schemeTail = /earer|asic|EARER|ASIC/
/** `Bearer <token>` and `Basic <base64>` credentials in free text (RFC 9110's token68). */
const credential = /\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]+=*)/gi
/** `authorization: …`, `cookie=…` and the like in free text, or in JSON text too broken to parse. */
const secretAssignment = /(authorization|cookie|x-api-key)(["']?\s*[:=]\s*["']?)[^"'\n&]+/gi
/** What replaces a line that cannot be read as JSON (a custom serializer's): it may hold anything. */
const UNREADABLE_LINE = `{"msg":"${REDACTED} a log line that is not JSON"}`

/**
 * Whether a line may hold a secret: each secret name has a 'k' or a 'z' in some letter case, and most lines
 * have neither, but for the 'Z' that ends the ISO time (followed by a quote, which no name's 'Z' is); the
 * credential schemes are searched by their tails. These few searches spare most lines any more work.
 */
function mayHoldSecret (line: string): boolean {
  if (line.indexOf('k') !== -1 || line.indexOf('K') !== -1 || line.indexOf('z') !== -1) return true
  const z = line.indexOf('Z')
  if (z !== -1 && (line.charCodeAt(z + 1) !== 0x22 || line.indexOf('Z', z + 1) !== -1)) return true
  return schemeTail.test(line)
}

/**
 * The line with every secret replaced by "[Redacted]", whatever shape holds it: a member named like a secret
 * header (whatever its value: string, array, object), a secret name followed by its value in an array
 * (`rawHeaders`, `[name, value]` pairs), a credential in free text, and all of these inside JSON text held in
 * a string. The line is parsed and written again, so the result is always one valid JSON line.
 */
export function redactSecrets (line: string): string {
  if (!mayHoldSecret(line) || !secretHint.test(line)) return line
  const newline = line.endsWith('\n') ? '\n' : ''
  try {
    return JSON.stringify(redactTree(JSON.parse(line))) + newline
  } catch {
    return UNREADABLE_LINE + newline
  }
}

function isSecretName (value: string): boolean {
  return value.length <= 19 && secretNames.has(value.toLowerCase())
}

/** Redacts a parsed JSON value in place (its root, a string, is returned redacted), walking an explicit stack. */
function redactTree (root: unknown): unknown {
  if (typeof root === 'string') return redactText(root)
  const pending: unknown[] = [root]
  while (pending.length > 0) {
    const node = pending.pop()
    if (node === null || typeof node !== 'object') continue
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index++) {
        const value: unknown = node[index]
        if (typeof value === 'string' && isSecretName(value) && index + 1 < node.length) {
          node[++index] = REDACTED
        } else if (typeof value === 'string') {
          node[index] = redactText(value)
        } else {
          pending.push(value)
        }
      }
    } else {
      const members = node as Record<string, unknown>
      for (const key of Object.keys(members)) {
        const value = members[key]
        if (isSecretName(key)) setMember(members, key, REDACTED)
        else if (typeof value === 'string') setMember(members, key, redactText(value))
        else pending.push(value)
      }
    }
  }
  return root
}

/** Assigns an own member; a `__proto__` one (JSON.parse makes it plain data) is defined, not set. */
function setMember (members: Record<string, unknown>, key: string, value: unknown): void {
  if (members[key] === value) return
  if (key === '__proto__') Object.defineProperty(members, key, { value, writable: true, enumerable: true, configurable: true })
  else members[key] = value
}

function redactText (text: string): string {
  if (!secretHint.test(text)) return text
  const first = text.trimStart().charCodeAt(0)
  if (first === 0x7b || first === 0x5b) { // '{' or '[': JSON text, redacted as such
    try {
      return JSON.stringify(redactTree(JSON.parse(text)))
    } catch {}
  }
  return text.replace(credential, redactCredential).replace(secretAssignment, `$1$2${REDACTED}`)
}

function redactCredential (match: string, scheme: string, space: string, token: string): string {
  // "Basic" is also an English word: only a token that decodes to user:password is a credential.
  if (scheme.length === 5 && !Buffer.from(token, 'base64').toString('latin1').includes(':')) return match
  return `${scheme}${space}${REDACTED}`
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
