// Where parameter values come from. HaloParams caches on top of a source; SSM in production, a JSON file
// locally, and `HALO_PARAM_*` environment variables over either (see envOverrideName).
import { readFile, resolvePath } from '../builtins.js'
import { HALO_ERR_PARAM_INVALID, HALO_ERR_PARAM_NOT_FOUND, errorMessage } from '../errors.js'

/** `signal`, when given, is the deadline of the request waiting for the answer: a remote source gives up then. */
export interface ParamSource {
  /** One value; rejects with HALO_ERR_PARAM_NOT_FOUND when the parameter does not exist. */
  getParameter (name: string, decrypt: boolean, signal?: AbortSignal): Promise<string>
  /** Values by name, however many names there are; names that do not exist are absent from the result. */
  getParameters (names: readonly string[], decrypt: boolean, signal?: AbortSignal): Promise<Map<string, string>>
  /** Every parameter below `path` (direct children only unless `recursive`), by full name. */
  getParametersByPath (path: string, recursive: boolean, decrypt: boolean, signal?: AbortSignal): Promise<Map<string, string>>
}

/**
 * The environment variable that overrides a parameter: `HALO_PARAM_` and the name upper-cased, each run of
 * characters other than A-Z and 0-9 turned into one `_`, leading and trailing ones dropped
 * (`/booking/prod/db-url` → `HALO_PARAM_BOOKING_PROD_DB_URL`).
 */
export function envOverrideName (name: string): string {
  return 'HALO_PARAM_' + name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '')
}

/** The prefix every name below `path` starts with. */
export function pathPrefix (path: string): string {
  return path.endsWith('/') ? path : path + '/'
}

/**
 * Parameters held in memory, from a JSON file mapping full names to values. Values that are not strings
 * are stored as their JSON text, as SSM would hold them. There is no encryption: `decrypt` changes nothing.
 */
export class FileSource implements ParamSource {
  readonly #values: Map<string, string>

  constructor (values: Record<string, unknown>) {
    this.#values = new Map(Object.entries(values).map(([name, value]) =>
      [name, typeof value === 'string' ? value : JSON.stringify(value)]))
  }

  /** A relative `file` is resolved from the process's working directory, not from the calling module's. */
  static async fromFile (file: string): Promise<FileSource> {
    const path = resolvePath(file)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      // The resolved path tells a relative name's reader which working directory it was looked up from.
      throw new HALO_ERR_PARAM_INVALID(`cannot read parameter file ${path}: ${errorMessage(error)}`)
    }
    // JSON.parse's message quotes the text, which may hold secrets: it is not passed on.
    let values: unknown
    try {
      values = JSON.parse(text)
    } catch {
      throw new HALO_ERR_PARAM_INVALID(`parameter file ${file} is not valid JSON`)
    }
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw new HALO_ERR_PARAM_INVALID(`parameter file ${file} must hold a JSON object of parameter names to values`)
    }
    return new FileSource(values as Record<string, unknown>)
  }

  async getParameter (name: string): Promise<string> {
    const value = this.#values.get(name)
    if (value === undefined) throw new HALO_ERR_PARAM_NOT_FOUND(name)
    return value
  }

  async getParameters (names: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>()
    for (const name of names) {
      const value = this.#values.get(name)
      if (value !== undefined) found.set(name, value)
    }
    return found
  }

  async getParametersByPath (path: string, recursive: boolean): Promise<Map<string, string>> {
    const prefix = pathPrefix(path)
    const found = new Map<string, string>()
    for (const [name, value] of this.#values) {
      if (name.startsWith(prefix) && (recursive || !name.includes('/', prefix.length))) found.set(name, value)
    }
    return found
  }
}
