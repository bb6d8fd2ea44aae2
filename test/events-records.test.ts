import t from 'tap'
import { eventRecords, failureIdentifier, messageGroup, recordMessage, unmarshallItem, unmarshallValue } from '../lib/events/index.js'
import { sqsRecord } from './helpers/events.js'

t.test('events are told apart by shape; anything else is not an event source', async (t) => {
  t.equal(eventRecords(undefined), undefined)
  t.equal(eventRecords(null), undefined)
  t.equal(eventRecords({ Records: [] }), undefined)
  t.equal(eventRecords({ Records: [{ eventSource: 'aws:ses' }] }), undefined)
  t.equal(eventRecords({ Records: [null] }), undefined)
  t.equal(eventRecords({ source: 'x', 'detail-type': 'y' }), undefined, 'EventBridge needs a detail')
  t.match(eventRecords({ Records: [sqsRecord({ body: '' }, 'q.fifo')] }), { source: 'sqs', fifo: true })
  t.match(eventRecords({ Records: [sqsRecord({ body: '' })] }), { source: 'sqs', fifo: false })
})

t.test('malformed records still make a message', async (t) => {
  t.same(recordMessage('sqs', null), { id: '', payload: '', contentType: 'text/plain; charset=utf-8', headers: {} })
  t.same(recordMessage('sns', { Sns: { Message: '[1]', MessageAttributes: { 'x-correlation-id': { Type: 'Binary', Value: 'x' }, 'call-chain-length': 7 } } }).headers, {}, 'only String attributes')
  t.same(recordMessage('sqs', { body: '{"__context__":"not an object","a":1}' }), { id: '', payload: '{"a":1}', contentType: 'application/json', headers: {} })
  t.same(recordMessage('sqs', { body: '{"__context__":{"X-Correlation-Id":"c","call-chain-length":2,"other":"o"}}' }).headers, { 'x-correlation-id': 'c' })
  t.same(recordMessage('eventbridge', { id: 'e', detail: [1, 2] }).payload, '[1,2]')
  t.same(recordMessage('eventbridge', { id: 'e' }).payload, 'null', 'a missing detail is null')
  t.same(recordMessage('kinesis', { kinesis: {} }).payload, '')
  t.same(JSON.parse(recordMessage('dynamodb', { eventName: 'REMOVE', dynamodb: { Keys: { id: { S: 'k' } }, OldImage: 'x' } }).payload), { eventName: 'REMOVE', keys: { id: 'k' } })
  t.equal(recordMessage('s3', { s3: null }).id, '')
  t.equal(messageGroup(null), '')
  t.equal(failureIdentifier('sqs', { messageId: 'm' }), 'm')
  t.equal(failureIdentifier('kinesis', {}), '')
})

t.test('DynamoDB JSON becomes plain values', async (t) => {
  t.same(unmarshallItem({
    s: { S: 'x' },
    big: { N: '12345678901234567890' },
    decimal: { N: '1.5' },
    longDecimal: { N: '0.1000000000000000000001' },
    numbers: { NS: ['1', '2'] },
    strings: { SS: ['a'] },
    bytes: { B: 'AAE=' },
    byteSets: { BS: ['AAE='] },
    list: { L: [{ N: '1' }, 'junk'] },
    badList: { L: 'x' },
    badNumbers: { NS: 'x' },
    map: { M: { nested: { BOOL: false } } },
    nothing: { NULL: true }
  }), {
    s: 'x',
    big: '12345678901234567890',
    decimal: 1.5,
    longDecimal: '0.1000000000000000000001',
    numbers: [1, 2],
    strings: ['a'],
    bytes: 'AAE=',
    byteSets: ['AAE='],
    list: [1, undefined],
    badList: undefined,
    badNumbers: undefined,
    map: { nested: false },
    nothing: null
  })
  t.equal(unmarshallItem(undefined), undefined)
  t.equal(unmarshallValue(null), undefined)
})
