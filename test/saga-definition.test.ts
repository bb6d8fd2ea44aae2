import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import { loadSaga, SagaDefinitionSchema, type SagaDefinition } from '../lib/saga/index.js'
import { travelDefinition, withTask } from './fixtures/travel.js'

t.test('the seed definition loads: a compensation catching into itself is a retry, not a cycle', async (t) => {
  const definition = travelDefinition()
  t.ok(Value.Check(SagaDefinitionSchema, definition), 'SagaDefinitionSchema accepts it')
  const saga = loadSaga('travel', definition)
  t.equal(saga.name, 'travel')
  t.same(saga.forward, ['BookHotel', 'BookFlight', 'BookRental'])
  t.equal(saga.definition, definition)
})

t.test('each malformed definition is refused at load, naming the state', async (t) => {
  const cases: Array<[string, (definition: SagaDefinition) => unknown, RegExp]> = [
    ['unknown Type', (d) => { d.States.BookFlight = { Type: 'Pass', Next: 'BookRental' } as never; return d },
      /state "BookFlight": unknown Type "Pass"/],
    ['a state that is not an object', (d) => { d.States.BookFlight = 3 as never; return d }, /state "BookFlight": unknown Type undefined/],
    ['missing ResultPath', (d) => { delete (d.States.BookFlight as { ResultPath?: string }).ResultPath; return d },
      /state "BookFlight": \/ResultPath Expected required property/],
    ['a ResultPath deeper than one level', (d) => withTask(d, 'BookHotel', { ResultPath: '$.a.b' }), /state "BookHotel": \/ResultPath/],
    ['an unknown field', (d) => { Object.assign(d.States.CancelHotel, { Parameters: {} }); return d }, /state "CancelHotel": .*Unexpected property/],
    ['a Retry that cannot be honoured', (d) => withTask(d, 'BookHotel', { Retry: [{ ErrorEquals: ['States.ALL'], BackoffRate: 0.5 }] }),
      /state "BookHotel": \/Retry\/0\/BackoffRate/],
    ['both Next and End', (d) => withTask(d, 'BookRental', { Next: 'Fail' }), /state "BookRental": a Task needs exactly one of Next and End/],
    ['neither Next nor End', (d) => withTask(d, 'BookFlight', { Next: undefined }), /state "BookFlight": a Task needs exactly one of Next and End/],
    ['a dangling StartAt', (d) => { d.StartAt = 'BookBoat'; return d }, /StartAt names "BookBoat", which is not a state/],
    ['a dangling Next', (d) => withTask(d, 'BookFlight', { Next: 'BookBoat' }), /state "BookFlight": Next names "BookBoat"/],
    ['a dangling Catch.Next', (d) => withTask(d, 'BookFlight', { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CancelBoat' }] }),
      /state "BookFlight": Catch.Next names "CancelBoat"/],
    ['an unreachable state', (d) => { d.States.BookBoat = { Type: 'Task', Resource: 'BoatApi', ResultPath: '$.boat', End: true }; return d },
      /state "BookBoat" is unreachable/],
    ['an unreachable Fail state', (d) => { d.States.Abort = { Type: 'Fail' }; return d }, /state "Abort" is unreachable/],
    ['no path to End', (d) => withTask(d, 'BookRental', { End: undefined, Next: 'Fail' }),
      /state "Fail": the forward path ends in a Fail state, with no way to End/],
    ['a cycle in the forward path', (d) => withTask(d, 'BookRental', { End: undefined, Next: 'BookFlight' }),
      /state "BookFlight": the forward path returns to it \(a cycle\)/],
    ['a cycle in a compensation chain', (d) => withTask(d, 'CancelHotel', { Next: 'CancelFlight' }),
      /state "CancelHotel": its compensation chain returns to it \(a cycle\)/],
    ['a compensation catching into another state', (d) => withTask(d, 'CancelFlight', { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CancelHotel' }] }),
      /state "CancelFlight": a compensation's Catch may only name itself \(retry\), not "CancelHotel"/],
    ['a Catch leading back into the forward path', (d) => withTask(d, 'CancelHotel', { Next: 'BookHotel' }),
      /state "BookHotel": its compensation chain leads back into the forward path at "BookHotel"/],
    ['no StartAt', (d) => { delete (d as { StartAt?: string }).StartAt; return d }, /saga "travel": \/StartAt Expected required property/],
    ['not an object at all', () => 'BookHotel', /saga "travel": \/ Expected object/],
    ['no states', (d) => ({ ...d, States: {} }), /\/States/]
  ]
  for (const [what, malformed, message] of cases) {
    t.throws(() => loadSaga('travel', malformed(travelDefinition())), { code: 'HALO_ERR_SAGA_DEFINITION', message }, what)
  }
})

t.test('a Catch into a Fail state, and a compensation ending in End without a Catch, load', async (t) => {
  const definition = travelDefinition()
  withTask(definition, 'BookHotel', { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Fail' }] })
  withTask(definition, 'CancelHotel', { Next: undefined, End: true, Catch: undefined })
  t.same(loadSaga('travel', definition).forward, ['BookHotel', 'BookFlight', 'BookRental'])
})

t.test('a ResultPath naming a property every object has is refused; a Type of that name is unknown', async (t) => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    t.throws(() => loadSaga('travel', withTask(travelDefinition(), 'BookHotel', { ResultPath: `$.${key}` })),
      { code: 'HALO_ERR_SAGA_DEFINITION', message: `state "BookHotel": ResultPath "$.${key}" names a property every object has` })
    t.throws(() => loadSaga('travel', withTask(travelDefinition(), 'BookFlight', { Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CancelFlight', ResultPath: `$.${key}` }] })),
      { code: 'HALO_ERR_SAGA_DEFINITION', message: `state "BookFlight": ResultPath "$.${key}" names a property every object has` })
  }
  for (const type of ['toString', 'constructor', '__proto__']) {
    const definition = travelDefinition()
    definition.States.BookFlight = { Type: type } as never
    t.throws(() => loadSaga('travel', definition), { code: 'HALO_ERR_SAGA_DEFINITION', message: `state "BookFlight": unknown Type "${type}"` })
  }
})

/** A saga of `bookings` Book states, each caught into its own Cancel, the Cancels leading back in reverse to Fail. */
function longSaga (bookings: number): SagaDefinition {
  const States: SagaDefinition['States'] = { Fail: { Type: 'Fail' } }
  for (let index = 0; index < bookings; index++) {
    States[`Book${index}`] = {
      Type: 'Task',
      Resource: 'Api',
      ResultPath: `$.Book${index}`,
      ...(index === bookings - 1 ? { End: true } : { Next: `Book${index + 1}` }),
      Catch: [{ ErrorEquals: ['States.ALL'], Next: `Cancel${index}` }]
    }
    States[`Cancel${index}`] = { Type: 'Task', Resource: 'Api', ResultPath: `$.Cancel${index}`, Next: index === 0 ? 'Fail' : `Cancel${index - 1}` }
  }
  return { StartAt: 'Book0', States }
}

/** How many times loading reads a field of a state, per state. */
function readsPerState (definition: SagaDefinition): number {
  let reads = 0
  const states = Object.entries(definition.States)
  for (const [name, state] of states) {
    definition.States[name] = new Proxy(state, { get: (target, key) => { reads++; return Reflect.get(target, key) } })
  }
  loadSaga('long', definition)
  return reads / states.length
}

t.test('loading is linear in the states: each state is read as often in a saga of 20,001 states as in one of 201', async (t) => {
  const small = readsPerState(longSaga(100))
  const large = readsPerState(longSaga(10_000))
  t.ok(large <= small * 1.05, `${large.toFixed(1)} reads per state at 20,001 states, ${small.toFixed(1)} at 201`)
  const saga = loadSaga('long', longSaga(5_000))
  t.equal(saga.forward.length, 5_000, '10,001 states load')
})
