/**
 * Everything a timed loop of the store benchmark touches is drawn here, before timing, from seeded
 * streams (lib/prng.ts), so a run is reproduced by its --seed and every cache setting and page size
 * sees the same keys in the same order.
 *
 * Keys: uniform random integers in [0, 2^53) from lib/datasets.ts. keyCount + newKeyCount distinct
 * keys are drawn; a random newKeyCount of them are held out of the bulk load and inserted by the
 * random-put phase, so "new key" puts are keys the store has never seen.
 */
import { generateKeys } from '../datasets.js'
import { Prng, randomPermutation } from '../prng.js'
import { VALUE_BYTES, expectedChecksum, writeValue } from './values.js'

export interface StoreKeySet {
  /** Every key of the run, sorted; a value's first word is its key's index here. */
  allKeys: Float64Array
  /** 1 where allKeys[i] is bulk loaded, 0 where it is held out for the put phase. */
  loadedMask: Uint8Array
  /** The bulk-loaded keys, sorted, and the allKeys index of each. */
  loadedKeys: Float64Array
  loadedToAll: Uint32Array
  /** allKeys indexes of the held-out keys, in random order. */
  newKeyIndexes: Uint32Array
  valueSeed: number
}

export type BatchOp = { type: 'put'; key: number; value: Uint8Array }

export type LoadOrder = 'random' | 'sorted'

/** Gets of loaded keys, drawn independently and uniformly, with the checksum each must return. */
export interface GetPlan {
  keys: Float64Array
  checksums: Uint32Array
}

/** Range scans: each starts at an existing key chosen so that `limit` keys follow it. */
export interface ScanPlan {
  /** Index into loadedKeys of each scan's first key. */
  startIndexes: Uint32Array
  limit: number
}

/** Random puts: overwrites of distinct loaded keys and inserts of the held-out keys, shuffled. */
export interface PutPlan {
  keys: Float64Array
  values: Uint8Array[]
  /** allKeys index of each put. */
  indexes: Uint32Array
  overwriteCount: number
  newCount: number
}

export const PUT_VERSION = 1

export function makeStoreKeySet(keyCount: number, newKeyCount: number, seed: number): StoreKeySet {
  const totalCount = keyCount + newKeyCount
  const allKeys = generateKeys('uniform', totalCount, seed)
  const rng = new Prng(seed, `store:holdout:${keyCount}:${newKeyCount}`)
  const newKeyIndexes = randomPermutation(totalCount, rng).slice(0, newKeyCount)
  const loadedMask = new Uint8Array(totalCount).fill(1)
  for (const index of newKeyIndexes) loadedMask[index] = 0
  const loadedKeys = new Float64Array(keyCount)
  const loadedToAll = new Uint32Array(keyCount)
  let loadedCount = 0
  for (let i = 0; i < totalCount; i++) {
    if (loadedMask[i] === 0) continue
    loadedKeys[loadedCount] = allKeys[i]!
    loadedToAll[loadedCount++] = i
  }
  if (loadedCount !== keyCount) throw new Error(`key set: ${loadedCount} loaded keys, expected ${keyCount}`)
  return { allKeys, loadedMask, loadedKeys, loadedToAll, newKeyIndexes, valueSeed: seed >>> 0 }
}

/**
 * The bulk load as batch() chunks of batchSize puts, every loaded key once, in random or ascending
 * order. Each chunk's values are views into one buffer of its own, never reused, so a store that
 * keeps a reference to a value (or ignores byteOffset) is caught by the verification.
 */
export function makeLoadChunks(keySet: StoreKeySet, batchSize: number, order: LoadOrder, seed: number): BatchOp[][] {
  const { loadedKeys, loadedToAll, valueSeed } = keySet
  const count = loadedKeys.length
  const permutation = order === 'random' ? randomPermutation(count, new Prng(seed, `store:load-order:${count}`)) : undefined
  const chunks: BatchOp[][] = []
  for (let start = 0; start < count; start += batchSize) {
    const length = Math.min(batchSize, count - start)
    const buffer = new Uint8Array(length * VALUE_BYTES)
    const chunk: BatchOp[] = new Array<BatchOp>(length)
    for (let j = 0; j < length; j++) {
      const loadedIndex = permutation === undefined ? start + j : permutation[start + j]!
      const value = buffer.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES)
      writeValue(value, 0, loadedToAll[loadedIndex]!, 0, valueSeed)
      chunk[j] = { type: 'put', key: loadedKeys[loadedIndex]!, value }
    }
    chunks.push(chunk)
  }
  return chunks
}

export function makeGetPlan(keySet: StoreKeySet, count: number, rng: Prng): GetPlan {
  const { loadedKeys, loadedToAll, valueSeed } = keySet
  const keys = new Float64Array(count)
  const checksums = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    const loadedIndex = rng.nextBelow(loadedKeys.length)
    keys[i] = loadedKeys[loadedIndex]!
    checksums[i] = expectedChecksum(loadedToAll[loadedIndex]!, 0, valueSeed)
  }
  return { keys, checksums }
}

export function makeScanPlan(keySet: StoreKeySet, count: number, limit: number, rng: Prng): ScanPlan {
  const startCount = keySet.loadedKeys.length - limit + 1
  if (startCount < 1) throw new Error(`scan plan: fewer keys than one scan of ${limit}`)
  const startIndexes = new Uint32Array(count)
  for (let i = 0; i < count; i++) startIndexes[i] = rng.nextBelow(startCount)
  return { startIndexes, limit }
}

/** overwriteCount distinct loaded keys (drawn without replacement) plus every held-out key, shuffled. */
export function makePutPlan(keySet: StoreKeySet, overwriteCount: number, rng: Prng): PutPlan {
  const { allKeys, loadedToAll, newKeyIndexes, valueSeed } = keySet
  if (overwriteCount > loadedToAll.length) throw new Error('put plan: more overwrites than loaded keys')
  const newCount = newKeyIndexes.length
  const count = overwriteCount + newCount
  const overwrites = randomPermutation(loadedToAll.length, rng)
  const indexes = new Uint32Array(count)
  for (let i = 0; i < overwriteCount; i++) indexes[i] = loadedToAll[overwrites[i]!]!
  indexes.set(newKeyIndexes, overwriteCount)
  const order = randomPermutation(count, rng)
  const shuffled = new Uint32Array(count)
  for (let i = 0; i < count; i++) shuffled[i] = indexes[order[i]!]!
  const keys = new Float64Array(count)
  const buffer = new Uint8Array(count * VALUE_BYTES)
  const values = new Array<Uint8Array>(count)
  for (let i = 0; i < count; i++) {
    keys[i] = allKeys[shuffled[i]!]!
    values[i] = buffer.subarray(i * VALUE_BYTES, (i + 1) * VALUE_BYTES)
    writeValue(values[i]!, 0, shuffled[i]!, PUT_VERSION, valueSeed)
  }
  return { keys, values, indexes: shuffled, overwriteCount, newCount }
}
