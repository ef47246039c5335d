/**
 * Keys and values of the WAL phases (durable writes, recovery), drawn before any timing from seeded
 * streams. The recovery phase's writer child draws the same ones from the same (count, seed), so the
 * parent can check what the recovered store holds without being sent the keys.
 */
import { generateKeys } from '../datasets.js'
import { Prng, shuffleInPlace } from '../prng.js'
import { VALUE_BYTES, writeValue } from './values.js'

/** The version word of the values each phase writes (the bulk load writes 0, the random puts 1). */
export const DURABLE_VERSION = 2
export const RECOVERY_VERSION = 3

/** The writer child (store-wal-child.ts) prints this and a JSON WalChildReport once every put resolved. */
export const WAL_CHILD_DONE_PREFIX = 'WAL-CHILD-DONE '

/** count distinct uniform random keys in [0, 2^53), in random order. */
export function makeShuffledKeys(count: number, seed: number, purpose: string): Float64Array {
  const keys = generateKeys('uniform', count, seed)
  shuffleInPlace(keys, new Prng(seed, `store:${purpose}:order:${count}`))
  return keys
}

/** value(i, version) for i in [0, count), back to back: put i writes bytes [16 i, 16 i + 16). */
export function makeValues(count: number, version: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(count * VALUE_BYTES)
  for (let i = 0; i < count; i++) writeValue(bytes, i * VALUE_BYTES, i, version, seed >>> 0)
  return bytes
}
