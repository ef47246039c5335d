/**
 * Operation plans: every key a timed loop touches is drawn here, before timing, into Float64Arrays
 * shared by all systems and all repetitions. The expected checksum of each plan is computed from the
 * plan itself, so each system is checked against the truth, not only against the others.
 *
 * Values: the value stored with a key is its index in the sorted key set (0..keyCount-1), which keeps
 * every checksum of looked-up values an exact integer.
 */
import { Prng, randomPermutation } from './prng.js'
import { lowerBound } from './systems/array-system.js'

export interface KeySet {
  sortedKeys: Float64Array
  /** values[i] = i: the value stored with sortedKeys[i]. */
  values: Float64Array
}

/** Lookups of existing keys, drawn independently and uniformly over the loaded keys (no misses). */
export interface LookupPlan {
  queryKeys: Float64Array
  /** The value each query must find. */
  expectedValues: Float64Array
}

export interface ScanPlan {
  startKeys: Float64Array
  scanLength: number
}

/** Bulk load a random half of the keys, then insert the other half in random order; after insert j,
 *  look up a key drawn uniformly from all keys present at that moment (the loaded half and inserts
 *  0..j), so every lookup hits. */
export interface MixedPlan {
  initial: KeySet
  insertKeys: Float64Array
  insertValues: Float64Array
  queryKeys: Float64Array
  expectedValues: Float64Array
}

/** All keys in random order, inserted into an empty index. */
export interface InsertPlan {
  insertKeys: Float64Array
  insertValues: Float64Array
}

export function makeKeySet(sortedKeys: Float64Array): KeySet {
  const values = new Float64Array(sortedKeys.length)
  for (let i = 0; i < values.length; i++) values[i] = i
  return { sortedKeys, values }
}

export function makeLookupPlan(keySet: KeySet, queryCount: number, rng: Prng): LookupPlan {
  const keyCount = keySet.sortedKeys.length
  const queryKeys = new Float64Array(queryCount)
  const expectedValues = new Float64Array(queryCount)
  for (let i = 0; i < queryCount; i++) {
    const index = rng.nextBelow(keyCount)
    queryKeys[i] = keySet.sortedKeys[index]!
    expectedValues[i] = index
  }
  return { queryKeys, expectedValues }
}

/** Start keys are existing keys chosen so that every scan can visit a full scanLength entries. */
export function makeScanPlan(keySet: KeySet, scanCount: number, scanLength: number, rng: Prng): ScanPlan {
  const startCount = keySet.sortedKeys.length - scanLength + 1
  if (startCount < 1) throw new Error('scan plan: fewer keys than one scan')
  const startKeys = new Float64Array(scanCount)
  for (let s = 0; s < scanCount; s++) startKeys[s] = keySet.sortedKeys[rng.nextBelow(startCount)]!
  return { startKeys, scanLength }
}

export function makeMixedPlan(keySet: KeySet, rng: Prng): MixedPlan {
  const keyCount = keySet.sortedKeys.length
  const initialCount = Math.floor(keyCount / 2)
  const insertCount = keyCount - initialCount
  const permutation = randomPermutation(keyCount, rng)
  const initialIndexes = permutation.slice(0, initialCount).sort()
  const initial: KeySet = {
    sortedKeys: gatherKeys(keySet.sortedKeys, initialIndexes),
    values: Float64Array.from(initialIndexes),
  }
  const insertIndexes = permutation.subarray(initialCount)
  const insertKeys = gatherKeys(keySet.sortedKeys, insertIndexes)
  const insertValues = Float64Array.from(insertIndexes)
  const queryKeys = new Float64Array(insertCount)
  const expectedValues = new Float64Array(insertCount)
  for (let j = 0; j < insertCount; j++) {
    const pick = rng.nextBelow(initialCount + j + 1)
    const index = pick < initialCount ? initialIndexes[pick]! : insertIndexes[pick - initialCount]!
    queryKeys[j] = keySet.sortedKeys[index]!
    expectedValues[j] = index
  }
  return { initial, insertKeys, insertValues, queryKeys, expectedValues }
}

export function makeInsertPlan(keySet: KeySet, rng: Prng): InsertPlan {
  const permutation = randomPermutation(keySet.sortedKeys.length, rng)
  return { insertKeys: gatherKeys(keySet.sortedKeys, permutation), insertValues: Float64Array.from(permutation) }
}

function gatherKeys(sortedKeys: Float64Array, indexes: Uint32Array): Float64Array {
  const keys = new Float64Array(indexes.length)
  for (let i = 0; i < indexes.length; i++) keys[i] = sortedKeys[indexes[i]!]!
  return keys
}

/** Sum of the first count expected values, in the order the systems add them. */
export function expectedValueSum(expectedValues: Float64Array, count: number): number {
  let sum = 0
  for (let i = 0; i < count; i++) sum += expectedValues[i]!
  return sum
}

/** The checksum a correct rangeScans() returns, computed from the sorted key set. */
export function expectedScanSum(keySet: KeySet, plan: ScanPlan, scanCount: number): number {
  const { sortedKeys, values } = keySet
  let sum = 0
  for (let s = 0; s < scanCount; s++) {
    const first = lowerBound(sortedKeys, sortedKeys.length, plan.startKeys[s]!)
    const end = Math.min(sortedKeys.length, first + plan.scanLength)
    for (let i = first; i < end; i++) sum += sortedKeys[i]! + values[i]!
  }
  return sum
}
