// The travel service on AWS Lambda: the same app, with the tables and parameter path template.yaml gives
// it, reading `<PARAMS_PATH>/partners-url` (the partners' URL) from SSM Parameter Store with the SDK's
// region and credentials.
import { createLambdaHandler } from '../../index.js'
import { buildTravelApp } from './app.js'
import { deployedOptions } from './environment.js'

export const handler = createLambdaHandler(await buildTravelApp(deployedOptions(process.env)))
