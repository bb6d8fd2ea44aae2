import t from 'tap'
import * as halo from '../index.js'
import { HALO_ERR_TIMEOUT, SagaRollback, SagaError, errorCodes, errorMessage } from '../lib/errors.js'
import { toProblem } from '../lib/problem.js'

t.test('errors carry code, status and a message formatted from their arguments', async (t) => {
  const err = new HALO_ERR_TIMEOUT(300)
  t.equal(err.code, 'HALO_ERR_TIMEOUT')
  t.equal(err.statusCode, 504)
  t.equal(err.message, 'The request did not complete within its deadline (300 ms)')
})

t.test('errorCodes gathers the code of every error class the package exports, each under its own code', async (t) => {
  const exportedErrorClasses = Object.entries(halo).filter(([, value]) =>
    typeof value === 'function' && value.prototype instanceof Error)
  t.ok(exportedErrorClasses.length >= 17, `${exportedErrorClasses.length} error classes exported`)
  for (const [name, ErrorClass] of exportedErrorClasses) {
    const codeOf = (ErrorClass as unknown as { prototype: { code?: string } }).prototype.code ??
      new (ErrorClass as unknown as new (...args: unknown[]) => { code: string })('s', 'state', 'cause', [], []).code
    t.equal((errorCodes as Record<string, unknown>)[codeOf], ErrorClass, `${name}: ${codeOf}`)
  }
  t.same(Object.keys(errorCodes).filter((code) => !exportedErrorClasses.some(([, ErrorClass]) => ErrorClass === (errorCodes as Record<string, unknown>)[code])), [],
    'every code in errorCodes is exported')
})

t.test('internal helpers are not part of the package', async (t) => {
  t.notOk('errorMessage' in halo)
  t.equal(errorMessage(42), '42')
  t.equal(errorMessage(new Error('down')), 'down')
})

t.test('saga errors tell the client which saga failed where, and what was undone or is still owed', async (t) => {
  const rollback = new SagaRollback('s1', 'BookFlight', new Error('sold out'), ['CancelFlight', 'CancelHotel'])
  t.equal(rollback.message, 'Saga s1 rolled back: state BookFlight failed (sold out); compensated CancelFlight, CancelHotel')
  t.match(new SagaRollback('s1', 'BookHotel', 'x', []).message, /compensated nothing$/)
  t.match(toProblem(rollback, 'trace-1', false), {
    status: 500, code: 'HALO_ERR_SAGA_ROLLBACK', traceId: 'trace-1', sagaId: 's1', failedState: 'BookFlight', compensated: ['CancelFlight', 'CancelHotel']
  })
  const error = new SagaError('s2', 'BookRental', 'boom', { CancelFlight: new Error('down') }, ['CancelFlight'])
  t.equal(error.message, 'Saga s2 failed at BookRental (boom) and compensations are pending: CancelFlight')
  const problem = toProblem(error, 'trace-2', false)
  t.match(problem, { status: 500, code: 'HALO_ERR_SAGA_COMPENSATION', sagaId: 's2', failedState: 'BookRental', pending: ['CancelFlight'] })
  t.notMatch(JSON.stringify(problem), /down/, 'the compensation errors stay in the logs')
})
