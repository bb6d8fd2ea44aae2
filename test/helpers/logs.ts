// A log destination that keeps every line, parsed, for assertions on what a service logs.
import { Writable } from 'node:stream'

export interface LogLine {
  level: string
  time: string
  service: string
  msg: string
  correlationId?: string
  [field: string]: unknown
}

export interface LogCapture {
  stream: Writable
  lines: LogLine[]
  raw: string[]
}

export function captureLogs (): LogCapture {
  const lines: LogLine[] = []
  const raw: string[] = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        raw.push(line)
        lines.push(JSON.parse(line))
      }
      callback()
    }
  })
  return { stream, lines, raw }
}
