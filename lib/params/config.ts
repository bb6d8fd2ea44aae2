// Typed configuration from one parameter path: `/booking/prod/db/url` under `/booking/prod` becomes
// `config.db.url`. Values are strings in SSM; they become what the TypeBox schema asks for (numbers,
// booleans, JSON objects and arrays), then the whole object is validated at once, so that start-up fails
// with every problem named. Messages never quote a value: it may be a secret.
import type { Static, TSchema } from '@sinclair/typebox'
// The value functions by name, not the `Value` object: a bundle then carries these three, not all of them.
import { Errors, ValueErrorType } from '@sinclair/typebox/errors'
import { Clean, Default } from '@sinclair/typebox/value'
import { HALO_ERR_PARAM_INVALID } from '../errors.js'
import type { HaloParams } from './params.js'
import { pathPrefix } from './source.js'

/** The type of the configuration loaded with a schema: `HaloConfig<typeof schema>`. */
export type HaloConfig<S extends TSchema> = Static<S>

export interface LoadConfigOptions<S extends TSchema> {
  /** The parameter path whose parameters, at every level and decrypted, make the configuration. */
  path: string
  schema: S
}

type Tree = Record<string, unknown>

const BOOLEAN_WORDS = new Map([['true', true], ['false', false], ['1', true], ['0', false]])

/**
 * Reads every parameter below `path` (`HALO_PARAM_*` overrides included, also for names the schema lists
 * but the source lacks), nests them by `/`, drops those the schema does not name, applies the schema's
 * defaults, and validates. Rejects with one
 * HALO_ERR_PARAM_INVALID naming each missing or invalid parameter.
 */
export async function loadConfig<S extends TSchema> (params: HaloParams, { path, schema }: LoadConfigOptions<S>): Promise<HaloConfig<S>> {
  const prefix = pathPrefix(path)
  const values = new Map(Object.entries(await params.getByPath(path, { recursive: true, decrypt: true })))
  addSchemaOverrides(params, schema, prefix, values)

  const problems = new Map<string, string>()
  const config: Tree = Object.create(null)
  const nest = new Nest(config, schema, prefix, problems)
  for (const name of [...values.keys()].sort()) nest.insert(name, values.get(name)!)

  // A path often holds more than this service reads (other services' secrets among them): only what the
  // schema names reaches fastify.config, where any code of the app could read or log it.
  Clean(schema, config)
  Default(schema, config)
  for (const error of Errors(schema, config)) {
    const name = prefix + error.path.slice(1)
    if (!problems.has(name)) {
      problems.set(name, error.type === ValueErrorType.ObjectRequiredProperty ? 'is missing' : `is invalid: ${error.message}`)
    }
  }
  if (problems.size > 0) {
    throw new HALO_ERR_PARAM_INVALID([...problems].map(([name, problem]) => `${name} ${problem}`).join('; '))
  }
  return config as HaloConfig<S>
}

/**
 * Builds the configuration object. Branches have a null prototype, so a parameter named `__proto__` stays a
 * plain key. Names are inserted in sorted order, so a parameter comes before those below its name; those are
 * reported as conflicts rather than merged into its value.
 */
class Nest {
  readonly #branches: Set<Tree>

  constructor (readonly root: Tree, readonly schema: TSchema, readonly prefix: string, readonly problems: Map<string, string>) {
    this.#branches = new Set([root])
  }

  insert (name: string, raw: string): void {
    const segments = name.slice(this.prefix.length).split('/')
    const leaf = segments.pop()!
    let node = this.root
    let schema: TSchema | undefined = this.schema
    for (const [depth, segment] of segments.entries()) {
      schema = propertySchema(schema, segment)
      let child = node[segment] as Tree | undefined
      if (child === undefined) {
        child = Object.create(null) as Tree
        this.#branches.add(child)
        node[segment] = child
      } else if (!this.#branches.has(child)) {
        this.problems.set(name, `conflicts with parameter ${this.prefix}${segments.slice(0, depth + 1).join('/')}`)
        return
      }
      node = child
    }
    node[leaf] = coerce(name, raw, propertySchema(schema, leaf), this.problems)
  }
}

function propertySchema (schema: TSchema | undefined, key: string): TSchema | undefined {
  return schema?.properties?.[key]
}

/** Environment overrides are found by name, so the source cannot list them: the schema does. */
function addSchemaOverrides (params: HaloParams, schema: TSchema, prefix: string, values: Map<string, string>): void {
  for (const [key, child] of Object.entries<TSchema>(schema.properties ?? {})) {
    const name = prefix + key
    const override = values.has(name) ? undefined : params.override(name)
    if (override !== undefined) values.set(name, override)
    addSchemaOverrides(params, child, name + '/', values)
  }
}

function coerce (name: string, raw: string, schema: TSchema | undefined, problems: Map<string, string>): unknown {
  switch (schema?.type) {
    case 'number':
    case 'integer': {
      const number = Number(raw)
      return raw.trim() !== '' && Number.isFinite(number) ? number : raw
    }
    case 'boolean':
      return BOOLEAN_WORDS.get(raw.toLowerCase()) ?? raw
    case 'object':
    case 'array':
      try {
        return JSON.parse(raw)
      } catch {
        problems.set(name, 'is not valid JSON')
        return raw
      }
    default:
      return raw
  }
}
