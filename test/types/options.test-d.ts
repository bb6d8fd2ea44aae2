// Type-checked by `tsc --noEmit`, never run: a check table is tied to the type of the options it checks.
import { isBoolean, validateOptions, type OptionChecks } from '../../lib/options.js'

interface Options {
  verbose?: boolean
  retries?: number
}
declare const options: Options

validateOptions('p', options, { verbose: isBoolean, retries: isBoolean })
// @ts-expect-error a table that leaves an option unchecked does not compile
validateOptions('p', options, { verbose: isBoolean })
// @ts-expect-error nor one that checks an option the type lacks
validateOptions('p', options, { verbose: isBoolean, retries: isBoolean, extra: isBoolean })
// @ts-expect-error a required option is one of the type's
validateOptions('p', options, { verbose: isBoolean, retries: isBoolean }, { required: ['missing'] })
// @ts-expect-error a shared table is typed the same way
export const incomplete: OptionChecks<Options> = { verbose: isBoolean }
