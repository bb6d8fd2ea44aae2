// examples/travel/template.yaml deploys what the service uses, and no more: the DynamoDB, SSM and SQS calls
// the travel service makes in its deployed configuration (recorded on its real SDK clients while it books,
// replays, rolls back and reads a booking) are exactly the actions the function's policy grants, on exactly
// those resources, with no wildcard; every environment variable the service reads is set by the template.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { parse, type CollectionTag, type ScalarTag } from 'yaml'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SQSClient } from '@aws-sdk/client-sqs'
import type { ForwardableClient } from '../index.js'
import { buildTravelApp } from '../examples/travel/app.js'
import { deployedOptions, ENVIRONMENT } from '../examples/travel/environment.js'
import { localClientConfig } from '../support/dynamodb-local.js'
import { captureLogs } from './helpers/logs.js'
import { runCommand } from './helpers/processes.js'
import { ssmClient } from './helpers/ssm-server.js'
import { deployTravel } from './helpers/travel-deployment.js'
import { TEST_CREDENTIALS } from './helpers/aws-stand-in.js'

type Intrinsic = { Ref: string } | { 'Fn::GetAtt': string[] } | { 'Fn::Sub': string }

/** CloudFormation's short forms, as the long forms CloudFormation itself reads. */
const cloudFormationTags: Array<ScalarTag | CollectionTag> = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!GetAtt', resolve: (value: string) => ({ 'Fn::GetAtt': value.split('.') }) },
  { tag: '!Sub', resolve: (value: string) => ({ 'Fn::Sub': value }) }
]

interface Statement { Action: string | string[], Resource: Intrinsic | string | Array<Intrinsic | string> }
interface Template {
  Transform: string
  Resources: Record<string, { Type: string, Properties: Record<string, any> }>
}

const source = await readFile(new URL('../examples/travel/template.yaml', import.meta.url), 'utf8')
const template = parse(source, { customTags: cloudFormationTags }) as Template
const fn = template.Resources.TravelFunction!.Properties
const variables = fn.Environment.Variables as Record<string, Intrinsic>
const statements = fn.Policies.flatMap((policy: { Statement: Statement[] }) => policy.Statement) as Statement[]
const list = <T>(value: T | T[]): T[] => Array.isArray(value) ? value : [value]

/** The calls an SDK client sends: its command and the resource it names. */
function recordCalls (client: ForwardableClient, service: 'dynamodb' | 'ssm' | 'sqs', calls: Set<string>): void {
  client.middlewareStack.add((next, context) => async (args) => {
    const input = args.input as { TableName?: string, IndexName?: string, Name?: string, QueueUrl?: string }
    calls.add(JSON.stringify([`${service}:${String(context.commandName).replace(/Command$/, '')}`, input.Name ?? input.QueueUrl ?? input.TableName, input.IndexName]))
    return await next(args)
  }, { step: 'initialize', name: 'haloTemplateTestRecorder', override: false })
}

t.test('a SAM template with an HTTP API, the function on nodejs24.x, the tables and the parameter', async (t) => {
  t.equal(template.Transform, 'AWS::Serverless-2016-10-31')
  t.equal(fn.Runtime, 'nodejs24.x')
  t.match(fn.Events, { Api: { Type: 'HttpApi' } })
  for (const table of ['IdempotencyTable', 'SagaTable']) {
    t.match(template.Resources[table], { Type: 'AWS::DynamoDB::Table', Properties: { TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true } } }, `${table}: TTL on expiration`)
  }
  t.match(template.Resources.IdempotencyTable!.Properties.KeySchema, [{ AttributeName: 'id', KeyType: 'HASH' }])
  // eslint-disable-next-line no-template-curly-in-string -- CloudFormation's own ${} substitution
  t.match(template.Resources.PartnersUrlParameter, { Type: 'AWS::SSM::Parameter', Properties: { Name: { 'Fn::Sub': '${ParametersPath}/partners-url' } } })
  t.match(template.Resources.TripBookedQueue, { Type: 'AWS::SQS::Queue', Properties: { RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['TripBookedDeadLetterQueue', 'Arn'] } } } })
  t.match(fn.Events.TripBooked, { Type: 'SQS', Properties: { Queue: { 'Fn::GetAtt': ['TripBookedQueue', 'Arn'] }, FunctionResponseTypes: ['ReportBatchItemFailures'] } }, 'the function consumes the queue, reporting only failed records')
})

