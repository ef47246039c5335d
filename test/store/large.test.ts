/**
 * Volume and size tests: a million records through an 8 MiB buffer pool, checked after a reopen with
 * get and a full range scan; and single values from 0 bytes to 16 MiB (and the limit) round-tripping
 * across a reopen on 4 KiB pages.
 */
import { describe, expect, it } from 'vitest'
import { VALUE_MAX_BYTES, open } from '../../src/index.js'
import type { BatchOperation } from '../../src/store/api.js'
import {
  Model,
  Rng,
  bytesEqual,
  bytesFromSeed,
  closeQuietly,
  describeBytes,
  describeKey,
  expectStoreEquals,
  useTempDirs,
  type Store,
} from './helpers.js'

const tempDir = useTempDirs('learned-storage-large-')

const MiB = 1 << 20

// ---------------------------------------------------------------------------------------------
// One million records
// ---------------------------------------------------------------------------------------------

/**
 * The expected 16-byte value of a key, computed from the key alone: its 8 bytes, then 8 bytes of a
 * hash of them. A value read back under the wrong key, truncated or stale cannot match.
 */
function valueOf(key: number, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, 16)
  view.setFloat64(0, key, true)
  let h1 = view.getUint32(0, true) ^ 0x9e3779b9
  let h2 = view.getUint32(4, true) ^ 0x85ebca6b
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x7feb352d)
  h2 = Math.imul(h2 ^ (h2 >>> 15), 0x846ca68b)
  h1 ^= Math.imul(h2, 0x27d4eb2f)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 0x165667b1)
  view.setUint32(8, h1 >>> 0, true)
  view.setUint32(12, h2 >>> 0, true)
  return out
}

/** `count` distinct keys in random order: half integers, half doubles of all magnitudes. */
function randomKeys(count: number, seed: number): { order: Float64Array; sorted: Float64Array } {
  const rng = new Rng(seed)
  const order = new Float64Array(count)
  const seen = new Set<number>()
  let n = 0
  while (n < count) {
    let key: number
    const pick = rng.int(4)
    if (pick === 0) key = rng.int(2 ** 40) - 2 ** 39 // integers
    else if (pick === 1) key = (rng.float() - 0.5) * 2e6 // doubles in a narrow band
    else if (pick === 2) key = (rng.float() - 0.5) * 10 ** (rng.int(40) - 10) // wide magnitudes
    else key = 1e9 + rng.int(1 << 20) * 0.25 // a dense cluster
    if (key === 0) key = 0
    if (seen.has(key)) continue
    seen.add(key)
    order[n++] = key
  }
  return { order, sorted: Float64Array.from(order).sort() }
}

