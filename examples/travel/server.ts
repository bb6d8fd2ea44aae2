// `npm start`: the travel service on http://127.0.0.1:3000 (PORT overrides) with embedded defaults: a
// memory saga log and params.local.json. No AWS needed.
import { buildTravelApp } from './app.js'

const { PORT = '3000' } = process.env
const app = await buildTravelApp()
// Closing on a signal lets bookings in flight finish, compensations included, before the process ends.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => app.close())
await app.listen({ port: Number(PORT), host: '127.0.0.1' })
