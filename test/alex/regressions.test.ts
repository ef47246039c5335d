/**
 * Regression tests named after failures that users of microsoft/ALEX (and forks) reported:
 * degenerate deep trees after bulk loading ~630k lognormal or YCSB keys, keys coming back out of
 * order, keys that could not be erased, crashes in root expansion, crashes inserting real keys one at
 * a time, and keys that collide because the model sees only part of them.
 */
import { describe, it, expect } from 'vitest'
import { AlexIndex, type AlexOptions } from '../../src/index.js'
import {
  Rng,
  consecutiveDoubles,
  distinctKeys,
  expectHoldsExactly,
  insertAll,
  bulkDepthBound,
  idealLevels,
  keySetOf,
  logDepthBound,
  nonlinearDepthBound,
  orderViolation,
  ranksOf,
} from './helpers.js'

/**
 * The reported failure was an 855-deep tree. Bounds come from bulkDepthBound / logDepthBound
 * (helpers.ts): 3 after a bulk load and 6 after inserts for 1M keys with default options.
 */
const SMALL_NODES: AlexOptions = { maxDataNodeSlots: 64, maxFanout: 4 }
const PAGE_SIZED: AlexOptions = { maxDataNodeSlots: 256, maxFanout: 256 }

function bulkLoadKeySet(order: Float64Array, sorted: Float64Array, options: AlexOptions = {}): AlexIndex<number> {
  return AlexIndex.bulkLoad(order, ranksOf(order, sorted), options)
}

describe('microsoft/ALEX: bulk loading more than ~630k keys produced an 855-deep tree', () => {
  for (const [count, options, label] of [
    [640_000, {}, 'default options'],
    [1_000_000, PAGE_SIZED, 'page-sized nodes'],
  ] as const) {
    it(`bulk loading ${count} lognormal keys (${label}) builds a tree at most ideal + 2 deep`, () => {
      const rng = new Rng(count)
      const keys = distinctKeys(count, () => Math.floor(Math.exp(2 * rng.normal()) * 1e9))
      const index = bulkLoadKeySet(keys.order, keys.sorted, options)
      index.check()
      const stats = index.stats()
      const ideal = bulkDepthBound(count, options.maxDataNodeSlots, options.maxFanout)
      if (options.maxDataNodeSlots === undefined) {
        expect(stats.maxDepth, JSON.stringify(stats)).toBeLessThanOrEqual(ideal)
      } else {
        // 256-slot nodes cut the far tail of a sigma-2 lognormal into thousands of nodes; its paths may
        // halve their way down (nonlinearDepthBound), but the average key stays within ideal + 2.
        expect(stats.avgDepth, JSON.stringify(stats)).toBeLessThanOrEqual(ideal)
        expect(stats.maxDepth, JSON.stringify(stats)).toBeLessThanOrEqual(nonlinearDepthBound(count, options.maxDataNodeSlots))
      }
      expectHoldsExactly(index, keys.sorted)
    })
  }

  it('bulk loading 1M YCSB-like keys (uniform integers below 2^53) builds a tree at most ideal + 2 deep', () => {
    const rng = new Rng(2020)
    const keys = distinctKeys(1_000_000, () => rng.uint53())
    const index = bulkLoadKeySet(keys.order, keys.sorted)
    index.check()
    expect(index.stats().maxDepth).toBeLessThanOrEqual(bulkDepthBound(1_000_000))
    expectHoldsExactly(index, keys.sorted)
  })

  for (const [slots, fanout] of [
    [256, 256],
    [64, 16],
    [1024, 64],
  ] as const) {
    it(`bulk loading 500k sequential integers into ${slots}-slot nodes uses fanouts up to ${fanout}, not a binary tree`, () => {
      const order = Float64Array.from({ length: 500_000 }, (_, i) => i)
      const keys = keySetOf(order)
      const index = bulkLoadKeySet(order, keys.sorted, { maxDataNodeSlots: slots, maxFanout: fanout })
      const stats = index.stats()
      // Perfectly linear keys: the ideal number of model levels suffices; allow one more.
      const needed = idealLevels(500_000, slots, fanout)
      expect(stats.maxDepth, JSON.stringify(stats)).toBeLessThanOrEqual(needed + 1)
      index.check()
      expectHoldsExactly(index, keys.sorted)
    })
  }

  it('bulk loading 700k lognormal keys already sorted, then inserting 300k more, stays shallow', () => {
    const rng = new Rng(630)
    const keys = distinctKeys(1_000_000, () => Math.floor(Math.exp(2 * rng.normal()) * 1e9))
    const bulk = Float64Array.from(keys.order.subarray(0, 700_000)).sort()
    const index = bulkLoadKeySet(bulk, keys.sorted)
    insertAll(index, keys.order.subarray(700_000), keys.sorted)
    index.check()
    expect(index.stats().maxDepth).toBeLessThanOrEqual(logDepthBound(1_000_000))
    expectHoldsExactly(index, keys.sorted)
  })
})

