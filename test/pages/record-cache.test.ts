/**
 * The record cache (src/pages/record-cache.ts) against a Map of what was offered and not removed:
 * whatever it finds is exactly the bytes last offered for that handle, a removed handle is never
 * found, its entry count is right, and it stays within its budget. Then through the store: reads
 * over a pool far smaller than the data, hot keys overwritten and deleted while cached, every read
 * checked against a model.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { RECORD_CACHE_VALUE_MAX, RecordCache } from '../../src/pages/record-cache.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, describeBytes, useTempDirs } from '../store/helpers.js'

const tempDir = useTempDirs('learned-storage-record-cache-')

/** getManyInto of `keys` through a buffer big enough for all, split back into values (undefined: absent). */
function manyInto(db: Awaited<ReturnType<typeof open>>, keys: number[]): (Uint8Array | undefined)[] {
  const target = new Uint8Array(64 * keys.length)
  const lengths = new Int32Array(keys.length)
  expect(db.getManyInto(keys, 0, keys.length, target, lengths)).toBe(keys.length)
  const out: (Uint8Array | undefined)[] = []
  let at = 0
  for (let i = 0; i < keys.length; i++) {
    const length = lengths[i]!
    if (length < 0) {
      out.push(undefined)
      continue
    }
    out.push(target.slice(at, at + length))
    at += length
  }
  return out
}

type Db = Awaited<ReturnType<typeof open>>
type Entries = [number, Uint8Array][]

/**
 * A store of `count` keys 0.. with 16-byte values, bulk loaded, closed and opened again (nothing
 * resident): 4 KiB pages, an 8-page pool, a record cache of `recordCacheBytes`. Values go to value
 * pages (leafValueBytes 0): the record cache holds values read from there.
 */
async function loadedStore(dir: string, count: number, recordCacheBytes: number, extra: { checkpointIntervalMs?: number } = {}): Promise<{ db: Db; entries: Entries }> {
  const options = { pageSizeBytes: 4096, leafValueBytes: 0, cacheBytes: 8 * 4096, recordCacheBytes, ...extra }
  const entries: Entries = []
  for (let i = 0; i < count; i++) entries.push([i, bytesFromSeed(16, i)])
  const db = await open(dir, options)
  try {
    await db.bulkLoad(entries)
  } finally {
    await db.close()
  }
  return { db: await open(dir, options), entries }
}

describe('RecordCache', () => {
  it('finds only what was offered and not removed, with its bytes; counts entries; stays within budget', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('offer' as const), handle: fc.integer({ min: 0, max: 200 }), length: fc.integer({ min: 0, max: RECORD_CACHE_VALUE_MAX + 8 }), seed: fc.integer() }),
      fc.record({ kind: fc.constant('find' as const), handle: fc.integer({ min: 0, max: 200 }) }),
      fc.record({ kind: fc.constant('remove' as const), handle: fc.integer({ min: 0, max: 200 }) }),
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.array(op, { maxLength: 400 }), (budget, ops) => {
        const cache = new RecordCache(budget)
        // Handles as the store makes them: page * 2^21 + offset * 2.
        const handleOf = (n: number): number => (n % 13) * 2 ** 21 + 40 + 2 * n
        const cached = new Map<number, Uint8Array>()
        for (const o of ops) {
          const handle = handleOf(o.handle)
          if (o.kind === 'offer') {
            const value = bytesFromSeed(o.length, o.seed)
            // A record's bytes never change: offer a handle's first bytes again if it is still live.
            const bytes = cached.get(handle) ?? value
            const source = new Uint8Array(bytes.byteLength + 5)
            source.set(bytes, 5)
            cache.offer(handle, source, 5, bytes.byteLength)
            const way = cache.find(handle)
            if (way >= 0) cached.set(handle, bytes)
            // Too large: never cached.
            if (bytes.byteLength > RECORD_CACHE_VALUE_MAX) expect(way).toBe(-1)
          } else if (o.kind === 'find') {
            const way = cache.find(handle)
            if (way >= 0) {
              const expected = cached.get(handle)
              expect(expected, `found ${handle}, never offered or removed`).toBeDefined()
              const at = way * RECORD_CACHE_VALUE_MAX
              expect(bytesEqual(cache.bytes.subarray(at, at + cache.lengthOf(way)), expected!)).toBe(true)
            } else {
              // Evicted: forget it (a later offer may bring it back).
              cached.delete(handle)
            }
          } else {
            cache.remove(handle)
            cached.delete(handle)
            expect(cache.find(handle)).toBe(-1)
          }
          expect(cache.allocatedBytes).toBeLessThanOrEqual(budget)
        }
        // Every handle the model still holds is found with its bytes, and nothing else is counted.
        let present = 0
        for (const [handle, bytes] of cached) {
          const way = cache.find(handle)
          if (way < 0) continue
          present++
          const at = way * RECORD_CACHE_VALUE_MAX
          expect(bytesEqual(cache.bytes.subarray(at, at + cache.lengthOf(way)), bytes)).toBe(true)
        }
        expect(cache.entries).toBe(present)
      }),
      { numRuns: 300, seed: 11 },
    )
  })

  it('keeps hot records through a stream of cold ones (frequency-biased admission)', () => {
    const cache = new RecordCache(64 * 1024)
    const value = new Uint8Array(16)
    const hot = Array.from({ length: 200 }, (_, i) => i * 2 ** 21 + 40)
    for (let round = 0; round < 5; round++) {
      for (const handle of hot) if (cache.find(handle) < 0) cache.offer(handle, value, 0, 16)
    }
    for (let i = 0; i < 50_000; i++) {
      const cold = (1000 + i) * 2 ** 21 + 40
      if (cache.find(cold) < 0) cache.offer(cold, value, 0, 16)
      // The hot records are read as often as before, between the cold ones.
      if (i % 50 === 0) for (const handle of hot.slice(0, 20)) cache.find(handle)
    }
    const kept = hot.slice(0, 20).filter((handle) => cache.find(handle) >= 0).length
    expect(kept).toBeGreaterThanOrEqual(18)
  })
})