describe('one million records', () => {
  it('1M random keys with 16-byte values: batches of 10k, close, reopen, every get and a full scan match', async () => {
    const N = 1_000_000
    const t0 = performance.now()
    const { order, sorted } = randomKeys(N, 20240601)
    const dir = tempDir()
    let db: Store | undefined
    try {
      // 64 MiB: the pool holds leaves and values alike (one budget), and 1M random keys make ~35 MB
      // of leaves; with 8 MiB every batch of random keys reads and writes most leaves (26x slower).
      db = await open(dir, { cacheBytes: 64 * MiB, durability: 'none' })
      const tGen = performance.now()
      for (let start = 0; start < N; start += 10_000) {
        const batch: BatchOperation[] = []
        for (let i = start; i < start + 10_000; i++) {
          const key = order[i] as number
          batch.push({ type: 'put', key, value: valueOf(key) })
        }
        await db.batch(batch)
      }
      expect(db.stats().records).toBe(N)
      await db.close()
      db = undefined
      const tWrite = performance.now()

      db = await open(dir, { cacheBytes: 64 * MiB, durability: 'none' })
      expect(db.stats().records).toBe(N)

      // Every key by get, in the (random) insertion order.
      const expected = new Uint8Array(16)
      let badGet = ''
      for (let i = 0; i < N; i++) {
        const key = order[i] as number
        const got = db.get(key)
        if (got === undefined || !bytesEqual(got, valueOf(key, expected))) {
          badGet = `get(${describeKey(key)}) = ${describeBytes(got)}, expected ${describeBytes(valueOf(key))} (insertion index ${i})`
          break
        }
      }
      expect(badGet).toBe('')
      const tGet = performance.now()

      // One full scan: keys ascending and exactly the inserted set, values equal.
      let i = 0
      let badScan = ''
      for (const [key, value] of db.range()) {
        if (i >= N) {
          badScan = `extra entry ${describeKey(key)} after ${N}`
          break
        }
        if (key !== sorted[i]) {
          badScan = `entry ${i}: key ${describeKey(key)}, expected ${describeKey(sorted[i] as number)}`
          break
        }
        if (!bytesEqual(value, valueOf(key, expected))) {
          badScan = `entry ${i} (key ${describeKey(key)}): value ${describeBytes(value)}, expected ${describeBytes(valueOf(key))}`
          break
        }
        i++
      }
      if (badScan === '' && i !== N) badScan = `scan returned ${i} entries, expected ${N}`
      expect(badScan).toBe('')
      const tScan = performance.now()

      // A few absent keys between neighbours.
      const rng = new Rng(5)
      for (let s = 0; s < 1000; s++) {
        const j = rng.int(N - 1)
        const mid = (sorted[j] as number) / 2 + (sorted[j + 1] as number) / 2
        if (mid > (sorted[j] as number) && mid < (sorted[j + 1] as number)) {
          expect(db.get(mid), `absent key ${mid}`).toBeUndefined()
        }
      }

      const stats = db.stats()
      expect(stats.records).toBe(N)
      expect(stats.bufferPool.evictions).toBeGreaterThan(0)
      expect(stats.bufferPool.frames).toBeLessThanOrEqual(Math.floor((64 * MiB) / stats.pageSizeBytes))
      expect(stats.bufferPool.residentPages).toBeLessThanOrEqual(stats.bufferPool.frames)
      expect(stats.bytesOnDisk).toBeGreaterThan(N * 24) // at least key + value bytes
      await db.close()
      db = undefined
      console.log(
        `1M records: keys ${(tGen - t0).toFixed(0)} ms, write+close ${(tWrite - tGen).toFixed(0)} ms, ` +
          `reopen+1M gets ${(tGet - tWrite).toFixed(0)} ms, full scan ${(tScan - tGet).toFixed(0)} ms, ` +
          `evictions ${stats.bufferPool.evictions}, pages ${stats.pages.total}, ${(stats.bytesOnDisk / MiB).toFixed(1)} MiB on disk`,
      )
    } finally {
      await closeQuietly(db)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Value sizes
// ---------------------------------------------------------------------------------------------

describe('value sizes', () => {
  it('0 B, 1 B, around one 4 KiB page, 1 MiB and 16 MiB round-trip across reopens', async () => {
    const PAGE = 4096
    const sizes = [0, 1, 2, 100, PAGE - 64, PAGE - 33, PAGE - 32, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE - 1, 2 * PAGE + 7, 65_536, MiB - 1, MiB, 16 * MiB]
    const dir = tempDir()
    const values = new Map<number, Uint8Array>()
    sizes.forEach((size, i) => values.set(i * 10, bytesFromSeed(size, 1000 + i)))
    // Small neighbours between the big ones, so the data pages hold both kinds.
    for (let i = 0; i < sizes.length; i++) values.set(i * 10 + 5, bytesFromSeed(7, i))
    const sortedKeys = [...values.keys()].sort((a, b) => a - b)

    const verify = (db: Store, when: string): void => {
      for (const key of sortedKeys) {
        const expected = values.get(key) as Uint8Array
        const got = db.get(key)
        expect(got === undefined ? 'undefined' : got.byteLength, `size of ${key} ${when}`).toBe(expected.byteLength)
        expect(bytesEqual(got as Uint8Array, expected), `bytes of ${key} (${expected.byteLength} B) ${when}`).toBe(true)
      }
      const scanned: number[] = []
      for (const [key, value] of db.range()) {
        scanned.push(key)
        const expected = values.get(key)
        expect(expected !== undefined && bytesEqual(value, expected), `range value of ${key} ${when}`).toBe(true)
      }
      expect(scanned, `range keys ${when}`).toEqual(sortedKeys)
      expect(db.stats().records).toBe(values.size)
    }

    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: 64 * PAGE })
      for (const [key, value] of values) await db.put(key, value)
      verify(db, 'before close')
      await db.close()
      db = undefined

      db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: 64 * PAGE })
      verify(db, 'after reopen')
      // Shrink the 16 MiB value to 1 byte, grow a 0-byte one to 1 MiB + 1, delete the 1 MiB one.
      const k16 = sizes.indexOf(16 * MiB) * 10
      const k0 = sizes.indexOf(0) * 10
      const k1m = sizes.indexOf(MiB) * 10
      values.set(k16, Uint8Array.of(42))
      values.set(k0, bytesFromSeed(MiB + 1, 77))
      values.delete(k1m)
      sortedKeys.splice(sortedKeys.indexOf(k1m), 1)
      await db.put(k16, Uint8Array.of(42))
      await db.put(k0, bytesFromSeed(MiB + 1, 77))
      await db.del(k1m)
      verify(db, 'after overwrites')
      await db.close()
      db = undefined

      db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: 8 * PAGE })
      verify(db, 'after second reopen (8-frame pool)')
      await db.close()
      db = undefined
    } finally {
      await closeQuietly(db)
    }
  })

  it('a value of exactly VALUE_MAX_BYTES is accepted and reads back; one byte more is VALUE_TOO_LARGE', async () => {
    expect(VALUE_MAX_BYTES).toBeGreaterThanOrEqual(16 * MiB)
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { durability: 'none' })
      const max = new Uint8Array(VALUE_MAX_BYTES)
      max[0] = 1
      max[max.length - 1] = 2
      max[max.length >> 1] = 3
      await db.put(1, max)
      let code = 'resolved'
      try {
        await db.put(2, new Uint8Array(VALUE_MAX_BYTES + 1))
      } catch (error) {
        code = (error as { code?: string }).code ?? String(error)
      }
      expect(code).toBe('VALUE_TOO_LARGE')
      await db.close()
      db = undefined
      db = await open(dir, { durability: 'none' })
      const got = db.get(1)
      expect(got?.byteLength).toBe(VALUE_MAX_BYTES)
      expect(bytesEqual(got as Uint8Array, max)).toBe(true)
      expect(db.has(2)).toBe(false)
      expect(db.stats().records).toBe(1)
    } finally {
      await closeQuietly(db)
    }
  })
})

