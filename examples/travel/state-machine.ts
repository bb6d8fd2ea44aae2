// Writes the travel saga as a Step Functions state machine definition, for template.yaml (TravelStateMachine):
//   npx tsx examples/travel/state-machine.ts > examples/travel/travel.asl.json
// Its tasks name `${TravelFunctionArn}`, which SAM substitutes through DefinitionSubstitutions; a function
// ARN given as the argument is written in its place, for a state machine made without SAM.
import { buildTravelApp, SAGA } from './app.js'

// eslint-disable-next-line no-template-curly-in-string -- SAM's substitution, written as SAM reads it
const functionArn = process.argv[2] ?? '${TravelFunctionArn}'
const app = await buildTravelApp({ logStream: { write () {} } })
await app.ready()
process.stdout.write(JSON.stringify(app.saga.stateMachine(SAGA, { functionArn }), null, 2) + '\n')
await app.close()