describe('microsoft/ALEX README: extreme outliers inflate the key domain', () => {
  for (const [label, outliers] of [
    ['+-Number.MAX_VALUE', [-Number.MAX_VALUE, Number.MAX_VALUE]],
    ['1e300 alone', [1e300]],
    ['+-1e300, 5e-324 and -MAX_VALUE', [1e300, -1e300, 5e-324, -Number.MAX_VALUE]],
  ] as const) {
    it(`bulk loading 100k small keys plus ${label} stays within ideal + 2 levels and finds every key`, () => {
      const rng = new Rng(31)
      const smalls = distinctKeys(100_000, () => rng.int(1e9) / 8)
      const keys = keySetOf(Float64Array.from([...outliers, ...smalls.order]))
      const index = bulkLoadKeySet(keys.order, keys.sorted)
      index.check()
      expect(index.stats().maxDepth, JSON.stringify(index.stats())).toBeLessThanOrEqual(bulkDepthBound(keys.sorted.length))
      expectHoldsExactly(index, keys.sorted)
    })
  }
})

describe('microsoft/ALEX README: distributions that are non-linear at small scales', () => {
  it('bulk loading 100k log-uniform keys of both signs over 20 orders of magnitude stays within log2 levels', () => {
    const rng = new Rng(20)
    const keys = distinctKeys(100_000, () => {
      const magnitude = 10 ** (rng.float() * 20 - 10)
      return rng.int(2) === 0 ? magnitude : -magnitude
    })
    const index = bulkLoadKeySet(keys.order, keys.sorted)
    index.check()
    // No line fits these keys at any scale: see nonlinearDepthBound.
    expect(index.stats().maxDepth, JSON.stringify(index.stats())).toBeLessThanOrEqual(nonlinearDepthBound(100_000))
    expectHoldsExactly(index, keys.sorted)
  })
})

describe('microsoft/ALEX: keys came back out of order after inserts and deletes', () => {
  for (const [label, options] of [
    ['default options', {}],
    ['64-slot nodes, fanout 4', SMALL_NODES],
  ] as const) {
    it(`after 300k mixed inserts and deletes (${label}) iteration is strictly ordered both ways and equals the reference`, () => {
      const rng = new Rng(77)
      const present = new Map<number, number>()
      const index = new AlexIndex<number>(options)
      const draw = (): number => {
        switch (rng.int(4)) {
          case 0:
            return rng.int(20_000) // dense small integers: many deletes hit
          case 1:
            return Math.floor(Math.exp(2 * rng.normal()) * 1e6)
          case 2:
            return (rng.float() - 0.5) * 1e12
          default:
            return 1 + rng.int(5000) * Number.EPSILON
        }
      }
      for (let op = 0; op < 300_000; op++) {
        const key = draw()
        if (rng.int(3) === 0) {
          expect(index.delete(key)).toBe(present.delete(key))
        } else {
          index.set(key, op)
          present.set(key, op)
        }
        if (op % 50_000 === 49_999) {
          expect(orderViolation(index.keys(), false)).toBe('ok')
          index.check()
        }
      }
      const sorted = Float64Array.from(present.keys()).sort()
      expect(orderViolation(index.keys(), false)).toBe('ok')
      expect(orderViolation(index.keys({ reverse: true }), true)).toBe('ok')
      const forward = Float64Array.from(index.keys())
      expect(forward.length).toBe(sorted.length)
      expect(forward.every((k, i) => k === sorted[i])).toBe(true)
      let valuesMatch = true
      for (const [key, value] of index) valuesMatch &&= present.get(key) === value
      expect(valuesMatch).toBe(true)
      index.check()
    })
  }
})