describe('the record cache in the store', () => {
  it('skewed reads over a pool 1/20 of the data: every read (get, getInto, getMany, getManyInto) equals the model while hot keys are overwritten and deleted', async () => {
    const dir = tempDir()
    const options = { pageSizeBytes: 4096, leafValueBytes: 0, cacheBytes: 8 * 4096, recordCacheBytes: 32 * 1024, checkpointIntervalMs: 3_600_000 }
    const rng = new Rng(5)
    const model = new Model()
    let db = await open(dir, options)
    try {
      const n = 20_000
      const entries: [number, Uint8Array][] = []
      for (let i = 0; i < n; i++) entries.push([i, bytesFromSeed(8 + (i % 33), i)])
      await db.bulkLoad(entries)
      for (const [k, v] of entries) model.put(k, v)
      await db.close()
      db = await open(dir, options)
      const target = new Uint8Array(64)
      let bad = ''
      for (let step = 0; step < 60_000 && bad === ''; step++) {
        // Skewed: most reads hit 300 hot keys, spread over every page (too many pages for the pool).
        const key = rng.int(10) < 8 ? rng.int(300) * 61 : rng.int(n)
        const action = rng.int(100)
        if (action < 2) {
          const value = bytesFromSeed(rng.int(40), 1_000_000 + step)
          await db.put(key, value)
          model.put(key, value)
        } else if (action < 3) {
          await db.del(key)
          model.del(key)
        } else if (action < 50) {
          const got = db.get(key)
          const expected = model.get(key)
          if (!(got === undefined ? expected === undefined : expected !== undefined && bytesEqual(got, expected))) bad = `step ${step}: get(${key}) = ${describeBytes(got)}, expected ${describeBytes(expected)}`
        } else if (action < 75) {
          const length = db.getInto(key, target)
          const expected = model.get(key)
          const ok = expected === undefined ? length === -1 : length === expected.byteLength && bytesEqual(target.subarray(0, length), expected)
          if (!ok) bad = `step ${step}: getInto(${key}) = ${length} ${describeBytes(target.subarray(0, Math.max(0, length)))}, expected ${describeBytes(expected)}`
        } else if (action < 78) {
          // A batch of hot and cold keys: the cold ones read their records alone and offer them,
          // which may push out a hot key the batch found cached a moment before.
          const batch = Array.from({ length: 1 + rng.int(90) }, () => (rng.int(2) === 0 ? rng.int(300) * 61 : rng.int(n)))
          const got = rng.int(2) === 0 ? db.getMany(batch) : manyInto(db, batch)
          for (let i = 0; i < batch.length && bad === ''; i++) {
            const expected = model.get(batch[i]!)
            const value = got[i]
            if (!(value === undefined ? expected === undefined : expected !== undefined && bytesEqual(value, expected))) bad = `step ${step}: getMany[${i}] (${batch[i]}) = ${describeBytes(value)}, expected ${describeBytes(expected)}`
          }
        }
        if (step === 30_000) await db.checkpoint()
      }
      expect(bad).toBe('')
      const stats = db.stats().recordCache
      expect(stats.hits).toBeGreaterThan(10_000)
      expect(stats.bytes).toBeLessThanOrEqual(32 * 1024)
      await db.check()
    } finally {
      await closeQuietly(db)
    }
  })

  it('a cached key is answered without reading its leaf; a put or delete of it is seen at once', async () => {
    const { db, entries } = await loadedStore(tempDir(), 20_000, 32 * 1024, { checkpointIntervalMs: 3_600_000 })
    try {
      const hot = 12_345
      const coldPass = (): void => {
        // 200 keys far from the hot one: their leaves fill the 8 frames, so the hot key's leaf goes.
        for (let i = 0; i < 200; i++) expect(bytesEqual(db.get(i * 50)!, entries[i * 50]![1])).toBe(true)
      }
      coldPass()
      for (let i = 0; i < 3; i++) expect(bytesEqual(db.get(hot)!, entries[hot]![1])).toBe(true)
      coldPass()
      const before = db.stats()
      const target = new Uint8Array(64)
      expect(db.getInto(hot, target)).toBe(16)
      expect(bytesEqual(target.subarray(0, 16), entries[hot]![1])).toBe(true)
      expect(bytesEqual(db.getMany([hot])[0]!, entries[hot]![1])).toBe(true)
      const after = db.stats()
      expect(after.recordCache.hits - before.recordCache.hits).toBe(2)
      expect(after.bufferPool.leafLoads).toBe(before.bufferPool.leafLoads)
      expect(after.bufferPool.rangeReads).toBe(before.bufferPool.rangeReads)
      const next = bytesFromSeed(20, 99)
      await db.put(hot, next)
      expect(bytesEqual(db.get(hot)!, next)).toBe(true)
      await db.del(hot)
      expect(db.get(hot)).toBeUndefined()
      expect(db.getInto(hot, target)).toBe(-1)
      expect(db.getMany([hot])[0]).toBeUndefined()
    } finally {
      await closeQuietly(db)
    }
  })

  it('a freed value page reused for new records: reads of the new records never see the cached old ones', async () => {
    const { db, entries } = await loadedStore(tempDir(), 10_000, 64 * 1024, { checkpointIntervalMs: 3_600_000 })
    try {
      // Fill the pool with pages of other keys, then read the first 1,000 records (bulk-loaded in key
      // order: the first pages hold them alone) out of order, so that they go to the record cache.
      for (let i = 5000; i < 10_000; i += 97) db.get(i)
      for (let round = 0; round < 3; round++) for (let i = 0; i < 1000; i++) db.get((i * 37) % 1000)
      expect(db.stats().recordCache.entries).toBeGreaterThan(500)
      // Delete them all: their pages are freed (reusable after the checkpoints commit).
      for (let i = 0; i < 1000; i++) await db.del(i)
      await db.checkpoint()
      await db.checkpoint()
      // New records of the same size land on the freed pages, at the same offsets (the same handles).
      const model = new Model()
      for (let i = 1000; i < 10_000; i++) model.put(i, entries[i]![1])
      for (let i = 0; i < 1000; i++) {
        const value = bytesFromSeed(16, 500_000 + i)
        await db.put(20_000 + i, value)
        model.put(20_000 + i, value)
      }
      await db.checkpoint()
      let bad = ''
      for (let i = 0; i < 1000 && bad === ''; i++) {
        const got = db.get(20_000 + i)
        const expected = model.get(20_000 + i)!
        if (got === undefined || !bytesEqual(got, expected)) bad = `get(${20_000 + i}) = ${describeBytes(got)}, expected ${describeBytes(expected)}`
      }
      expect(bad).toBe('')
      await db.check()
    } finally {
      await closeQuietly(db)
    }
  })

  it('range scans still read whole pages through the pool, not each record alone', async () => {
    const { db, entries } = await loadedStore(tempDir(), 20_000, 64 * 1024)
    try {
      for (let i = 0; i < 20_000; i += 397) db.get(i)
      const before = db.stats().bufferPool.rangeReads
      const rng = new Rng(9)
      let scanned = 0
      for (let s = 0; s < 200; s++) {
        const start = rng.int(19_800)
        let expectedKey = start
        for (const [key, value] of db.range({ gte: start, limit: 100 })) {
          expect(key).toBe(expectedKey)
          expect(bytesEqual(value, entries[key]![1])).toBe(true)
          expectedKey++
          scanned++
        }
      }
      expect(scanned).toBe(200 * 100)
      // A page holds about 170 of these records: reading them alone would be one read per record.
      expect(db.stats().bufferPool.rangeReads - before).toBeLessThan(scanned / 20)
    } finally {
      await closeQuietly(db)
    }
  })

  it('is off by default and with a budget of 0', async () => {
    const dir = tempDir()
    const db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
    try {
      const entries: [number, Uint8Array][] = []
      for (let i = 0; i < 5000; i++) entries.push([i, bytesFromSeed(16, i)])
      await db.bulkLoad(entries)
      for (let round = 0; round < 3; round++) for (let i = 0; i < 100; i++) expect(bytesEqual(db.get(i)!, entries[i]![1])).toBe(true)
      expect(db.stats().recordCache).toEqual({ bytes: 0, entries: 0, hits: 0, misses: 0 })
    } finally {
      await closeQuietly(db)
    }
  })
})
