// Writes the travel saga as a Step Functions state machine definition, for template.statemachine.yaml:
//   npx tsx examples/travel/state-machine.ts arn:aws:lambda:REGION:ACCOUNT:function:travel > examples/travel/travel.asl.json
// SAM substitutes the real ARN through DefinitionSubstitutions when given `${TravelFunctionArn}`, the default.
import { buildTravelApp, SAGA } from './app.js'

// eslint-disable-next-line no-template-curly-in-string -- SAM's substitution, written as SAM reads it
const functionArn = process.argv[2] ?? '${TravelFunctionArn}'
const app = await buildTravelApp({ logStream: { write () {} } })
await app.ready()
process.stdout.write(JSON.stringify(app.saga.stateMachine(SAGA, { functionArn }), null, 2) + '\n')
await app.close()
