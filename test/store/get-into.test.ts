/**
 * Store.getInto: the value copied into the caller's buffer, its length returned (-1 when absent; a
 * length above the buffer's size means nothing was copied). Checked against a model for values read
 * from pool pages, read alone past a full pool, and from overflow runs.
 */
import { describe, expect, it } from 'vitest'
import { ErrorCode, StoreError, open } from '../../src/index.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, describeBytes, useTempDirs } from './helpers.js'

const tempDir = useTempDirs('learned-storage-get-into-')

describe('Store.getInto', () => {
  it.each([
    ['a pool larger than the data', 64 << 20],
    ['an 8-page pool (records read alone)', 8 * 4096],
  ])('copies exactly what the model holds, with %s', async (_name, cacheBytes) => {
    const dir = tempDir()
    const rng = new Rng(11)
    const model = new Model()
    let db = await open(dir, { pageSizeBytes: 4096, cacheBytes, checkpointIntervalMs: 3_600_000 })
    try {
      const keys: number[] = []
      for (let i = 0; i < 4000; i++) {
        const key = rng.float() * 1e6
        // Mostly small values, some of 64-2000 bytes, a few larger than a 4 KiB page (overflow).
        const size = i % 500 === 0 ? 5000 + rng.int(5000) : i % 7 === 0 ? 64 + rng.int(1936) : rng.int(64)
        const value = bytesFromSeed(size, i)
        await db.put(key, value)
        model.put(key, value)
        keys.push(key)
      }
      await db.close()
      db = await open(dir, { cacheBytes })
      const target = new Uint8Array(16 * 1024)
      let bad = ''
      for (const key of model.keys()) {
        target.fill(0xa5)
        const n = db.getInto(key, target)
        const expected = model.get(key)!
        if (n !== expected.byteLength) {
          bad = `getInto(${key}) returned ${n}, expected ${expected.byteLength}`
          break
        }
        if (!bytesEqual(target.subarray(0, n), expected)) {
          bad = `getInto(${key}) copied ${describeBytes(target.subarray(0, n))}, expected ${describeBytes(expected)}`
          break
        }
        // Nothing past the value is written.
        if (n < target.byteLength && target[n] !== 0xa5) {
          bad = `getInto(${key}) wrote past the value's ${n} bytes`
          break
        }
      }
      expect(bad).toBe('')
      // The small pool did read records alone (the path this case is for).
      if (cacheBytes < 1 << 20) expect(db.stats().bufferPool.rangeReads).toBeGreaterThan(0)
      // Absent keys.
      for (let i = 0; i < 200; i++) {
        const key = 2e6 + rng.float() * 1e6
        expect(db.getInto(key, target)).toBe(-1)
      }
    } finally {
      await closeQuietly(db)
    }
  })

  it('a buffer too small: returns the length and copies nothing; a buffer of that length then gets the value', async () => {
    const dir = tempDir()
    const db = await open(dir)
    try {
      const value = bytesFromSeed(100, 3)
      const big = bytesFromSeed(200_000, 4)
      await db.put(1, value)
      await db.put(2, big)
      await db.put(3, new Uint8Array(0))
      const small = new Uint8Array(50).fill(7)
      expect(db.getInto(1, small)).toBe(100)
      expect(small.every((b) => b === 7)).toBe(true)
      const exact = new Uint8Array(100)
      expect(db.getInto(1, exact)).toBe(100)
      expect(bytesEqual(exact, value)).toBe(true)
      expect(db.getInto(2, small)).toBe(200_000)
      expect(small.every((b) => b === 7)).toBe(true)
      const large = new Uint8Array(200_000)
      expect(db.getInto(2, large)).toBe(200_000)
      expect(bytesEqual(large, big)).toBe(true)
      expect(db.getInto(3, new Uint8Array(0))).toBe(0)
      expect(db.getInto(4, small)).toBe(-1)
    } finally {
      await closeQuietly(db)
    }
  })

  it('bad arguments are INVALID_ARGUMENT; a closed store is CLOSED', async () => {
    const dir = tempDir()
    const db = await open(dir)
    await db.put(1, new Uint8Array(4))
    for (const target of [undefined, null, [1, 2], Buffer.alloc(0).buffer, 'x']) {
      expect(() => db.getInto(1, target as never)).toThrow(StoreError)
      try {
        db.getInto(1, target as never)
      } catch (error) {
        expect((error as StoreError).code).toBe(ErrorCode.INVALID_ARGUMENT)
      }
    }
    try {
      db.getInto(NaN, new Uint8Array(4))
      expect.unreachable('NaN key accepted')
    } catch (error) {
      expect((error as StoreError).code).toBe(ErrorCode.INVALID_ARGUMENT)
    }
    // A Buffer is a Uint8Array: accepted.
    const buffer = Buffer.alloc(8)
    expect(db.getInto(1, buffer)).toBe(4)
    await db.close()
    try {
      db.getInto(1, new Uint8Array(4))
      expect.unreachable('closed store read')
    } catch (error) {
      expect((error as StoreError).code).toBe(ErrorCode.CLOSED)
    }
  })
})
