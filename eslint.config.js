import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['.ci/.node/**', 'dist/**', 'coverage/**', '.tap/**', 'node_modules/**']
})
