import t from 'tap'
import { HALO_ERR_TIMEOUT, SagaRollback, SagaError, errorCodes, errorMessage } from '../lib/errors.js'

t.test('errors carry code, status and a formatted message', async (t) => {
  const err = new HALO_ERR_TIMEOUT(300)
  t.equal(err.code, 'HALO_ERR_TIMEOUT')
  t.equal(err.statusCode, 504)
  t.match(err.message, /300 ms/)
  t.ok(Object.keys(errorCodes).every((code) => code.startsWith('HALO_ERR_')))
})

t.test('saga errors', async (t) => {
  const rollback = new SagaRollback('s1', 'BookFlight', new Error('sold out'), ['CancelFlight', 'CancelHotel'])
  t.equal(rollback.code, 'HALO_ERR_SAGA_ROLLBACK')
  t.match(rollback.message, /BookFlight.*sold out.*CancelFlight, CancelHotel/)
  t.match(new SagaRollback('s1', 'BookHotel', 'x', []).message, /compensated nothing/)
  const error = new SagaError('s2', 'BookRental', 'boom', { CancelFlight: new Error('down') }, ['CancelFlight'])
  t.same(error.pending, ['CancelFlight'])
  t.equal(errorMessage(42), '42')
})
