// One variant's HTTP server on a free local port; the parent drives it with autocannon.
import { cpuMilliseconds, runWorker } from '../support/worker.js'

runWorker(async ([variantName]) => {
  const variant = await import(`../variants/${variantName}.js`)
  const app = await variant.buildApp()
  await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    ready: { port: app.server.address().port },
    /**
     * The server's CPU time so far, so that the parent can charge it to the requests of a round; first a full
     * garbage collection when asked (under --expose-gc), so that a count of instructions starts from a clean heap.
     */
    handle: ({ collectGarbage = false }) => {
      if (collectGarbage) globalThis.gc()
      return { cpuMs: cpuMilliseconds() }
    },
    close: () => app.close()
  }
})
