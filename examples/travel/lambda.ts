// The travel service on AWS Lambda: the same app, with the tables and parameter path template.yaml gives
// it, reading `<PARAMS_PATH>/partners-url` (the partners' URL) from SSM Parameter Store with the SDK's
// region and credentials. The same function consumes the TripBooked queue (TRIP_BOOKED_QUEUE_URL) through
// its event source mapping.
import { createLambdaHandler } from '../../index.js'
import { buildTravelApp } from './app.js'
import { deployedOptions } from './environment.js'
import { TRAVEL_EVENTS } from './trip-booked.js'

export const handler = createLambdaHandler(await buildTravelApp(deployedOptions(process.env)), { events: TRAVEL_EVENTS })
