// The routes every variant serves, so that bare Fastify, Halo and the Middy peer do the very same work.

/** The answer of GET /json: a small JSON object, as a typical API returns. */
export const jsonPayload = Object.freeze({
  id: 'order-42',
  status: 'confirmed',
  items: [{ sku: 'HOTEL-1', quantity: 1 }, { sku: 'FLIGHT-7', quantity: 2 }],
  total: 1234.5
})

export function registerRoutes (app) {
  app.get('/json', async () => jsonPayload)
  app.post('/orders', async (request, reply) => reply.code(201).send({ ...jsonPayload, ordered: request.body }))
}
