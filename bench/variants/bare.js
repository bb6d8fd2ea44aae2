// Bare Fastify with its own pino JSON logger at info, and on Lambda `@fastify/aws-lambda` with its default options.
import Fastify from 'fastify'
import awsLambdaFastify from '@fastify/aws-lambda'
import { logDestination } from '../support/log-destination.js'
import { registerRoutes } from '../support/routes.js'

export const label = 'bare Fastify'
export const lambdaLabel = 'bare @fastify/aws-lambda'

export async function buildApp () {
  const app = Fastify({ logger: { level: 'info', stream: logDestination() } })
  registerRoutes(app)
  return app
}

export async function createLambdaHandler () {
  return awsLambdaFastify(await buildApp())
}
