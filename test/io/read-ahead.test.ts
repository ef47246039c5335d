/**
 * The read-ahead thread (src/io/read-ahead.ts): hints are advice, so what is tested is that they are
 * given where they should be, dropped and counted when its ring is full, that a thread with reads in
 * flight stops before `close` returns (the descriptor may then be closed), and that batched reads
 * over a pool far smaller than the data answer exactly what a Map model holds while hints fly.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { RING_SLOTS, ReadAhead } from '../../src/io/read-ahead.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, describeBytes, useTempDirs } from '../store/helpers.js'

const tempDir = useTempDirs('learned-storage-read-ahead-')

describe('ReadAhead', () => {
  it('reads what it is hinted, drops and counts hints past a full ring, and has nothing in flight once closed', async () => {
    const file = path.join(tempDir(), 'data')
    fs.writeFileSync(file, new Uint8Array(8 << 20))
    const fd = fs.openSync(file, 'r')
    const reader = new ReadAhead(fd)
    try {
      // More hints than the ring holds, given before the thread can take any (no kick, no await).
      const given = RING_SLOTS + 100
      for (let i = 0; i < given; i++) reader.hint((i % 2048) * 4096, 4096)
      expect(reader.issued + reader.dropped).toBe(given)
      expect(reader.dropped).toBeGreaterThanOrEqual(1)
      expect(reader.issued).toBeLessThanOrEqual(RING_SLOTS)
      reader.kick()
      // Every hint taken is read (its read ends) within a few seconds.
      const deadline = Date.now() + 10_000
      while (reader.finished < reader.issued && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
      expect(reader.finished).toBe(reader.issued)
      // Then hints with reads still in flight, and close at once: it returns only once they ended.
      for (let i = 0; i < 200; i++) reader.hint(i * 4096, 4096)
      reader.kick()
      const issued = reader.issued
      reader.close()
      expect(reader.finished).toBeLessThanOrEqual(issued)
      // Closed: later hints are ignored.
      reader.hint(0, 4096)
      expect(reader.issued).toBe(issued)
    } finally {
      reader.close()
      fs.closeSync(fd)
    }
  })

  it('a thread closed before it started never reads', () => {
    const file = path.join(tempDir(), 'data')
    fs.writeFileSync(file, new Uint8Array(4096))
    const fd = fs.openSync(file, 'r')
    const reader = new ReadAhead(fd)
    reader.hint(0, 4096)
    reader.kick()
    reader.close()
    expect(reader.finished).toBe(0)
    fs.closeSync(fd)
  })
})

describe('batched reads with read-ahead', () => {
  it('getMany and getManyInto over an 8-page pool answer as the model does, and hint the pages they miss', async () => {
    const dir = tempDir()
    // 'on': this small store's reads come from the page cache, where 'auto' gives no hints.
    const options = { pageSizeBytes: 4096, cacheBytes: 8 * 4096, checkpointIntervalMs: 3_600_000, readAhead: 'on' as const }
    const model = new Model()
    let db = await open(dir, options)
    try {
      const entries: [number, Uint8Array][] = []
      for (let i = 0; i < 30_000; i++) entries.push([i * 3, bytesFromSeed(8 + (i % 40), i)])
      await db.bulkLoad(entries)
      for (const [k, v] of entries) model.put(k, v)
      const rng = new Rng(3)
      // Overwrites and deletes since the load: hinted pages that are no longer any key's must not matter.
      for (let i = 0; i < 2000; i++) {
        const key = rng.int(30_000) * 3
        if (i % 5 === 0) {
          await db.del(key)
          model.del(key)
        } else {
          const value = bytesFromSeed(rng.int(60), 100_000 + i)
          await db.put(key, value)
          model.put(key, value)
        }
      }
      await db.close()
      db = await open(dir, options)
      let bad = ''
      const target = new Uint8Array(256 * 64)
      const lengths = new Int32Array(256)
      for (let round = 0; round < 200 && bad === ''; round++) {
        const keys = Array.from({ length: 1 + rng.int(256) }, () => rng.int(31_000) * 3 + (rng.int(10) === 0 ? 1 : 0))
        if (round % 2 === 0) {
          const got = db.getMany(keys)
          keys.forEach((key, i) => {
            const expected = model.get(key)
            const value = got[i]
            if (bad === '' && !(value === undefined ? expected === undefined : expected !== undefined && bytesEqual(value, expected))) bad = `getMany ${key}: ${describeBytes(value)}, expected ${describeBytes(expected)}`
          })
        } else {
          expect(db.getManyInto(keys, 0, keys.length, target, lengths)).toBe(keys.length)
          let at = 0
          keys.forEach((key, i) => {
            const expected = model.get(key)
            const length = lengths[i]!
            const value = length < 0 ? undefined : target.subarray(at, at + length)
            if (length > 0) at += length
            if (bad === '' && !(value === undefined ? expected === undefined : expected !== undefined && bytesEqual(value, expected))) bad = `getManyInto ${key}: ${describeBytes(value)}, expected ${describeBytes(expected)}`
          })
        }
      }
      expect(bad).toBe('')
      const stats = db.stats().bufferPool
      expect(stats.readAheadHints).toBeGreaterThan(1000)
      expect(stats.leafLoads).toBeGreaterThan(1000)
      await db.check()
    } finally {
      await closeQuietly(db)
    }
  })

  it("'auto' hints nothing while reads come from the page cache; 'off' starts no thread", async () => {
    for (const readAhead of ['auto', 'off'] as const) {
      const dir = tempDir()
      const db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096, readAhead })
      try {
        const entries: [number, Uint8Array][] = []
        for (let i = 0; i < 20_000; i++) entries.push([i, bytesFromSeed(16, i)])
        await db.bulkLoad(entries)
        // Warm: every page read once, so that the page cache holds the file.
        for (let i = 0; i < 20_000; i += 50) db.get(i)
        for (let round = 0; round < 20; round++) {
          const keys = Array.from({ length: 256 }, (_, i) => ((round * 7919 + i * 611) % 20_000))
          const got = db.getMany(keys)
          keys.forEach((key, i) => expect(bytesEqual(got[i]!, entries[key]![1])).toBe(true))
        }
        // 'auto' may hint the first batch or two after the open, while its reads still look slow.
        const hints = db.stats().bufferPool.readAheadHints
        if (readAhead === 'off') expect(hints).toBe(0)
        else expect(hints).toBeLessThan(2 * 512)
      } finally {
        await closeQuietly(db)
      }
    }
  })

  it('rejects a readAhead that is not auto, on or off', async () => {
    await expect(open(tempDir(), { readAhead: 'always' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })

  it('single gets hint nothing', async () => {
    const dir = tempDir()
    const db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
    try {
      const entries: [number, Uint8Array][] = []
      for (let i = 0; i < 20_000; i++) entries.push([i, bytesFromSeed(16, i)])
      await db.bulkLoad(entries)
      for (let i = 0; i < 20_000; i += 7) expect(bytesEqual(db.get(i)!, entries[i]![1])).toBe(true)
      expect(db.stats().bufferPool.readAheadHints).toBe(0)
    } finally {
      await closeQuietly(db)
    }
  })
})
