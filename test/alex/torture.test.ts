/**
 * Torture tests: one million keys per case, from key distributions that are hard for a learned
 * index (append-only runs, heavy skew, huge gaps, outliers that inflate the key domain, keys that
 * differ only in their last mantissa bits). After each case: check() passes, the index holds exactly
 * the generated keys (compared with a sorted Float64Array built from the generator, not with the
 * index), the tree stays shallow and inserts stay cheap.
 */
import { describe, it, expect } from 'vitest'
import { AlexIndex, type AlexOptions } from '../../src/index.js'
import {
  Rng,
  bulkDepthBound,
  consecutiveDoubles,
  distinctKeys,
  expectHoldsExactly,
  insertAll,
  keySetOf,
  logDepthBound,
  nonlinearDepthBound,
  ranksOf,
  type KeySet,
} from './helpers.js'

const N = 1_000_000

/** An O(n) insert would average tens of thousands of shifts at this size. */
const MAX_AVG_SHIFTS_PER_INSERT = 100

/** Options that make data nodes page-sized (256 slots of 16 bytes) and fanout modest. */
const PAGE_SIZED: AlexOptions = { maxDataNodeSlots: 256, maxFanout: 256 }

interface Outcome {
  index: AlexIndex<number>
  keys: KeySet
  options: AlexOptions
  /** Built by bulk load alone (tighter depth bound) rather than grown by inserts. */
  bulkOnly: boolean
}

function buildByInserts(keys: KeySet, options: AlexOptions = {}): Outcome {
  const index = new AlexIndex<number>(options)
  insertAll(index, keys.order, keys.sorted)
  return { index, keys, options, bulkOnly: false }
}

/** Bulk loads the first `bulkCount` keys of `order` (unsorted), then inserts the rest. */
function buildByBulkThenInserts(keys: KeySet, bulkCount: number, options: AlexOptions = {}): Outcome {
  const bulk = keys.order.subarray(0, bulkCount)
  const index = AlexIndex.bulkLoad(bulk, ranksOf(bulk, keys.sorted), options)
  insertAll(index, keys.order.subarray(bulkCount), keys.sorted)
  return { index, keys, options, bulkOnly: bulkCount === keys.order.length }
}

/**
 * check() passes, the index holds exactly the generated keys, the depth is within the bound for its
 * options (see logDepthBound / bulkDepthBound: at most 6 for default options and 8 for page-sized
 * nodes at 1M keys, so the 855-deep tree of microsoft/ALEX fails by far) and inserts stay cheap.
 */
function expectHealthy({ index, keys, options, bulkOnly }: Outcome, depthBound?: number): void {
  const n = keys.sorted.length
  const maxDepth = depthBound ?? (bulkOnly ? bulkDepthBound : logDepthBound)(n, options.maxDataNodeSlots, options.maxFanout)
  index.check()
  expectHoldsExactly(index, keys.sorted)
  const stats = index.stats()
  expect(stats.size).toBe(keys.sorted.length)
  expect(stats.maxDepth, `maxDepth (stats ${JSON.stringify(stats)})`).toBeLessThanOrEqual(maxDepth)
  expect(stats.avgShiftsPerInsert, `avgShiftsPerInsert (stats ${JSON.stringify(stats)})`).toBeLessThan(
    MAX_AVG_SHIFTS_PER_INSERT,
  )
}

function lognormalKeys(rng: Rng): () => number {
  return () => Math.floor(Math.exp(2 * rng.normal()) * 1e9)
}