describe('space reuse', () => {
  it('overwriting and deleting everything over many open/close cycles does not grow the file without bound', async () => {
    const PAGE = 4096
    const dir = tempDir()
    const model = new Model()
    const totals: number[] = []
    const sizes: number[] = []
    let db: Store | undefined
    try {
      for (let cycle = 0; cycle < 10; cycle++) {
        db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: 64 * PAGE, durability: 'none' })
        expectStoreEquals(db, model, `start of cycle ${cycle}`)
        const batch: BatchOperation[] = []
        for (let k = 0; k < 2000; k++) {
          if (cycle % 4 === 3 && k % 3 === 0) {
            batch.push({ type: 'del', key: k })
            model.del(k)
          } else {
            const value = bytesFromSeed(200 + ((k * 7 + cycle) % 900), cycle * 10_000 + k)
            batch.push({ type: 'put', key: k, value })
            model.put(k, value)
          }
        }
        for (let j = 0; j < 4; j++) {
          const value = bytesFromSeed(30_000 + cycle * 100, cycle * 10 + j) // overflow runs, replaced every cycle
          batch.push({ type: 'put', key: -1 - j, value })
          model.put(-1 - j, value)
        }
        await db.batch(batch)
        expectStoreEquals(db, model, `end of cycle ${cycle}`)
        await db.close()
        db = await open(dir, { readOnly: true })
        const stats = db.stats()
        totals.push(stats.pages.total)
        sizes.push(stats.bytesOnDisk)
        await db.close()
        db = undefined
      }
      // Copy-on-write needs room for about two versions; after the first cycles the size must settle.
      const settled = Math.max(...totals.slice(0, 3))
      expect(Math.max(...totals.slice(3)), `pages.total per cycle: ${totals.join(', ')}`).toBeLessThanOrEqual(Math.ceil(settled * 1.1))
      expect(Math.max(...sizes.slice(3)), `bytesOnDisk per cycle: ${sizes.join(', ')}`).toBeLessThanOrEqual(Math.ceil(Math.max(...sizes.slice(0, 3)) * 1.1))
    } finally {
      await closeQuietly(db)
    }
  })
})
