// The travel service on AWS Lambda: the same app, reading `/travel/partners-url` (the partners' URL) from
// SSM Parameter Store with the SDK's region and credentials.
import { createLambdaHandler } from '../../index.js'
import { buildTravelApp } from './app.js'

export const handler = createLambdaHandler(await buildTravelApp({ params: {} }))
