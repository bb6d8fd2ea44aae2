// The travel service's own errors, listed in one place as Halo lists its own. Halo answers each as
// problem+json, keeping its code and status.
import createError from '@fastify/error'

/** A partner has nothing left for the trip (409). Arguments: the partner and the destination. */
export const TRAVEL_ERR_SOLD_OUT = createError<'TRAVEL_ERR_SOLD_OUT', 409, [string, string]>(
  'TRAVEL_ERR_SOLD_OUT', 'The %s partner is sold out for %s', 409)

/** A partner refused a saga step (502); the saga catches it. Arguments: the partner, its status and detail. */
export const TRAVEL_ERR_PARTNER_REFUSED = createError<'TRAVEL_ERR_PARTNER_REFUSED', 502, [string, number, string]>(
  'TRAVEL_ERR_PARTNER_REFUSED', 'The %s partner answered %d: %s', 502)

/** No saga has this id (404). Argument: the id. */
export const TRAVEL_ERR_BOOKING_NOT_FOUND = createError<'TRAVEL_ERR_BOOKING_NOT_FOUND', 404, [string]>(
  'TRAVEL_ERR_BOOKING_NOT_FOUND', 'No booking %s', 404)
