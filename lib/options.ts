// Register-time validation of plugin options: a wrong option fails `register` with a message that names
// the plugin and the option, instead of misbehaving on the first request.
import { HALO_ERR_OPTION } from './errors.js'

/** Returns why a value is unacceptable, or undefined when it is fine. `undefined` values are never checked. */
export type OptionCheck = (value: unknown) => string | undefined

/**
 * Throws HALO_ERR_OPTION for the first unknown key, missing required key or failing check. Options may be
 * undefined (all defaults) unless a key is required; anything else must be a plain object.
 */
export function validateOptions (plugin: string, options: unknown, checks: Record<string, OptionCheck>, required: string[] = []): void {
  if (options === undefined && required.length === 0) return
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new HALO_ERR_OPTION(`${plugin}: options must be an object, got ${describe(options)}`)
  }
  for (const [key, value] of Object.entries(options)) {
    const check = checks[key]
    if (check === undefined) {
      throw new HALO_ERR_OPTION(`${plugin}: unknown option "${key}" (known: ${Object.keys(checks).join(', ')})`)
    }
    if (value === undefined) continue
    const problem = check(value)
    if (problem !== undefined) throw new HALO_ERR_OPTION(`${plugin}: option "${key}" ${problem}, got ${describe(value)}`)
  }
  for (const key of required) {
    if ((options as Record<string, unknown>)[key] === undefined) throw new HALO_ERR_OPTION(`${plugin}: option "${key}" is required`)
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
