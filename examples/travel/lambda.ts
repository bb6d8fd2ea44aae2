// The travel service on AWS Lambda: the same app, reading `/travel/partners-url` (the partners' URL) from
// SSM Parameter Store with the SDK's region and credentials. The same function consumes the TripBooked
// queue (TRIP_BOOKED_QUEUE_URL) through its event source mapping.
import { createLambdaHandler } from '../../index.js'
import { buildTravelApp } from './app.js'
import { TRAVEL_EVENTS } from './trip-booked.js'

export const handler = createLambdaHandler(await buildTravelApp({ params: {} }), { events: TRAVEL_EVENTS })
