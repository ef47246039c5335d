/**
 * Leaves live in the buffer pool (src/pages/leaf-frames.ts): with a pool far smaller than the
 * leaves, every leaf is evicted and read back, changed ones are written when evicted, and the store
 * still answers every key as a Map model does, across checkpoints, reopens and check(). The bounds
 * are read from stats(): resident leaf and value pages never exceed the frames the budget allows.
 */
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { Model, Rng, bytesFromSeed, closeQuietly, expectStoreEquals, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-leaf-frames-')

const PAGE = 4096
const FRAMES = 8

function expectBounded(db: Store): void {
  const s = db.stats()
  expect(s.bufferPool.frames).toBe(FRAMES)
  expect(s.bufferPool.residentPages).toBeLessThanOrEqual(FRAMES)
  expect(s.bufferPool.leafPages).toBeLessThanOrEqual(s.bufferPool.residentPages)
  expect(s.memory.poolBytes).toBeLessThanOrEqual(FRAMES * PAGE)
}

describe('leaves in the buffer pool', () => {
  it('a pool of 8 frames over ~200 leaves: every key right while leaves are evicted, written and read back; reopen; check()', async () => {
    const dir = tempDir()
    const rng = new Rng(17)
    const model = new Model()
    const options = { pageSizeBytes: PAGE, cacheBytes: FRAMES * PAGE, checkpointIntervalMs: 3_600_000, checkpointWalBytes: 1 << 30 }
    let db = await open(dir, options)
    try {
      for (let round = 0; round < 4; round++) {
        const writes: Promise<void>[] = []
        for (let i = 0; i < 5000; i++) {
          const key = rng.int(1 << 20) / 8
          if (rng.int(10) === 0) {
            model.del(key)
            writes.push(db.del(key))
          } else {
            const value = bytesFromSeed(rng.int(24), round * 100_000 + i)
            model.put(key, value)
            writes.push(db.put(key, value))
          }
        }
        await Promise.all(writes)
        expectBounded(db)
        expectStoreEquals(db, model, `round ${round}, before the checkpoint`)
        if (round % 2 === 1) await db.checkpoint()
        expectStoreEquals(db, model, `round ${round}`)
      }
      const s = db.stats()
      // More leaves than frames, so leaves were evicted changed (written) and read back.
      expect(s.index.dataNodes).toBeGreaterThan(10 * FRAMES)
      expect(s.bufferPool.leafEvictionWrites).toBeGreaterThan(0)
      expect(s.bufferPool.leafLoads).toBeGreaterThan(0)
      expect(s.memory.leaves).toBe(s.index.dataNodes)
      expectBounded(db)
      await db.check()
      await db.close()
      db = await open(dir, options)
      expectBounded(db)
      expectStoreEquals(db, model, 'after reopen')
      await db.check()
      expectBounded(db)
    } finally {
      await closeQuietly(db)
    }
  })

  it('a leaf evicted changed between checkpoints and the process gone without a checkpoint: replay of the log restores it', async () => {
    const dir = tempDir()
    const model = new Model()
    const options = { pageSizeBytes: PAGE, cacheBytes: FRAMES * PAGE, checkpointIntervalMs: 3_600_000, checkpointWalBytes: 1 << 30, durability: 'fsync' as const }
    const db = await open(dir, options)
    const writes: Promise<void>[] = []
    for (let i = 0; i < 20_000; i++) {
      const key = (i * 7919) % 20_000
      const value = bytesFromSeed(8, i)
      model.put(key, value)
      writes.push(db.put(key, value))
    }
    await Promise.all(writes)
    expect(db.stats().bufferPool.leafEvictionWrites).toBeGreaterThan(0)
    expect(db.stats().checkpoints).toBe(0)
    // Reopen from the files as they are (the store is not closed, so no checkpoint is written):
    // recovery reads the creation checkpoint and replays the log; no page an eviction wrote is read.
    const copy = tempDir()
    fs.cpSync(dir, copy, { recursive: true })
    await closeQuietly(db)
    const reopened = await open(copy, options)
    try {
      expectStoreEquals(reopened, model, 'after recovery')
      await reopened.check()
    } finally {
      await closeQuietly(reopened)
    }
  })

  it('point gets never evict a leaf to admit a value page: with room for the leaves, a second pass of random gets reads no leaf again', async () => {
    const dir = tempDir()
    const model = new Model()
    // Values in value pages (leafValueBytes 0), which point gets read alone or admit.
    let db = await open(dir, { pageSizeBytes: PAGE, leafValueBytes: 0, checkpointIntervalMs: 3_600_000 })
    const keys = Float64Array.from({ length: 30_000 }, (_, i) => 2 * i + 1)
    for (let i = 0; i < keys.length; i++) model.put(keys[i]!, bytesFromSeed(16, i))
    await db.bulkLoad(keys, (i) => model.get(keys[i]!)!)
    const leaves = db.stats().index.dataNodes
    await db.close()
    // Frames for every leaf and a few more; the value pages (about as many again) do not fit.
    db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: (leaves + 16) * PAGE })
    try {
      const rng = new Rng(5)
      const pass = (): void => {
        for (let i = 0; i < 20_000; i++) {
          const key = keys[rng.int(keys.length)]!
          expect(Buffer.from(db.get(key)!).equals(Buffer.from(model.get(key)!))).toBe(true)
        }
      }
      pass()
      const loaded = db.stats().bufferPool.leafLoads
      expect(loaded).toBeGreaterThanOrEqual(leaves - 1)
      pass()
      expect(db.stats().bufferPool.leafLoads).toBe(loaded)
      expect(db.stats().bufferPool.rangeReads).toBeGreaterThan(0)
    } finally {
      await closeQuietly(db)
    }
  })
})
