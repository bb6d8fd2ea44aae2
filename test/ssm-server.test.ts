import t from 'tap'
import {
  GetParameterCommand, GetParametersByPathCommand, GetParametersCommand, PutParameterCommand
} from '@aws-sdk/client-ssm'
import { ssmForTest } from './helpers/ssm-server.js'

t.test('PutParameter and GetParameter, with SecureString decryption', async (t) => {
  const { server, client } = await ssmForTest(t)
  t.match(await client.send(new PutParameterCommand({ Name: '/app/url', Value: 'https://x' })), { Version: 1, Tier: 'Standard' })
  await client.send(new PutParameterCommand({ Name: '/app/password', Value: 'hunter2', Type: 'SecureString' }))
  await t.rejects(client.send(new PutParameterCommand({ Name: '/app/url', Value: 'y' })), { name: 'ParameterAlreadyExists' })
  t.match(await client.send(new PutParameterCommand({ Name: '/app/url', Value: 'https://y', Overwrite: true })), { Version: 2 })

  const { Parameter } = await client.send(new GetParameterCommand({ Name: '/app/url' }))
  t.match(Parameter, { Name: '/app/url', Value: 'https://y', Type: 'String', Version: 2, ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/app/url' })
  t.type(Parameter?.LastModifiedDate, Date)

  const encrypted = await client.send(new GetParameterCommand({ Name: '/app/password' }))
  t.equal(encrypted.Parameter?.Value, server.ciphertext('hunter2'))
  t.notMatch(encrypted.Parameter?.Value, /hunter2/)
  const decrypted = await client.send(new GetParameterCommand({ Name: '/app/password', WithDecryption: true }))
  t.equal(decrypted.Parameter?.Value, 'hunter2')

  server.put('plain-name', 'v')
  t.equal((await client.send(new GetParameterCommand({ Name: 'plain-name' }))).Parameter?.ARN,
    'arn:aws:ssm:us-east-1:123456789012:parameter/plain-name')
  t.same(server.calls, { GetParameter: 4, GetParameters: 0, GetParametersByPath: 0, PutParameter: 4 })
})

t.test('ParameterNotFound is an SSM error in a 400 body', async (t) => {
  const { client } = await ssmForTest(t)
  const error = await client.send(new GetParameterCommand({ Name: '/nope' })).catch((error: unknown) => error)
  t.match(error, { name: 'ParameterNotFound', $metadata: { httpStatusCode: 400 } })
})

t.test('GetParameters takes at most 10 names and lists the invalid ones', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/a', '1')
  server.put('/b', '2', 'SecureString')
  const output = await client.send(new GetParametersCommand({ Names: ['/a', '/b', '/c'] }))
  t.same(output.Parameters?.map((parameter) => [parameter.Name, parameter.Value]), [['/a', '1'], ['/b', server.ciphertext('2')]])
  t.same(output.InvalidParameters, ['/c'])
  const names = Array.from({ length: 11 }, (_, index) => `/n${index}`)
  await t.rejects(client.send(new GetParametersCommand({ Names: names })), { name: 'ValidationException' })
})

t.test('GetParametersByPath pages by NextToken, 10 at most, recursively or not', async (t) => {
  const { server, client } = await ssmForTest(t)
  for (let index = 0; index < 25; index++) server.put(`/app/p${String(index).padStart(2, '0')}`, `v${index}`)
  server.put('/app/deep/x', 'x', 'SecureString')
  server.put('/other', 'o')

  const names: string[] = []
  let nextToken: string | undefined
  do {
    const page = await client.send(new GetParametersByPathCommand({ Path: '/app', NextToken: nextToken }))
    t.ok(page.Parameters!.length <= 10)
    names.push(...page.Parameters!.map((parameter) => parameter.Name!))
    nextToken = page.NextToken
  } while (nextToken !== undefined)
  t.equal(names.length, 25)
  t.equal(server.calls.GetParametersByPath, 3)

  const recursive = await client.send(new GetParametersByPathCommand({ Path: '/app/', Recursive: true, MaxResults: 10, WithDecryption: true }))
  t.equal(recursive.Parameters![0].Name, '/app/deep/x')
  t.equal(recursive.Parameters![0].Value, 'x')
  await t.rejects(client.send(new GetParametersByPathCommand({ Path: '/app', MaxResults: 11 })), { name: 'ValidationException' })
})

t.test('injected throttling is retried by the SDK with its backoff; other errors are not', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/a', '1')
  server.failNext(2)
  t.equal((await client.send(new GetParameterCommand({ Name: '/a' }))).Parameter?.Value, '1')
  t.equal(server.calls.GetParameter, 3)
  t.same(client.retryAttempts, [1, 2], 'one backoff per retry')

  server.resetCalls()
  server.failNext(1, 'AccessDeniedException')
  await t.rejects(client.send(new GetParameterCommand({ Name: '/a' })), { name: 'AccessDeniedException' })
  t.equal(server.calls.GetParameter, 1)
})

t.test('latency and a hold delay answers; requests are counted on arrival', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/a', '1')
  server.latencyMs = 5
  server.pause()
  let answered = false
  const pending = client.send(new GetParameterCommand({ Name: '/a' })).then((output) => {
    answered = true
    return output
  })
  while (server.calls.GetParameter === 0) await new Promise((resolve) => setTimeout(resolve, 1))
  t.notOk(answered)
  server.resume()
  t.equal((await pending).Parameter?.Value, '1')
})

t.test('hanging: requests are counted and never answered; later ones are answered once it stops', async (t) => {
  const { server, client } = await ssmForTest(t)
  server.put('/a', '1')
  server.hanging = true
  const hung = client.send(new GetParameterCommand({ Name: '/a' }), { abortSignal: AbortSignal.timeout(200) })
  await t.rejects(hung, { name: 'AbortError' }, 'only the client gives up')
  t.equal(server.calls.GetParameter, 1)
  server.hanging = false
  t.equal((await client.send(new GetParameterCommand({ Name: '/a' }))).Parameter?.Value, '1')
})

t.test('an unknown operation is refused', async (t) => {
  const { server } = await ssmForTest(t)
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'x-amz-target': 'AmazonSSM.DeleteParameter', 'content-type': 'application/x-amz-json-1.1' },
    body: '{}'
  })
  t.equal(response.status, 400)
  t.match(await response.json(), { __type: 'UnknownOperationException' })
})
