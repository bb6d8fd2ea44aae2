// The travel partners: a hotel, an airline and a car rental company, each keeping its own ledger. The
// example serves them itself, so that one process shows a saga calling other services over HTTP.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { TRAVEL_ERR_SOLD_OUT } from './errors.js'

const PartnerParamsSchema = Type.Object({ partner: Type.Union([Type.Literal('hotel'), Type.Literal('flight'), Type.Literal('car')]) })
type PartnerParams = Static<typeof PartnerParamsSchema>
export type Partner = PartnerParams['partner']

const CancelParamsSchema = Type.Composite([PartnerParamsSchema, Type.Object({ reference: Type.String() })])
type CancelParams = Static<typeof CancelParamsSchema>

const BookingRequestSchema = Type.Object({
  /** The caller's reference for the trip, which it cancels by. */
  reference: Type.String({ minLength: 1 }),
  traveller: Type.String({ minLength: 1 }),
  destination: Type.String({ minLength: 1 }),
  /** The partner refuses, as if sold out: lets a user see a saga roll back. */
  simulateSoldOut: Type.Optional(Type.Boolean())
})
type BookingRequest = Static<typeof BookingRequestSchema>

const IdempotencyHeadersSchema = Type.Object({ 'idempotency-key': Type.String({ minLength: 1 }) })
type IdempotencyHeaders = Static<typeof IdempotencyHeadersSchema>

export interface PartnerBooking {
  id: string
  reference: string
  traveller: string
  destination: string
  status: 'booked' | 'cancelled'
  /** The key of the request that made it: a repeat with this key gets this booking back, never a second one. */
  idempotencyKey: string
}

export type Ledgers = Record<Partner, PartnerBooking[]>

export function emptyLedgers (): Ledgers {
  return { hotel: [], flight: [], car: [] }
}

/**
 * `POST /:partner/bookings` books (201; a repeated idempotency key gets the same booking, never a second one);
 * `DELETE /:partner/bookings/:reference` cancels every booking of that reference, answering 200 even when
 * there is nothing to cancel, as a saga's compensation needs; `GET /ledger` shows the three ledgers.
 */
export async function partnerRoutes (app: FastifyInstance, { ledgers }: { ledgers: Ledgers }): Promise<void> {
  app.post<{ Params: PartnerParams, Body: BookingRequest, Headers: IdempotencyHeaders }>('/:partner/bookings', {
    schema: { params: PartnerParamsSchema, body: BookingRequestSchema, headers: IdempotencyHeadersSchema }
  }, async (request, reply) => {
    const { partner } = request.params
    const idempotencyKey = request.headers['idempotency-key']
    const booking = ledgers[partner].find((booking) => booking.idempotencyKey === idempotencyKey) ?? book(request, partner, idempotencyKey)
    return reply.code(201).send(booking)
  })

  app.delete<{ Params: CancelParams }>('/:partner/bookings/:reference', { schema: { params: CancelParamsSchema } }, async (request) => {
    const { partner, reference } = request.params
    const cancelled = ledgers[partner].filter((booking) => booking.reference === reference && booking.status === 'booked')
    for (const booking of cancelled) booking.status = 'cancelled'
    const ids = cancelled.map(({ id }) => id)
    request.log.info({ partner, reference, cancelled: ids }, ids.length === 0 ? `${partner}: nothing to cancel` : `${partner} cancelled`)
    return { reference, cancelled: ids }
  })

  app.get('/ledger', async () => ledgers)

  function book (request: FastifyRequest<{ Body: BookingRequest }>, partner: Partner, idempotencyKey: string): PartnerBooking {
    const { reference, traveller, destination, simulateSoldOut } = request.body
    if (simulateSoldOut === true) throw new TRAVEL_ERR_SOLD_OUT(partner, destination)
    const ledger = ledgers[partner]
    const booking: PartnerBooking = { id: `${partner}-${ledger.length + 1}`, reference, traveller, destination, status: 'booked', idempotencyKey }
    ledger.push(booking)
    request.log.info({ partner, bookingId: booking.id, reference }, `${partner} booked`)
    return booking
  }
}
