// UUID v4 for every id Halo makes (correlation, trace, saga and owner ids). Node's randomUUID joins sixteen
// two-letter strings and four dashes, about 590 bytes of rope per id that the first read flattens; every
// request that arrives without a correlation id makes one, so the id is written as ASCII into one buffer and
// read out as one string.
import { randomFillSync } from './builtins.js'

/** Ids drawn from one fill of random bytes, as Node batches them. */
const IDS_PER_FILL = 128
const randomBytes = Buffer.allocUnsafeSlow(16 * IDS_PER_FILL)
let nextId = IDS_PER_FILL
const text = Buffer.allocUnsafeSlow(36)
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1')

/** A random (version 4) UUID in its 36-character form, from the same CSPRNG as `crypto.randomUUID`. */
export function uuidV4 (): string {
  if (nextId === IDS_PER_FILL) {
    randomFillSync(randomBytes)
    nextId = 0
  }
  const offset = 16 * nextId++
  let at = 0
  for (let index = 0; index < 16; index++) {
    if (index === 4 || index === 6 || index === 8 || index === 10) text[at++] = 0x2d // '-'
    let byte = randomBytes[offset + index]!
    if (index === 6) byte = (byte & 0x0f) | 0x40 // version 4
    else if (index === 8) byte = (byte & 0x3f) | 0x80 // RFC 9562 variant
    text[at++] = HEX_DIGITS[byte >> 4]!
    text[at++] = HEX_DIGITS[byte & 0x0f]!
  }
  return text.toString('latin1', 0, 36)
}
