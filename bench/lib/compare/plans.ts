/**
 * What every system is asked, drawn from the run's seed so that each child process (one per system)
 * builds exactly the same keys and the same query streams without passing them around.
 *
 * - The key set: `keyCount` keys are loaded; `insertCount` more keys of the same distribution are held
 *   out, in random order, for the random-insert workload.
 * - Query streams are drawn fresh for every repetition (never replayed), uniform over the loaded keys
 *   or Zipfian (theta 0.99, the YCSB constant) over a scrambled rank, so hot keys are spread over the
 *   key space rather than clustered at its start.
 */
import { generateKeys, type KeySetName } from '../datasets.js'
import { Prng } from '../prng.js'

export interface CompareKeySet {
  /** Ascending. */
  loaded: Float64Array
  /** Distinct from `loaded`, in random order. */
  held: Float64Array
}

export function makeCompareKeySet(dataset: KeySetName, keyCount: number, insertCount: number, seed: number): CompareKeySet {
  const all = generateKeys(dataset, keyCount + insertCount, seed)
  const rng = new Prng(seed, `compare-held:${dataset}:${keyCount}:${insertCount}`)
  const isHeld = new Uint8Array(all.length)
  let heldCount = 0
  while (heldCount < insertCount) {
    const index = rng.nextBelow(all.length)
    if (isHeld[index] === 0) {
      isHeld[index] = 1
      heldCount++
    }
  }
  const loaded = new Float64Array(keyCount)
  const held = new Float64Array(insertCount)
  let loadedIndex = 0
  let heldIndex = 0
  for (let i = 0; i < all.length; i++) {
    if (isHeld[i] === 1) held[heldIndex++] = all[i]!
    else loaded[loadedIndex++] = all[i]!
  }
  for (let i = held.length - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1)
    const swap = held[i]!
    held[i] = held[j]!
    held[j] = swap
  }
  return { loaded, held }
}

export type QueryShape = 'uniform' | 'zipf'

/** YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record synthetic databases"). */
export class Zipfian {
  private readonly alpha: number
  private readonly zetaN: number
  private readonly eta: number
  private readonly theta: number
  private readonly count: number

  constructor(count: number, theta = 0.99) {
    this.count = count
    this.theta = theta
    let zeta = 0
    for (let i = 1; i <= count; i++) zeta += 1 / Math.pow(i, theta)
    this.zetaN = zeta
    const zeta2 = 1 + 1 / Math.pow(2, theta)
    this.alpha = 1 / (1 - theta)
    this.eta = (1 - Math.pow(2 / count, 1 - theta)) / (1 - zeta2 / this.zetaN)
  }

  /** A rank in [0, count): 0 is the most popular. */
  next(rng: Prng): number {
    const u = rng.nextFloat()
    const uz = u * this.zetaN
    if (uz < 1) return 0
    if (uz < 1 + Math.pow(0.5, this.theta)) return 1
    const rank = Math.floor(this.count * Math.pow(this.eta * u - this.eta + 1, this.alpha))
    return Math.min(rank, this.count - 1)
  }
}

/** Spreads rank r over [0, count) (a fixed bijection-free hash, as YCSB's scrambled Zipfian does). */
export function scrambleRank(rank: number, count: number): number {
  let h = Math.imul(rank ^ 0x5bd1e995, 0x9e3779b1)
  h ^= h >>> 15
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) % count
}

/** Indexes into the loaded keys for one repetition of a query stream. */
export function drawIndexes(shape: QueryShape, count: number, keyCount: number, rng: Prng, zipf: Zipfian | undefined): Uint32Array {
  const indexes = new Uint32Array(count)
  if (shape === 'uniform') {
    for (let i = 0; i < count; i++) indexes[i] = rng.nextBelow(keyCount)
  } else {
    if (zipf === undefined) throw new Error('a Zipfian stream needs its generator')
    for (let i = 0; i < count; i++) indexes[i] = scrambleRank(zipf.next(rng), keyCount)
  }
  return indexes
}
