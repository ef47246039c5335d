/**
 * Values for the store benchmark: 16 bytes that say which key and which write they belong to, so a
 * value read back is checked against the truth rather than against another system.
 *
 *   offset 0  u32 LE  index of the key in the run's sorted key set (StoreKeySet.allKeys)
 *   offset 4  u32 LE  version: 0 for the bulk load, 1 for the random-put phase
 *   offset 8  u32 LE  mix(index, version, seed)
 *   offset 12 u32 LE  mix of the word before it
 *
 * valueChecksum() is FNV-1a over every byte of whatever was returned, so a wrong length, a value of
 * another key, an old version or a single flipped byte all change it.
 */

export const VALUE_BYTES = 16

/** Writes value(index, version) into target at byteOffset. */
export function writeValue(target: Uint8Array, byteOffset: number, index: number, version: number, seed: number): void {
  const word2 = mix32((index ^ Math.imul(version + 1, 0x9e3779b1) ^ seed) >>> 0)
  const word3 = mix32((word2 + 0x7f4a7c15) >>> 0)
  writeU32(target, byteOffset, index)
  writeU32(target, byteOffset + 4, version)
  writeU32(target, byteOffset + 8, word2)
  writeU32(target, byteOffset + 12, word3)
}

/** The checksum a correct read of value(index, version) has. */
export function expectedChecksum(index: number, version: number, seed: number): number {
  writeValue(scratch, 0, index, version, seed)
  return valueChecksum(scratch)
}
const scratch = new Uint8Array(VALUE_BYTES)

/** FNV-1a over all bytes of value, as an unsigned 32-bit integer. Kept small so the JIT inlines it. */
export function valueChecksum(value: Uint8Array): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < value.length; i++) hash = Math.imul(hash ^ value[i]!, 0x01000193)
  return hash >>> 0
}

/** The key index stored in a value's first word (no allocation; used inside timed scans). */
export function valueIndex(value: Uint8Array): number {
  return (value[0]! | (value[1]! << 8) | (value[2]! << 16) | (value[3]! << 24)) >>> 0
}

function writeU32(target: Uint8Array, byteOffset: number, word: number): void {
  target[byteOffset] = word & 0xff
  target[byteOffset + 1] = (word >>> 8) & 0xff
  target[byteOffset + 2] = (word >>> 16) & 0xff
  target[byteOffset + 3] = (word >>> 24) & 0xff
}

/** murmur3's 32-bit finalizer. */
function mix32(word: number): number {
  let h = word
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