describe('microsoft/ALEX: a key that was inserted could not be erased', () => {
  for (const [label, options] of [
    ['default options', {}],
    ['64-slot nodes, fanout 2', { maxDataNodeSlots: 64, maxFanout: 2 }],
    ['page-sized nodes', PAGE_SIZED],
  ] as const) {
    it(`every one of 200k inserted keys can be deleted, in random order (${label})`, () => {
      const rng = new Rng(404)
      const keys = distinctKeys(200_000, () => {
        switch (rng.int(3)) {
          case 0:
            return rng.int(100_000)
          case 1:
            return Math.floor(Math.exp(2 * rng.normal()) * 1e9)
          default:
            return -rng.float() * 1e15
        }
      })
      const index = new AlexIndex<number>(options)
      insertAll(index, keys.order, keys.sorted)
      expect(index.size).toBe(200_000)
      const deleteOrder = rng.shuffle(Float64Array.from(keys.order))
      let failedDelete: number | undefined
      for (let i = 0; i < deleteOrder.length; i++) {
        const key = deleteOrder[i] as number
        if (!index.delete(key)) {
          failedDelete = key
          break
        }
        if (i % 50_000 === 0) index.check()
      }
      expect(failedDelete).toBeUndefined()
      expect(index.size).toBe(0)
      let stillFound: number | undefined
      for (const key of keys.sorted) if (index.get(key) !== undefined || index.has(key)) stillFound ??= key
      expect(stillFound).toBeUndefined()
      expect([...index]).toEqual([])
      index.check()
      // The emptied index is still usable.
      insertAll(index, keys.order.subarray(0, 10_000), keys.sorted)
      expect(index.size).toBe(10_000)
      index.check()
    })
  }

  it('deleting a bulk-loaded index from both ends inward empties it', () => {
    const keys = keySetOf(Float64Array.from({ length: 100_000 }, (_, i) => i * 3 - 150_000))
    const index = bulkLoadKeySet(keys.order, keys.sorted, SMALL_NODES)
    for (let lo = 0, hi = keys.sorted.length - 1; lo <= hi; lo++, hi--) {
      expect(index.delete(keys.sorted[lo] as number)).toBe(true)
      if (hi !== lo) expect(index.delete(keys.sorted[hi] as number)).toBe(true)
    }
    expect(index.size).toBe(0)
    index.check()
  })
})

describe('microsoft/ALEX: crash in root expansion for keys outside the bulk-loaded domain', () => {
  for (const [label, options] of [
    ['default options', {}],
    ['64-slot nodes, fanout 4', SMALL_NODES],
  ] as const) {
    it(`appending 100k keys above and 100k below a bulk-loaded [0, 1e4) keeps all keys (${label})`, () => {
      const order = new Float64Array(210_000)
      for (let i = 0; i < 10_000; i++) order[i] = i
      for (let i = 0; i < 100_000; i++) {
        order[10_000 + 2 * i] = 10_000 + i * 1000 // far above, growing
        order[10_001 + 2 * i] = -1 - i * 1000 // far below, shrinking
      }
      const keys = keySetOf(order)
      const bulk = order.subarray(0, 10_000)
      const index = bulkLoadKeySet(bulk, keys.sorted, options)
      insertAll(index, order.subarray(10_000), keys.sorted)
      index.check()
      expect(index.stats().maxDepth).toBeLessThanOrEqual(
        logDepthBound(keys.sorted.length, options.maxDataNodeSlots, options.maxFanout),
      )
      expectHoldsExactly(index, keys.sorted)
    })

    it(`keys growing geometrically to +-1e300 beyond a bulk-loaded [0, 1) keep all keys (${label})`, () => {
      const order: number[] = []
      for (let i = 0; i < 5000; i++) order.push(i / 5000)
      for (let e = 1; e <= 300; e++) {
        for (const m of [1, 2, 5]) {
          order.push(m * 10 ** e)
          order.push(-m * 10 ** e)
        }
      }
      for (let i = 1; i <= 5000; i++) order.push(1e300 + i * 1e285, -1e300 - i * 1e285)
      const keys = keySetOf(Float64Array.from(order))
      const index = bulkLoadKeySet(keys.order.subarray(0, 5000), keys.sorted, options)
      insertAll(index, keys.order.subarray(5000), keys.sorted)
      index.check()
      expect(index.stats().maxDepth).toBeLessThanOrEqual(
        logDepthBound(keys.sorted.length, options.maxDataNodeSlots, options.maxFanout),
      )
      expectHoldsExactly(index, keys.sorted)
    })
  }

  it('a single bulk-loaded key followed by keys on both sides, alternating, keeps all keys', () => {
    const order: number[] = [0]
    for (let i = 1; i <= 50_000; i++) order.push(i * i, -i * i)
    const keys = keySetOf(Float64Array.from(order))
    const index = bulkLoadKeySet(keys.order.subarray(0, 1), keys.sorted, SMALL_NODES)
    insertAll(index, keys.order.subarray(1), keys.sorted)
    index.check()
    expectHoldsExactly(index, keys.sorted)
  })
})

