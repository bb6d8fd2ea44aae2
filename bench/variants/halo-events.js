// Halo's SQS consumer: a route of the app, fed records by createLambdaHandler with every default part on
// (correlation from the message attribute, logs, deadline, idempotency keyed by message id, errors).
// The route parses the order, logs it and fails every tenth record, as variants/middy-batch.js does.
import Fastify from 'fastify'
import halo, { haloServerOptions, createLambdaHandler } from 'fastify-halo'
import { logDestination } from '../support/log-destination.js'

export const lambdaLabel = 'Halo createLambdaHandler (SQS records)'

export async function createSqsHandler () {
  const app = Fastify(haloServerOptions({ service: 'bench', level: 'info', stream: logDestination() }))
  await app.register(halo)
  app.post('/orders', async (request, reply) => {
    const order = request.body
    request.log.info({ item: order.item, quantity: order.quantity }, 'order received')
    if (order.n % 10 === 3) return reply.code(500).send({ failed: order.n })
    return { accepted: order.n }
  })
  return createLambdaHandler(app, { events: { sqs: '/orders' } })
}
