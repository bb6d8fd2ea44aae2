import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['.ci/.node/**', 'dist/**', 'build/**', 'bench/.cold-start/**', 'coverage/**', '.tap/**', 'node_modules/**']
})
