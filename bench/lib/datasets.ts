/**
 * Key sets for the index benchmark. Every generator returns exactly `keyCount` distinct keys,
 * sorted ascending, as integer-valued doubles in [0, 2^53) (the range where every integer is exact).
 *
 * - uniform:   integers drawn uniformly from [0, 2^53).
 * - lognormal: floor(e^X * 1e9) with X ~ Normal(mu 0, sigma 2) — the SOSD "lognormal" recipe.
 *              Dense near 1e9 and very sparse in the tail (max about 1e14 at 10M keys).
 * - clustered: runs of 1,000..4,999 consecutive integers separated by gaps drawn uniformly from
 *              [2, 2 * meanGap) where the mean gap spreads the runs over about 2^52 — the shape of
 *              OpenStreetMap cell ids: locally dense, globally sparse, with a jump between runs.
 *
 * Two more for the comparison benchmark (`KEY_SETS`; the index benchmark keeps the first three):
 * - sequential: ids counting up from a random start, where one step in ten skips 1..64 ids (deleted
 *               rows, sequences with caching gaps).
 * - outliers:   uniform integers in [0, 16 * keyCount), except one key in a thousand drawn uniformly
 *               from [0, 2^53): a dense body with extreme outliers that stretch any single linear model.
 */
import { Prng } from './prng.js'

export const DISTRIBUTIONS = ['uniform', 'lognormal', 'clustered'] as const
export type Distribution = (typeof DISTRIBUTIONS)[number]

export const KEY_SETS = [...DISTRIBUTIONS, 'sequential', 'outliers'] as const
export type KeySetName = (typeof KEY_SETS)[number]

const SEQUENTIAL_SKIP_CHANCE = 0.1
const SEQUENTIAL_SKIP_MAX = 64
const OUTLIER_CHANCE = 0.001
const OUTLIER_BODY_SPREAD = 16

const TWO_POW_52 = 4503599627370496
const MAX_EXACT_KEY = 9007199254740991 // 2^53 - 1
const LOGNORMAL_SIGMA = 2
const LOGNORMAL_SCALE = 1e9
const CLUSTER_RUN_MIN = 1000
const CLUSTER_RUN_SPAN = 4000 // run length is MIN + [0, SPAN)

export function generateKeys(distribution: KeySetName, keyCount: number, seed: number): Float64Array {
  const rng = new Prng(seed, `keys:${distribution}:${keyCount}`)
  switch (distribution) {
    case 'uniform':
      return sortedDistinct(keyCount, rng, () => rng.nextUint53())
    case 'lognormal':
      return sortedDistinct(keyCount, rng, () =>
        Math.min(MAX_EXACT_KEY, Math.floor(Math.exp(LOGNORMAL_SIGMA * rng.nextNormal()) * LOGNORMAL_SCALE)),
      )
    case 'clustered':
      return clusteredKeys(keyCount, rng)
    case 'sequential':
      return sequentialKeys(keyCount, rng)
    case 'outliers': {
      const bodySpan = OUTLIER_BODY_SPREAD * keyCount
      return sortedDistinct(keyCount, rng, () => (rng.nextFloat() < OUTLIER_CHANCE ? rng.nextUint53() : rng.nextBelow(bodySpan)))
    }
  }
}

/** Draws keys until exactly keyCount distinct ones exist; surplus keys are dropped at random. */
function sortedDistinct(keyCount: number, rng: Prng, draw: () => number): Float64Array {
  let keys = new Float64Array(keyCount + Math.ceil(keyCount / 100) + 16)
  for (let i = 0; i < keys.length; i++) keys[i] = draw()
  keys.sort()
  let distinctCount = compactDuplicates(keys)
  while (distinctCount < keyCount) {
    const extraCount = Math.ceil((keyCount - distinctCount) * 1.5) + 16
    const grown = new Float64Array(distinctCount + extraCount)
    grown.set(keys.subarray(0, distinctCount))
    for (let i = distinctCount; i < grown.length; i++) grown[i] = draw()
    grown.sort()
    keys = grown
    distinctCount = compactDuplicates(keys)
  }
  return dropRandomSurplus(keys, distinctCount, keyCount, rng)
}

/** Moves the distinct values of a sorted array to its front; returns how many there are. */
function compactDuplicates(sorted: Float64Array): number {
  if (sorted.length === 0) return 0
  let writeIndex = 1
  for (let readIndex = 1; readIndex < sorted.length; readIndex++) {
    const key = sorted[readIndex]!
    if (key !== sorted[writeIndex - 1]) sorted[writeIndex++] = key
  }
  return writeIndex
}

/** Keeps keyCount of the first distinctCount keys, dropping a uniformly random subset of the rest. */
function dropRandomSurplus(keys: Float64Array, distinctCount: number, keyCount: number, rng: Prng): Float64Array {
  const dropped = new Uint8Array(distinctCount)
  let droppedCount = 0
  while (droppedCount < distinctCount - keyCount) {
    const index = rng.nextBelow(distinctCount)
    if (dropped[index] === 0) {
      dropped[index] = 1
      droppedCount++
    }
  }
  const result = new Float64Array(keyCount)
  let writeIndex = 0
  for (let i = 0; i < distinctCount; i++) if (dropped[i] === 0) result[writeIndex++] = keys[i]!
  return result
}

function clusteredKeys(keyCount: number, rng: Prng): Float64Array {
  const meanRunLength = CLUSTER_RUN_MIN + CLUSTER_RUN_SPAN / 2
  const expectedRunCount = Math.max(1, Math.ceil(keyCount / meanRunLength))
  const meanGap = Math.floor(TWO_POW_52 / expectedRunCount)
  const keys = new Float64Array(keyCount)
  let next = rng.nextBelow(meanGap)
  let index = 0
  while (index < keyCount) {
    const runLength = Math.min(keyCount - index, CLUSTER_RUN_MIN + rng.nextBelow(CLUSTER_RUN_SPAN))
    for (let i = 0; i < runLength; i++) keys[index++] = next++
    next += 2 + rng.nextBelow(2 * meanGap - 2)
  }
  if (keys[keyCount - 1]! > MAX_EXACT_KEY) throw new Error('clustered keys overflowed 2^53')
  return keys
}

function sequentialKeys(keyCount: number, rng: Prng): Float64Array {
  const keys = new Float64Array(keyCount)
  let next = rng.nextBelow(TWO_POW_52)
  for (let i = 0; i < keyCount; i++) {
    keys[i] = next
    next += 1 + (rng.nextFloat() < SEQUENTIAL_SKIP_CHANCE ? 1 + rng.nextBelow(SEQUENTIAL_SKIP_MAX) : 0)
  }
  if (keys[keyCount - 1]! > MAX_EXACT_KEY) throw new Error('sequential keys overflowed 2^53')
  return keys
}

/** Throws unless keys are strictly ascending (cheap insurance that every system sees the same set). */
export function assertStrictlyAscending(keys: Float64Array): void {
  for (let i = 1; i < keys.length; i++) {
    if (!(keys[i - 1]! < keys[i]!)) throw new Error(`keys not strictly ascending at index ${i}`)
  }
}
