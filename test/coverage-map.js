// The 100% coverage gate counts the product only: the package's entry point, lib/ and plugins/. Benchmarks,
// their support and the test helpers are code too, but no test exists to cover them.
export default function coverageMap () {
  return ['index.ts', 'lib/**/*.ts', 'plugins/**/*.ts']
}
