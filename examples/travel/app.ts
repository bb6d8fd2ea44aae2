// The travel-booking service of the seed's saga: `POST /bookings` books a hotel, a flight and a car with
// three partners over HTTP and, when one refuses, cancels what was booked. The same app runs locally
// (server.ts) and on Lambda (lambda.ts).
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import { Type, type Static } from '@sinclair/typebox'
import halo, {
  haloContext, haloServerOptions,
  type IdempotencyStore, type ParamsOptions, type ProblemDetails, type SagaApi, type SagaApis, type SagaLog, type SagaStepContext
} from '../../index.js'
// Imported, not read from disk: a bundle (README, "On Lambda") then carries it, with nothing beside it to ship.
import travelSaga from './travel-saga.json' with { type: 'json' }
import { TRAVEL_ERR_BOOKING_NOT_FOUND, TRAVEL_ERR_PARTNER_REFUSED } from './errors.js'
import { emptyLedgers, partnerRoutes, type Partner } from './partners.js'
import { tripBookedNotifications, type TripBookedQueue } from './trip-booked.js'

export const SAGA = 'travel'
/** Where the service's parameters are, unless `paramsPath` says otherwise (on Lambda: `PARAMS_PATH`). */
export const PARAMS_PATH = '/travel'
/**
 * Where the partners are, under the parameters' path: a path on this very server (params.local.json:
 * `/partners`), or their URL (SSM on Lambda). `HALO_PARAM_TRAVEL_PARTNERS_URL` overrides either locally.
 */
export const PARTNERS_URL_NAME = 'partners-url'
export const BOOK_STATES = ['BookHotel', 'BookFlight', 'BookRental'] as const

export interface TravelAppOptions {
  /** Where the parameters are read. Default: params.local.json beside this file. */
  params?: ParamsOptions
  /** The path of the service's parameters. Default `PARAMS_PATH`. */
  paramsPath?: string
  /** Default: the memory store, lost with the process. */
  idempotencyStore?: IdempotencyStore
  /** Default: the memory log, lost with the process. */
  sagaLog?: SagaLog
  /** Where log lines go. Default: standard output. */
  logStream?: DestinationStream
  /** The SQS queue of TripBooked messages (on Lambda: `TRIP_BOOKED_QUEUE_URL`). Default: the local stand-in. */
  tripBookedQueue?: TripBookedQueue
}

const BookState = Type.Unsafe<typeof BOOK_STATES[number]>({ type: 'string', enum: [...BOOK_STATES] })

const BookingBodySchema = Type.Object({
  traveller: Type.String({ minLength: 1 }),
  destination: Type.String({ minLength: 1 }),
  /** The step whose partner refuses, to show a rollback (as `?fail=`). */
  fail: Type.Optional(BookState)
})
type BookingBody = Static<typeof BookingBodySchema>

const BookingQuerySchema = Type.Object({ fail: Type.Optional(BookState) })
type BookingQuery = Static<typeof BookingQuerySchema>

/** What the steps get as `ctx.context`. */
interface TripContext {
  partnersUrl: string
}

interface PartnerCall {
  method: 'POST' | 'DELETE'
  headers?: Record<string, string>
  body?: string
}

/**
 * Calls a partner through the booking request's own `fetch` (found by `haloContext()`, as steps have no
 * request object): it forwards the correlation id and stays within the request's deadline. The step's
 * idempotency key, the same for every retry, keeps a partner from booking twice.
 */
async function callPartner (ctx: SagaStepContext, partner: Partner, path: string, call: PartnerCall): Promise<unknown> {
  const { partnersUrl } = ctx.context as TripContext
  const response = await haloContext()!.fetch(`${partnersUrl}/${partner}${path}`, {
    ...call,
    headers: { ...call.headers, 'idempotency-key': ctx.idempotencyKey },
    signal: ctx.signal
  })
  const answer = await response.json()
  if (!response.ok) throw new TRAVEL_ERR_PARTNER_REFUSED(partner, response.status, (answer as ProblemDetails).detail)
  return answer
}

function book (partner: Partner): SagaApi {
  return (trip: object, ctx) => callPartner(ctx, partner, '/bookings', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reference: ctx.sagaId, ...trip })
  })
}

/** Cancels by the saga id, so that a booking whose answer was lost is cancelled too. */
function cancel (partner: Partner): SagaApi {
  return (_payload: undefined, ctx) => callPartner(ctx, partner, `/bookings/${ctx.sagaId}`, { method: 'DELETE' })
}

const apis: SagaApis = {
  BookHotel: book('hotel'),
  BookFlight: book('flight'),
  BookRental: book('car'),
  CancelHotel: cancel('hotel'),
  CancelFlight: cancel('flight'),
  CancelRental: cancel('car')
}

/** This server's own address once it listens; undefined on Lambda, which does not. */
function ownUrl (app: FastifyInstance): string | undefined {
  const address = app.server.address()
  return address === null || typeof address === 'string' ? undefined : `http://127.0.0.1:${address.port}`
}

export async function buildTravelApp (options: TravelAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(haloServerOptions({ service: 'travel', stream: options.logStream }))
  await app.register(halo, {
    params: options.params ?? { file: fileURLToPath(new URL('params.local.json', import.meta.url)) },
    idempotency: { store: options.idempotencyStore ?? 'memory' },
    saga: { log: options.sagaLog ?? 'memory' }
  })
  app.saga.load(SAGA, travelSaga, apis)
  const partnersUrlParam = `${options.paramsPath ?? PARAMS_PATH}/${PARTNERS_URL_NAME}`

  await app.register(partnerRoutes, { prefix: '/partners', ledgers: emptyLedgers() })
  const publishTripBooked = await tripBookedNotifications(app, options.tripBookedQueue)

  app.post<{ Body: BookingBody, Querystring: BookingQuery }>('/bookings', {
    schema: { body: BookingBodySchema, querystring: BookingQuerySchema }
  }, async (request, reply) => {
    const { traveller, destination } = request.body
    const fail = request.query.fail ?? request.body.fail
    const payloads = Object.fromEntries(BOOK_STATES.map((state) => [state, { traveller, destination, simulateSoldOut: state === fail }]))
    const partnersUrl = new URL(await app.params.get(partnersUrlParam), ownUrl(app)).href
    // A SagaRollback thrown here answers 500 HALO_ERR_SAGA_ROLLBACK, naming the state that failed.
    const { sagaId, results } = await app.saga.run(SAGA, { payloads, context: { partnersUrl } satisfies TripContext })
    await publishTripBooked({ type: 'TripBooked', sagaId, traveller, destination })
    return reply.code(201).send({ sagaId, results })
  })

  app.get<{ Params: { sagaId: string } }>('/bookings/:sagaId', async (request) => {
    const record = await app.saga.log.get(request.params.sagaId)
    if (record === undefined) throw new TRAVEL_ERR_BOOKING_NOT_FOUND(request.params.sagaId)
    return record
  })

  return app
}
