// The peer a Lambda user would pick for a queue: Middy with Powertools Batch Processing and Powertools
// Logger doing the job of variants/halo-events.js: per record, take the correlation id from the message
// attribute (else the message id), log the record's arrival, the order and its completion as JSON lines,
// parse the body, fail every tenth record, and answer the partial batch failures.
import { Console } from 'node:console'
import middy from '@middy/core'
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch'
import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'

export const lambdaLabel = 'Middy + Powertools Batch'

export async function createSqsHandler () {
  const logger = new Logger({ serviceName: 'bench', logLevel: 'INFO', sampleRateValue: 0.01 })
  // Powertools writes ERROR lines to stderr, which bench workers keep for their own failures: those lines go
  // where its other lines go (stdout, /dev/null in a worker).
  logger.console = new Console({ stdout: process.stdout, stderr: process.stdout })
  const processor = new BatchProcessor(EventType.SQS)

  // Keys on the one logger rather than a child per record (a child writes to stderr again): the handler
  // never awaits, so no other record's keys can come in between.
  async function recordHandler (record) {
    const started = performance.now()
    const correlationId = record.messageAttributes['x-correlation-id']?.stringValue ?? record.messageId
    logger.appendKeys({ correlationId, recordId: record.messageId })
    try {
      logger.info('incoming record')
      const order = JSON.parse(record.body)
      logger.info('order received', { item: order.item, quantity: order.quantity })
      if (order.n % 10 === 3) {
        logger.error('record failed', { statusCode: 500 })
        throw new Error(`order ${order.n} failed`)
      }
      logger.info('record completed', { responseTime: performance.now() - started })
      return { accepted: order.n }
    } finally {
      logger.removeKeys(['correlationId', 'recordId'])
    }
  }

  return middy(async (event, context) => await processPartialResponse(event, recordHandler, processor, { context }))
    .use(injectLambdaContext(logger))
}
