// Register-time validation of plugin options: a wrong option fails `register` with a message that names
// the plugin and the option, instead of misbehaving on the first request.
import { HALO_ERR_OPTION } from './errors.js'

/** Returns why a value is unacceptable, or undefined when it is fine. `undefined` values are never checked. */
export type OptionCheck = (value: unknown) => string | undefined

/** A check for every option of `Options`: a table that leaves one out, or names one `Options` lacks, does not compile. */
export type OptionChecks<Options> = { readonly [Key in keyof Options]-?: OptionCheck }

/** A rule across options, run once each option passed its own check: why the combination is unacceptable, or undefined. */
export type OptionRule<Options> = (options: Options) => string | undefined

export interface OptionRules<Options> {
  /** Options that must be given. */
  required?: ReadonlyArray<keyof Options & string>
  rules?: ReadonlyArray<OptionRule<Options>>
}

/**
 * Throws HALO_ERR_OPTION for the first unknown key, failing check, missing required key or broken rule.
 * Options may be undefined (all defaults) unless a key is required; anything else must be a plain object.
 * The checks are typed against the options' type, taken from `options` (or given as the type argument).
 */
export function validateOptions<Options extends object> (
  plugin: string, options: Options | undefined, checks: NoInfer<OptionChecks<Options>>, { required = [], rules = [] }: OptionRules<NoInfer<Options>> = {}
): void {
  if (options === undefined && required.length === 0) return
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new HALO_ERR_OPTION(`${plugin}: options must be an object, got ${describe(options)}`)
  }
  const table: Record<string, OptionCheck | undefined> = checks
  for (const [key, value] of Object.entries(options)) {
    const check = table[key]
    if (check === undefined) {
      throw new HALO_ERR_OPTION(`${plugin}: unknown option "${key}" (known: ${Object.keys(checks).join(', ')})`)
    }
    if (value === undefined) continue
    const problem = check(value)
    if (problem !== undefined) throw new HALO_ERR_OPTION(`${plugin}: option "${key}" ${problem}, got ${describe(value)}`)
  }
  for (const key of required) {
    if (options[key] === undefined) throw new HALO_ERR_OPTION(`${plugin}: option "${key}" is required`)
  }
  for (const rule of rules) {
    const problem = rule(options)
    if (problem !== undefined) throw new HALO_ERR_OPTION(`${plugin}: ${problem}`)
  }
}

export function numberBetween (min: number, max = Number.MAX_SAFE_INTEGER): OptionCheck {
  return (value) => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max
    ? undefined
    : `must be a number from ${min} to ${max}`
}

export function integerBetween (min: number, max = Number.MAX_SAFE_INTEGER): OptionCheck {
  return (value) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max
    ? undefined
    : `must be an integer from ${min} to ${max}`
}

export function oneOf (...allowed: unknown[]): OptionCheck {
  return (value) => allowed.includes(value) ? undefined : `must be one of ${allowed.map(describe).join(', ')}`
}

export const isBoolean: OptionCheck = (value) => typeof value === 'boolean' ? undefined : 'must be a boolean'
export const isFunction: OptionCheck = (value) => typeof value === 'function' ? undefined : 'must be a function'
export const isString: OptionCheck = (value) => typeof value === 'string' ? undefined : 'must be a string'
export const isNonEmptyString: OptionCheck = (value) =>
  typeof value === 'string' && value.length > 0 ? undefined : 'must be a non-empty string'
/** DynamoDB's rule for table names: 3 to 255 of letters, digits, '_', '-' and '.'. */
export const isDynamoDBTableName: OptionCheck = (value) =>
  typeof value === 'string' && /^[\w.-]{3,255}$/.test(value) ? undefined : "must be a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')"
export const isObject: OptionCheck = (value) =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? undefined : 'must be an object'

/** Accepts a value when any of the checks does; the message joins theirs. */
export function anyOf (...checks: OptionCheck[]): OptionCheck {
  return (value) => {
    const problems: string[] = []
    for (const check of checks) {
      const problem = check(value)
      if (problem === undefined) return undefined
      problems.push(problem)
    }
    return problems.join(' or ')
  }
}

export function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value !== null && typeof value === 'object') return 'an object'
  return String(value)
}
