// The parameter cache. A value is fetched once, then served from memory; once older than its max age it is
// still served at once while one background refresh, shared by every caller, fetches the new one. Only the
// very first read of a value waits for the source, bounded by the deadline of the request that started it
// (the source bounds every call by its own timeout too). A failed refresh keeps the last good value and warns;
// a failed first read is not cached: the next read tries again.
//
// The hit path of `get` allocates nothing: the options pick one of four maps instead of building a key,
// each entry keeps a settled promise of its value to hand out, and the clock is `performance.now()`.
import { haloContext } from '../context.js'
import { HALO_ERR_PARAM_INVALID, HALO_ERR_PARAM_NOT_FOUND } from '../errors.js'
import { envOverrideName, type ParamSource } from './source.js'

export interface GetOptions {
  /** Read SecureString values decrypted. Default false, as in SSM. Decrypted and raw reads are cached apart. */
  decrypt?: boolean
  /** Seconds a value is served before a background refresh is started. Default: the instance's maxAge. */
  maxAge?: number
  /** `'json'` parses the value (cached parsed, apart from the raw string). */
  transform?: 'json'
}

export interface JsonGetOptions extends GetOptions {
  transform: 'json'
}

export interface GetByPathOptions {
  /** Every level below the path, not only its direct children. Default false, as in SSM. */
  recursive?: boolean
  decrypt?: boolean
  maxAge?: number
}

/** What HaloParams logs through: pino's and Fastify's loggers fit. */
export interface ParamsLogger {
  warn (obj: object, msg: string): void
}

export interface HaloParamsOptions {
  source: ParamSource
  /** Seconds a value is served before a background refresh is started. Default 300. */
  maxAge?: number
  /** Receives one warning per failed refresh. Default: none. */
  logger?: ParamsLogger
  /** Where `HALO_PARAM_*` overrides are read. Default `process.env`. */
  env?: Record<string, string | undefined>
  /** A monotonic clock in milliseconds. Default `performance.now()`. */
  clock?: () => number
}

export const DEFAULT_MAX_AGE_SECONDS = 300
/** After a failed refresh the last good value is served this long before the next attempt. */
export const REFRESH_RETRY_MS = 5_000

class Entry {
  /** Settles to the current value; it is the first fetch itself until that completes. */
  promise!: Promise<unknown>
  /** Infinity while the first fetch runs, so that nobody starts a refresh of nothing. */
  fetchedAt = Number.POSITIVE_INFINITY
  retryAt = 0
  refreshing = false

  /** `signal`: the deadline of the request waiting for a first read; refreshes, waited for by nobody, pass none. */
  constructor (readonly fetch: (signal?: AbortSignal) => Promise<unknown>) {}
}

type Entries = Map<string, Entry>

const silent: ParamsLogger = { warn () {} }

export class HaloParams {
  readonly #source: ParamSource
  readonly #maxAgeMs: number
  readonly #logger: ParamsLogger
  readonly #env: Record<string, string | undefined>
  readonly #clock: () => number
  /** Values by name; index: decrypt 1 + json 2. */
  readonly #values: Entries[] = [new Map(), new Map(), new Map(), new Map()]
  /** Path listings by path; index: decrypt 1 + recursive 2. */
  readonly #paths: Entries[] = [new Map(), new Map(), new Map(), new Map()]
  readonly #refreshes = new Set<Promise<void>>()

  constructor (options: HaloParamsOptions) {
    this.#source = options.source
    this.#maxAgeMs = (options.maxAge ?? DEFAULT_MAX_AGE_SECONDS) * 1000
    this.#logger = options.logger ?? silent
    this.#env = options.env ?? process.env
    this.#clock = options.clock ?? (() => performance.now())
  }

