import { createLambdaHandler } from './variants/middy.js'
import { httpApiEvent, lambdaContext } from './support/lambda-events.js'
const handler = await createLambdaHandler()
const r = await handler(httpApiEvent({ method: 'GET', path: '/json' }), lambdaContext())
if (r.statusCode !== 200) throw new Error(String(r.statusCode))
