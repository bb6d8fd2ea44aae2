import { fileURLToPath } from 'node:url'

/** The package's root directory, where package.json and dist/ are. */
export const root = fileURLToPath(new URL('../..', import.meta.url))