describe('microsoft/ALEX: crashes inserting real keys one at a time', () => {
  it('inserting 1M longitude-like doubles one at a time into an empty index keeps every key', () => {
    // Longitudes: a few dense "continents" plus a thin uniform background, 7 decimal places.
    const rng = new Rng(1_000_003)
    const centres = [-122.4, -74.0, -0.1, 2.35, 13.4, 77.2, 116.4, 139.7, 151.2]
    const keys = distinctKeys(1_000_000, () => {
      const raw =
        rng.int(10) === 0
          ? rng.float() * 360 - 180
          : (centres[rng.int(centres.length)] as number) + rng.normal() * 0.5
      return Math.round(raw * 1e7) / 1e7
    })
    const index = new AlexIndex<number>()
    insertAll(index, keys.order, keys.sorted)
    index.check()
    expect(index.stats().maxDepth).toBeLessThanOrEqual(logDepthBound(1_000_000))
    expect(index.stats().avgShiftsPerInsert).toBeLessThan(100)
    expectHoldsExactly(index, keys.sorted)
  })
})

describe('keys are compared exactly, never through a lossy projection', () => {
  it('integers above 2^53 that differ only in the last mantissa bit stay distinct and ordered', () => {
    const order = new Float64Array([
      ...consecutiveDoubles(2 ** 53, 2000),
      ...consecutiveDoubles(2 ** 60, 2000),
      ...consecutiveDoubles(1e300, 2000),
      ...consecutiveDoubles(-(2 ** 62), 2000),
    ])
    new Rng(53).shuffle(order)
    const keys = keySetOf(order)
    for (const options of [{}, SMALL_NODES]) {
      const inserted = new AlexIndex<number>(options)
      insertAll(inserted, keys.order, keys.sorted)
      inserted.check()
      expectHoldsExactly(inserted, keys.sorted)
      const bulk = bulkLoadKeySet(keys.order, keys.sorted, options)
      bulk.check()
      expectHoldsExactly(bulk, keys.sorted)
    }
  })

  it('subnormal keys next to 0 and -0 stay distinct and ordered', () => {
    const positives = consecutiveDoubles(Number.MIN_VALUE, 3000)
    const all = new Float64Array(6001)
    all.set(positives, 0)
    for (let i = 0; i < 3000; i++) all[3000 + i] = -(positives[i] as number)
    all[6000] = 0
    const keys = keySetOf(new Rng(0).shuffle(all))
    const index = new AlexIndex<number>(SMALL_NODES)
    insertAll(index, keys.order, keys.sorted)
    index.set(-0, 12345)
    expect(index.size).toBe(6001)
    expect(index.get(0)).toBe(12345)
    index.set(0, keys.sorted.indexOf(0))
    expectHoldsExactly(index, keys.sorted)
  })
})

describe('adaptToReads', () => {
  function searchesAfterReads(options: AlexOptions): { before: number; after: number } {
    const index = new AlexIndex<number>(options)
    for (let i = 0; i < 5000; i++) index.set((i * 7919) % 5003, i)
    const before = index.stats().searches
    for (let i = 0; i < 2000; i++) {
      index.get(i)
      index.has(i + 0.5)
      index.lowerBound(i * 2)
    }
    for (const _ of index.entries({ gte: 100 })) break
    for (const _ of index.entries({ lte: 4000, reverse: true })) break
    return { before, after: index.stats().searches }
  }

  it('by default, lookups count toward the cost model (searches grow by one per lookup)', () => {
    const { before, after } = searchesAfterReads({ maxDataNodeSlots: 256 })
    expect(after - before).toBeGreaterThanOrEqual(6000)
  })

  it('false: no lookup of any kind moves the counters the adaptation reads', () => {
    const { before, after } = searchesAfterReads({ maxDataNodeSlots: 256, adaptToReads: false })
    expect(after).toBe(before)
  })
})
