// DynamoDB Streams records carry items in DynamoDB's typed JSON ({ "S": "x" }, { "N": "1" }). Routes get
// plain values. Written here rather than taken from @aws-sdk/util-dynamodb so that a handler fed by
// queues loads no SDK code; numbers keep their text when a JS number would not hold them exactly.

type AttributeValue = Record<string, unknown>

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function numberValue (text: unknown): unknown {
  const value = Number(text)
  return Number.isSafeInteger(value) || (!Number.isInteger(value) && String(value) === text) ? value : text
}

/** One attribute value as plain JSON: sets become arrays, binary stays base64 text as the stream sends it. */
export function unmarshallValue (attribute: unknown): unknown {
  if (!isObject(attribute)) return undefined
  if ('S' in attribute) return attribute.S
  if ('N' in attribute) return numberValue(attribute.N)
  if ('BOOL' in attribute) return attribute.BOOL
  if ('NULL' in attribute) return null
  if ('M' in attribute) return unmarshallItem(attribute.M)
  if ('L' in attribute) return Array.isArray(attribute.L) ? attribute.L.map(unmarshallValue) : undefined
  if ('NS' in attribute) return Array.isArray(attribute.NS) ? attribute.NS.map(numberValue) : undefined
  if ('SS' in attribute) return attribute.SS
  if ('BS' in attribute) return attribute.BS
  return (attribute as AttributeValue).B
}

/** An item (or key) as a plain object; anything but an object (a stream view without that image) is undefined. */
export function unmarshallItem (item: unknown): Record<string, unknown> | undefined {
  if (!isObject(item)) return undefined
  const plain: Record<string, unknown> = {}
  for (const name of Object.keys(item)) plain[name] = unmarshallValue(item[name])
  return plain
}