  /** A parameter's value; rejects with HALO_ERR_PARAM_NOT_FOUND when it does not exist. */
  get<T = unknown> (name: string, options: JsonGetOptions): Promise<T>
  get (name: string, options?: GetOptions & { transform?: undefined }): Promise<string>
  get (name: string, options?: GetOptions): Promise<unknown>
  get (name: string, options?: GetOptions): Promise<unknown> {
    const decrypt = options?.decrypt === true
    const json = options?.transform === 'json'
    const entries = this.#values[(decrypt ? 1 : 0) + (json ? 2 : 0)]
    const entry = entries.get(name)
    if (entry === undefined) return this.#load(entries, name, (signal) => this.#fetchOne(name, decrypt, json, signal), requestSignal())
    if (this.#due(entry, options?.maxAge)) this.#refresh(name, entry)
    return entry.promise
  }

  /**
   * Several values by name, in `GetParameters` calls of 10 names (stale ones refreshed the same way, in the
   * background). Rejects with one HALO_ERR_PARAM_NOT_FOUND naming every missing parameter.
   */
  getMany<T = unknown> (names: readonly string[], options: JsonGetOptions): Promise<Record<string, T>>
  getMany (names: readonly string[], options?: GetOptions & { transform?: undefined }): Promise<Record<string, string>>
  getMany (names: readonly string[], options?: GetOptions): Promise<Record<string, unknown>>
  async getMany (names: readonly string[], options?: GetOptions): Promise<Record<string, unknown>> {
    const decrypt = options?.decrypt === true
    const json = options?.transform === 'json'
    const entries = this.#values[(decrypt ? 1 : 0) + (json ? 2 : 0)]
    const unique = [...new Set(names)]
    const missing: string[] = []
    const stale: string[] = []
    for (const name of unique) {
      const entry = entries.get(name)
      if (entry === undefined) missing.push(name)
      else if (this.#due(entry, options?.maxAge)) stale.push(name)
    }
    if (stale.length > 0) this.#refreshMany(entries, stale, decrypt, json)
    if (missing.length > 0) {
      const signal = requestSignal()
      const batch = this.#fetchMany(missing, decrypt, signal)
      for (const name of missing) {
        this.#load(entries, name, (signal) => this.#fetchOne(name, decrypt, json, signal), signal,
          batch.then((values) => decode(name, values.get(name), json)))
      }
    }
    const outcomes = await Promise.allSettled(unique.map((name) => entries.get(name)!.promise))
    const notFound: string[] = []
    const values: Array<[string, unknown]> = []
    for (const [index, outcome] of outcomes.entries()) {
      if (outcome.status === 'fulfilled') values.push([unique[index], outcome.value])
      else if (outcome.reason instanceof HALO_ERR_PARAM_NOT_FOUND) notFound.push(unique[index])
      else throw outcome.reason
    }
    if (notFound.length > 0) throw new HALO_ERR_PARAM_NOT_FOUND(notFound.join(', '))
    return Object.fromEntries(values)
  }

  /** Every parameter below a path, by full name, through as many `GetParametersByPath` pages as it takes. */
  getByPath (path: string, options?: GetByPathOptions): Promise<Record<string, string>> {
    const decrypt = options?.decrypt === true
    const recursive = options?.recursive === true
    const entries = this.#paths[(decrypt ? 1 : 0) + (recursive ? 2 : 0)]
    const entry = entries.get(path)
    if (entry === undefined) {
      return this.#load(entries, path, (signal) => this.#fetchPath(path, recursive, decrypt, signal), requestSignal()) as Promise<Record<string, string>>
    }
    if (this.#due(entry, options?.maxAge)) this.#refresh(path, entry)
    return entry.promise as Promise<Record<string, string>>
  }

  /** The value of the parameter's `HALO_PARAM_*` environment variable, if it is set. */
  override (name: string): string | undefined {
    return this.#env[envOverrideName(name)]
  }

  /** Resolves once no background refresh is running (they never reject). */
  async settled (): Promise<void> {
    while (this.#refreshes.size > 0) await Promise.all(this.#refreshes)
  }

  #due (entry: Entry, maxAge: number | undefined): boolean {
    if (entry.refreshing) return false
    const now = this.#clock()
    return now - entry.fetchedAt >= (maxAge === undefined ? this.#maxAgeMs : maxAge * 1000) && now >= entry.retryAt
  }

  // A failed first fetch is not cached: the next read tries again. One cut short by the deadline of the
  // request that started it is dropped at that instant, so that the next request does not wait on it.
  #load (entries: Entries, key: string, fetch: (signal?: AbortSignal) => Promise<unknown>, signal: AbortSignal | undefined, first = fetch(signal)): Promise<unknown> {
    const entry = new Entry(fetch)
    entry.promise = first.then((value) => {
      entry.fetchedAt = this.#clock()
      return value
    }, (error: unknown) => {
      if (entries.get(key) === entry) entries.delete(key)
      throw error
    })
    entries.set(key, entry)
    signal?.addEventListener('abort', () => {
      if (entries.get(key) === entry && entry.fetchedAt === Number.POSITIVE_INFINITY) entries.delete(key)
    }, { once: true })
    return entry.promise
  }

  #refresh (key: string, entry: Entry): void {
    entry.refreshing = true
    this.#track(entry.fetch().then(
      (value) => { this.#renew(entry, value) },
      (error: unknown) => { this.#keepStale(key, entry, error) }))
  }

  #refreshMany (entries: Entries, names: string[], decrypt: boolean, json: boolean): void {
    const stale = names.map((name) => entries.get(name)!)
    for (const entry of stale) entry.refreshing = true
    this.#track(this.#fetchMany(names, decrypt).then((values) => {
      names.forEach((name, index) => {
        try {
          this.#renew(stale[index], decode(name, values.get(name), json))
        } catch (error) {
          this.#keepStale(name, stale[index], error)
        }
      })
    }, (error: unknown) => {
      names.forEach((name, index) => { this.#keepStale(name, stale[index], error) })
    }))
  }

  #renew (entry: Entry, value: unknown): void {
    entry.promise = Promise.resolve(value)
    entry.fetchedAt = this.#clock()
    entry.refreshing = false
  }

