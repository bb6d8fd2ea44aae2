// Fastify with Halo's server options and every default part, as the package is built for users.
import Fastify from 'fastify'
import halo, { haloServerOptions, createLambdaHandler as haloLambdaHandler } from 'fastify-halo'
import { logDestination } from '../support/log-destination.js'
import { registerRoutes } from '../support/routes.js'

export const label = 'Halo'
export const lambdaLabel = 'Halo createLambdaHandler'

/** `haloOptions` are the plugin's (every default part when none are given). */
export async function buildApp (haloOptions = {}) {
  const app = Fastify(haloServerOptions({ service: 'bench', level: 'info', stream: logDestination() }))
  await app.register(halo, haloOptions)
  registerRoutes(app)
  return app
}

export async function createLambdaHandler () {
  return haloLambdaHandler(await buildApp())
}