describe('one million keys per distribution', () => {
  it('sequential inserts 0, 1, 2, ... keep the tree shallow and all keys reachable', () => {
    const order = Float64Array.from({ length: N }, (_, i) => i)
    expectHealthy(buildByInserts(keySetOf(order)))
  })

  it('sequential inserts into page-sized nodes keep the tree shallow and all keys reachable', () => {
    const order = Float64Array.from({ length: N }, (_, i) => i * 8)
    expectHealthy(buildByInserts(keySetOf(order), PAGE_SIZED))
  })

  it('reverse-sequential inserts N-1, N-2, ... keep the tree shallow and all keys reachable', () => {
    const order = Float64Array.from({ length: N }, (_, i) => N - 1 - i)
    expectHealthy(buildByInserts(keySetOf(order)))
  })

  it('lognormal: bulk load of half, then inserts of the other half', () => {
    const keys = distinctKeys(N, lognormalKeys(new Rng(101)))
    expectHealthy(buildByBulkThenInserts(keys, N / 2))
  })

  it('lognormal: inserts only, in random order, into page-sized nodes', () => {
    const keys = distinctKeys(N, lognormalKeys(new Rng(102)))
    expectHealthy(buildByInserts(keys, PAGE_SIZED))
  })

  it('lognormal: bulk load of all keys builds a shallow tree', () => {
    const keys = distinctKeys(N, lognormalKeys(new Rng(103)))
    expectHealthy(buildByBulkThenInserts(keys, N))
  })

  it('clustered: dense runs of consecutive integers separated by gaps of ~1e12, random order', () => {
    const rng = new Rng(104)
    const runs = 200
    const runLength = N / runs
    const order = new Float64Array(N)
    for (let r = 0; r < runs; r++) {
      const base = r * 1e12 + rng.int(1e9) // gaps vary between runs
      for (let j = 0; j < runLength; j++) order[r * runLength + j] = base + j
    }
    rng.shuffle(order)
    expectHealthy(buildByInserts(keySetOf(order)))
  })

  it('extreme outliers near +-1e300 among small keys inserted before, between and after them', () => {
    const rng = new Rng(105)
    const outliers = [1e300, -1e300, Number.MAX_VALUE, -Number.MAX_VALUE, 3e299, -7e299, 1e250, -1e200]
    const keys = distinctKeys(N - outliers.length, () => rng.int(1e9))
    const order = new Float64Array(N)
    order.set(outliers.slice(0, 2), 0) // first: they define the domain early
    order.set(keys.order.subarray(0, N / 2 - outliers.length), 2)
    order.set(outliers.slice(2, 6), N / 2 - outliers.length + 2)
    order.set(keys.order.subarray(N / 2 - outliers.length), N / 2 - 2)
    order.set(outliers.slice(6), N - 2)
    expectHealthy(buildByInserts(keySetOf(order)))
  })

  it('extreme outliers in a bulk load do not stop small keys inserted later from being found', () => {
    const rng = new Rng(106)
    const smalls = distinctKeys(N - 4, () => rng.int(1e9) / 8)
    const order = new Float64Array(N)
    order.set([1e300, -1e300, 5e-324, -Number.MAX_VALUE], 0)
    order.set(smalls.order, 4)
    expectHealthy(buildByBulkThenInserts(keySetOf(order), N / 2))
  })

  it('consecutive doubles from 1.0 upward (differing in the last mantissa bits), random order', () => {
    const order = new Rng(107).shuffle(consecutiveDoubles(1, N))
    expectHealthy(buildByInserts(keySetOf(order)))
  })

  it('consecutive doubles from 1e15 upward, bulk load of half then inserts', () => {
    const order = new Rng(108).shuffle(consecutiveDoubles(1e15, N))
    expectHealthy(buildByBulkThenInserts(keySetOf(order), N / 2, PAGE_SIZED))
  })

  it('mixed signs over 40 orders of magnitude, with 0, random order', () => {
    const rng = new Rng(109)
    const keys = distinctKeys(N, () => {
      if (rng.int(1000) === 0) return rng.int(2) === 0 ? 0 : -0
      const magnitude = 10 ** (rng.float() * 40 - 20)
      return rng.int(2) === 0 ? magnitude : -magnitude
    })
    // No line fits these keys at any scale: the bound is nonlinearDepthBound, not logDepthBound.
    expectHealthy(buildByInserts(keys), nonlinearDepthBound(keys.sorted.length, undefined, true))
  })
})