  #keepStale (key: string, entry: Entry, error: unknown): void {
    entry.retryAt = this.#clock() + REFRESH_RETRY_MS
    entry.refreshing = false
    this.#logger.warn({ parameter: key, err: error }, `Refreshing parameter ${key} failed; serving its last good value`)
  }

  #track (refresh: Promise<void>): void {
    this.#refreshes.add(refresh)
    refresh.then(() => this.#refreshes.delete(refresh))
  }

  async #fetchOne (name: string, decrypt: boolean, json: boolean, signal?: AbortSignal): Promise<unknown> {
    return decode(name, this.override(name) ?? await this.#source.getParameter(name, decrypt, signal), json)
  }

  async #fetchMany (names: string[], decrypt: boolean, signal?: AbortSignal): Promise<Map<string, string>> {
    const values = new Map<string, string>()
    const remote: string[] = []
    for (const name of names) {
      const override = this.override(name)
      if (override === undefined) remote.push(name)
      else values.set(name, override)
    }
    if (remote.length > 0) {
      for (const [name, value] of await this.#source.getParameters(remote, decrypt, signal)) values.set(name, value)
    }
    return values
  }

  async #fetchPath (path: string, recursive: boolean, decrypt: boolean, signal?: AbortSignal): Promise<Record<string, string>> {
    const values = await this.#source.getParametersByPath(path, recursive, decrypt, signal)
    return Object.fromEntries([...values].map(([name, value]) => [name, this.override(name) ?? value]))
  }
}

/** The deadline signal of the request this read runs in, if any. */
function requestSignal (): AbortSignal | undefined {
  return haloContext()?.deadline.signal
}

function decode (name: string, raw: string | undefined, json: boolean): unknown {
  if (raw === undefined) throw new HALO_ERR_PARAM_NOT_FOUND(name)
  if (!json) return raw
  try {
    return JSON.parse(raw)
  } catch {
    // JSON.parse's message quotes the value, which may be a secret: it is not passed on.
    throw new HALO_ERR_PARAM_INVALID(`parameter ${name} is not valid JSON`)
  }
}