t.test('the travel saga as an Express state machine whose tasks invoke TravelFunction, and nothing more', async (t) => {
  t.same(template.Resources.TravelStateMachine, {
    Type: 'AWS::Serverless::StateMachine',
    Properties: {
      Type: 'EXPRESS',
      DefinitionUri: 'travel.asl.json',
      DefinitionSubstitutions: { TravelFunctionArn: { 'Fn::GetAtt': ['TravelFunction', 'Arn'] } },
      Policies: [{ LambdaInvokePolicy: { FunctionName: { Ref: 'TravelFunction' } } }]
    }
  })
  const { stdout } = await runCommand(process.execPath, [...process.execArgv, fileURLToPath(new URL('../examples/travel/state-machine.ts', import.meta.url))], fileURLToPath(new URL('..', import.meta.url)))
  const tasks = Object.values((JSON.parse(stdout) as { States: Record<string, { Type: string, Parameters?: { FunctionName?: string } }> }).States).filter(({ Type }) => Type === 'Task')
  t.ok(tasks.length > 0)
  // eslint-disable-next-line no-template-curly-in-string -- SAM's substitution, as the definition names it
  t.ok(tasks.every((task) => task.Parameters?.FunctionName === '${TravelFunctionArn}'), 'state-machine.ts writes tasks that invoke the substituted function')
})

t.test('every variable the deployed service reads is set, and it refuses to start without one', async (t) => {
  t.same(Object.keys(variables).sort(), [...ENVIRONMENT].sort())
  for (const file of ['lambda.ts', 'app.ts', 'environment.ts', 'partners.ts', 'errors.ts']) {
    const text = await readFile(new URL(`../examples/travel/${file}`, import.meta.url), 'utf8')
    for (const [, name] of text.matchAll(/process\.env\.(\w+)/g)) t.ok(name! in variables, `${file} reads ${name}, which the template sets`)
  }
  t.throws(() => deployedOptions({ IDEMPOTENCY_TABLE: 'travel-idempotency', SAGA_TABLE: 'travel-sagas' }), /needs the environment variable PARAMS_PATH/)
  t.throws(() => deployedOptions({ IDEMPOTENCY_TABLE: 'travel-idempotency', SAGA_TABLE: 'travel-sagas', PARAMS_PATH: '/travel' }), /needs the environment variable TRIP_BOOKED_QUEUE_URL/)
})

t.test('the policy grants exactly the calls the service makes, on exactly those resources', async (t) => {
  const partners = await buildTravelApp({ logStream: captureLogs().stream })
  t.teardown(() => partners.close())
  await partners.listen({ port: 0, host: '127.0.0.1' })
  const { env, dynamodb: local, ssm: ssmServer, sqs: queue } = await deployTravel(t, `http://127.0.0.1:${(partners.server.address() as AddressInfo).port}/partners`)
  const calls = new Set<string>()
  const dynamodb = new DynamoDBClient(localClientConfig(local.endpoint))
  const ssm = ssmClient(ssmServer.url)
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: queue.endpoint, credentials: TEST_CREDENTIALS })
  t.teardown(() => { dynamodb.destroy(); ssm.destroy(); sqs.destroy() })
  recordCalls(dynamodb, 'dynamodb', calls)
  recordCalls(ssm, 'ssm', calls)
  recordCalls(sqs, 'sqs', calls)
  const app = await buildTravelApp({ ...deployedOptions(env, { dynamodb, ssm, sqs }), logStream: captureLogs().stream })
  t.teardown(() => app.close())

  const book = (query: string, key: string) => app.inject({
    method: 'POST', url: `/bookings${query}`, headers: { 'idempotency-key': key }, payload: { traveller: 'Ada', destination: 'Lisbon' }
  })
  const booked = await book('', 'trip-1')
  t.equal(booked.statusCode, 201)
  t.equal((await book('', 'trip-1')).headers['idempotent-replayed'], 'true')
  t.equal((await book('?fail=BookRental', 'trip-2')).statusCode, 500)
  t.equal((await app.inject(`/bookings/${booked.json().sagaId}`)).statusCode, 200)

  t.equal(queue.requests.length, 1, 'the committed booking reached the queue')
  // A recorded table name or queue URL stands for the resource whose reference sets the variable holding it.
  const tableOf = (name: string): string | undefined => {
    const set = variables[ENVIRONMENT.find((variable) => env[variable] === name)!]
    return set !== undefined && 'Ref' in set ? set.Ref : undefined
  }
  const seen = [...calls].map((call) => {
    const [action, name, index] = JSON.parse(call) as [string, string, string | null]
    const resource = action.startsWith('ssm:')
      // eslint-disable-next-line no-template-curly-in-string -- CloudFormation's own ${} substitution
      ? { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${name.replace(env.PARAMS_PATH!, '${ParametersPath}')}` }
      : action.startsWith('sqs:') || index === null ? { 'Fn::GetAtt': [tableOf(name), 'Arn'] } : { 'Fn::Sub': `\${${tableOf(name)}.Arn}/index/${index}` }
    return JSON.stringify([action, resource])
  })
  const granted = statements.flatMap((statement) => list(statement.Action).flatMap((action) => list(statement.Resource).map((resource) => JSON.stringify([action, resource]))))
  t.same([...new Set(granted)].sort(), [...new Set(seen)].sort(), 'granted = called')
  t.notOk(granted.some((grant) => grant.includes('*')), 'no wildcard in an action or a resource')
})
