// Each variant runs in a process of its own, driven over IPC by the parent: the parent (autocannon, the
// round schedule) never competes with the variant inside one event loop, and one variant's
// AsyncLocalStorage hooks, JIT state or garbage never slow another.
import { fork } from 'node:child_process'

/**
 * Starts `script` (with `execPath`, by default this Node; `execArgv` come before the script, so a wrapper
 * such as valgrind takes this Node's path as its last one) and waits for its ready message. `ask(message)` sends one request and resolves with
 * the reply; `stop()` disconnects, which the worker takes as the order to close and exit (so that
 * `--cpu-prof` gets to write its profile).
 */
export async function startWorker (script, args = [], { execArgv = [], execPath } = {}) {
  const child = fork(script, args, { execArgv, execPath, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const description = `${script} ${args.join(' ')}`

  function nextMessage () {
    return new Promise((resolve, reject) => {
      function onMessage (message) {
        child.off('exit', onExit)
        if (message.error === undefined) resolve(message)
        else reject(new Error(`${description}: ${message.error}`))
      }
      function onExit (code, signal) {
        child.off('message', onMessage)
        reject(new Error(`${description} exited (${signal ?? code}) without answering`))
      }
      child.once('message', onMessage)
      child.once('exit', onExit)
    })
  }

  const ready = await nextMessage()
  return {
    ready,
    pid: child.pid,
    ask (message) {
      const reply = nextMessage()
      child.send(message)
      return reply
    },
    async stop () {
      if (child.connected) child.disconnect()
      await exited
    }
  }
}

/**
 * The worker's side: `setup(argv)` builds what the worker measures and returns `{ ready, handle?, close? }`;
 * `ready` is sent to the parent, `handle(message)` answers each request. Failures are sent as `{ error }`.
 */
export async function runWorker (setup) {
  try {
    const { ready, handle, close } = await setup(process.argv.slice(2))
    if (handle !== undefined) {
      process.on('message', async (message) => {
        try {
          process.send(await handle(message))
        } catch (error) {
          process.send({ error: error.stack })
        }
      })
    }
    process.once('disconnect', async () => {
      await close?.()
      process.exit(0)
    })
    process.send(ready)
  } catch (error) {
    process.send({ error: error.stack }, () => process.exit(1))
  }
}

/**
 * CPU time of this process so far (every thread: JavaScript, garbage collector, compiler), in ms. On a
 * machine shared with other work it is steadier than wall time: time spent waiting for a core is not in it.
 */
export function cpuMilliseconds () {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
