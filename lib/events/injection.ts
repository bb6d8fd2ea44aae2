// A record reaches its route as a request made in process: the app's router is handed a request and a
// response built for a record. HTTP events go through light-my-request, whose response is a whole
// http.ServerResponse writing to a socket that throws the bytes away, with the head serialized as text and
// parsed back; a record's answer is read by Halo alone (its status and correlation id), so that work would
// be paid once per record for nothing. The pair keeps what Fastify and a route use of the raw objects: the
// request is a Readable of the body, the response a Writable with the headers API of a ServerResponse.

import { EventEmitter, Readable, Writable } from '../builtins.js'

type HeaderValue = number | string | readonly string[]

/** What a record's answer tells Halo. */
export interface RecordAnswer {
  readonly statusCode: number
  readonly headers: Readonly<Record<string, HeaderValue>>
  /** False when the answer was cut off (the response destroyed) before it ended. */
  readonly ended: boolean
}

/** The socket a record's request came in on, for what reads it (`request.ip`, `onTimeout` hooks). */
class RecordSocket extends EventEmitter {
  readonly remoteAddress = '127.0.0.1'
  readonly encrypted = false
}

/** A record's request: POST of its body, with the headers the record carries, and its response. */
export class RecordRequest extends Readable {
  readonly method = 'POST'
  url: string
  readonly headers: Record<string, string>
  readonly httpVersion = '1.1'
  readonly httpVersionMajor = 1
  readonly httpVersionMinor = 1
  readonly socket = new RecordSocket()
  readonly aborted = false
  readonly response: RecordResponse
  readonly #body: string

  /**
   * `headers` become the request's own (names lower-case); its `content-length` is set from the body.
   * `settle` hears the answer (see RecordResponse).
   */
  constructor (url: string, headers: Record<string, string>, body: string, settle: (answer: RecordAnswer) => void) {
    // As an IncomingMessage, the request stays open once read: 'close' would read as the client leaving.
    super({ autoDestroy: false })
    this.url = url
    headers['content-length'] = String(Buffer.byteLength(body))
    this.headers = headers
    this.#body = body
    this.response = new RecordResponse(settle)
  }

  /** The headers as name, value pairs, as Node's HTTP parser gives them; made when asked for. */
  get rawHeaders (): string[] {
    return Object.entries(this.headers).flat()
  }

  override _read (): void {
    this.push(this.#body)
    this.push(null)
  }

  /**
   * A request destroyed with an error (a rewriteUrl that is not a string) takes its response with it, as in
   * Node; the error is the response's to report, and nobody listens for it on the request.
   */
  override _destroy (error: Error | null, callback: (error?: Error | null) => void): void {
    if (error !== null) this.response.destroy(error)
    callback()
  }
}

/**
 * A record's response: the status and headers are kept for the answer, the body is not (nothing reads it).
 * `settle` hears the answer once, when the response is destroyed: right after 'finish' (autoDestroy), so
 * after Fastify's own 'finish' listeners, or earlier when the answer is cut off.
 */
export class RecordResponse extends Writable {
  statusCode = 200
  statusMessage = ''
  #headers: Record<string, HeaderValue> = {}
  #headSent = false
  readonly #settle: (answer: RecordAnswer) => void

  constructor (settle: (answer: RecordAnswer) => void) {
    super({ decodeStrings: false })
    this.#settle = settle
  }

  /** True once the status line would have been written: at writeHead, the first body write, or the end. */
  get headersSent (): boolean {
    return this.#headSent || this.writableEnded
  }

  setHeader (name: string, value: HeaderValue): this {
    this.#headers[name.toLowerCase()] = value
    return this
  }

  getHeader (name: string): HeaderValue | undefined {
    return this.#headers[name.toLowerCase()]
  }

  getHeaders (): Record<string, HeaderValue> {
    return { ...this.#headers }
  }

  getHeaderNames (): string[] {
    return Object.keys(this.#headers)
  }

  hasHeader (name: string): boolean {
    return this.#headers[name.toLowerCase()] !== undefined
  }

  removeHeader (name: string): void {
    delete this.#headers[name.toLowerCase()]
  }

  /** As ServerResponse's: the status, an optional reason phrase, headers as an object or a flat list of pairs. */
  writeHead (statusCode: number, reason?: string | Record<string, HeaderValue> | readonly string[], headers?: Record<string, HeaderValue> | readonly string[]): this {
    let given = headers
    if (typeof reason === 'string') this.statusMessage = reason
    else given = reason
    this.statusCode = statusCode
    if (Array.isArray(given)) {
      for (let index = 0; index + 1 < given.length; index += 2) this.setHeader(given[index] as string, given[index + 1] as string)
    } else if (given !== undefined) {
      const named = given as Record<string, HeaderValue>
      for (const name of Object.keys(named)) this.setHeader(name, named[name] as HeaderValue)
    }
    this.#headSent = true
    return this
  }

  flushHeaders (): void {
    this.#headSent = true
  }

  /** Nothing is sent before the answer: the hints are dropped, and the callback told so at once. */
  writeEarlyHints (_hints: Record<string, HeaderValue>, callback?: () => void): void {
    callback?.()
  }

  /** Trailers go nowhere either. */
  addTrailers (_trailers: Record<string, HeaderValue>): void {}

  override _write (_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#headSent = true
    callback()
  }

  /** A destroyed ServerResponse emits no error of its own, and nobody listens for one here: it is the answer's. */
  override _destroy (_error: Error | null, callback: (error?: Error | null) => void): void {
    this.#settle({ statusCode: this.statusCode, headers: this.#headers, ended: this.writableFinished })
    callback()
  }
}
