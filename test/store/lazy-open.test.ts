/**
 * Open reads no leaf (issue 17): the tree image carries each leaf's header and the page map the live
 * record counts per value page, so open reads the meta page, the tree image, the page map and the
 * free list, and a leaf is read (and checked) when first used. What must hold:
 *   - after open, no leaf has been read; each key is still answered as a Map model answers it;
 *   - the page map counts exactly the records the checkpoint references: writes logged after the
 *     capture and records kept for open iterators are left out, so once every key is deleted every
 *     value page is freed after a reopen (a phantom count would keep its page forever);
 *   - a leaf page whose bytes break the node's invariants (re-sealed, so only a crafted file) is a
 *     CORRUPTION error on every read that needs it, while the other leaves still answer.
 */
import fs from 'node:fs'
import path from 'node:path'
import CRC32 from 'crc-32'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { Model, Rng, bytesFromSeed, closeQuietly, expectStoreEquals, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-lazy-open-')
const PAGE = 4096
const OPTIONS = { pageSizeBytes: PAGE, cacheBytes: 16 * PAGE, checkpointIntervalMs: 3_600_000, checkpointWalBytes: 1 << 30 }

async function filled(dir: string, count: number, seed: number): Promise<{ db: Store; model: Model }> {
  const rng = new Rng(seed)
  const model = new Model()
  const db = await open(dir, OPTIONS)
  const writes: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const key = rng.int(1 << 24) / 4
    // Some values above the inline limit of a 4 KiB page: overflow runs in the page map.
    const value = bytesFromSeed(i % 97 === 0 ? 5000 + rng.int(3000) : 8 + rng.int(40), seed * 1_000_003 + i)
    model.put(key, value)
    writes.push(db.put(key, value))
  }
  await Promise.all(writes)
  return { db, model }
}

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string }).code
}

describe('open reads no leaf', () => {
  it('reopen: no leaf read by open; every key right, leaves read on demand; check() passes', async () => {
    const dir = tempDir()
    let { db, model } = await filled(dir, 20_000, 3)
    const leaves = db.stats().index.dataNodes
    expect(leaves).toBeGreaterThan(50)
    await db.close()
    db = await open(dir, OPTIONS)
    try {
      const s = db.stats()
      expect(s.bufferPool.leafLoads).toBe(0)
      expect(s.bufferPool.leafPages).toBe(0)
      expect(s.index.dataNodes).toBe(leaves)
      expect(s.records).toBe(model.size)
      expect(s.recovery.leakedPages).toBe(0)
      expectStoreEquals(db, model, 'after reopen')
      // The pool holds 16 frames: every leaf was read at least once, most of them evicted since.
      expect(db.stats().bufferPool.leafLoads).toBeGreaterThanOrEqual(leaves)
      await db.check()
    } finally {
      await closeQuietly(db)
    }
  })

  it('the page map leaves out writes not yet applied and records kept for open iterators: after deleting every key, every value page is freed', async () => {
    const dir = tempDir()
    let { db, model } = await filled(dir, 6_000, 5)
    // An iterator frozen by the overwrites below keeps the overwritten records live past them.
    const iterator = db.range()[Symbol.iterator]()
    iterator.next()
    const rng = new Rng(9)
    const keys = model.keys()
    const overwrite = (count: number, seed: number): Promise<void>[] => {
      const writes: Promise<void>[] = []
      for (let i = 0; i < count; i++) {
        const key = keys[rng.int(keys.length)]!
        const value = bytesFromSeed(i % 50 === 0 ? 6000 : 20, seed + i)
        model.put(key, value)
        writes.push(db.put(key, value))
      }
      return writes
    }
    // Applied: the iterator freezes, and the records these overwrite stay live for it.
    await Promise.all(overwrite(2_000, 1_000))
    // Not yet applied when the checkpoint is captured: their records are live, not in its index.
    const inFlight = overwrite(1_000, 5_000)
    const checkpoint = db.checkpoint()
    await Promise.all([checkpoint, ...inFlight])
    // Killed here, in effect: the process goes away with the iterator open (no close, no checkpoint).
    const copy = tempDir()
    fs.rmSync(copy, { recursive: true, force: true })
    fs.cpSync(dir, copy, { recursive: true })
    fs.rmSync(path.join(copy, 'LOCK'), { force: true })
    iterator.return?.()
    await db.close()

    db = await open(copy, OPTIONS)
    try {
      // Pages that held only records kept for the iterator are garbage now: freed as leaked.
      expectStoreEquals(db, model, 'after reopen')
      await db.check()
      for (const key of model.keys()) await db.del(key)
      await db.checkpoint()
      await db.close()
      db = await open(copy, OPTIONS)
      const pages = db.stats().pages
      expect(db.stats().records).toBe(0)
      expect(pages.value).toBe(0)
      expect(pages.overflow).toBe(0)
      await db.check()
    } finally {
      await closeQuietly(db)
    }
  })

  it('a leaf page that breaks the node invariants (re-sealed): CORRUPTION on each read that needs it, the other leaves answer', async () => {
    const dir = tempDir()
    let { db, model } = await filled(dir, 8_000, 11)
    await db.close()
    // The first leaf the newest tree image names (docs/FORMAT.md: records from byte 56 of its
    // stream; a model node record is 48 bytes, a leaf's 112 with its id at 4): swap two of its keys
    // (out of order), then re-seal the page.
    const file = path.join(dir, 'data.lsp')
    const bytes = fs.readFileSync(file)
    const meta = bytes.readDoubleLE(48) > bytes.readDoubleLE(PAGE + 48) ? 0 : PAGE
    const stream = bytes.readUInt32LE(meta + 64) * PAGE + 40
    // The first leaf record (type 2) whose leaf holds more than 3 keys (a split may leave a leaf empty).
    let record = 56
    let victim = -1
    let at = 0
    let capacity = 0
    for (;;) {
      while (bytes[stream + record] === 1) record += 48
      expect(bytes[stream + record]).toBe(2)
      victim = bytes.readUInt32LE(stream + record + 4)
      at = victim * PAGE
      expect(bytes[at + 4]).toBe(2)
      capacity = bytes.readUInt32LE(at + 64)
      if (bytes.readUInt32LE(at + 68) > 3) break
      record += 112
    }
    const keysAt = at + ((136 + 4 * ((capacity + 31) >>> 5) + 7) & ~7)
    const occupied: number[] = []
    for (let s = 0; s < capacity; s++) if ((bytes.readUInt32LE(at + 136 + 4 * (s >>> 5)) >>> (s & 31)) & 1) occupied.push(s)
    expect(occupied.length).toBeGreaterThan(3)
    const victimKeys = occupied.map((s) => bytes.readDoubleLE(keysAt + 8 * s))
    const [a, b] = [occupied[1]!, occupied[2]!]
    bytes.writeDoubleLE(victimKeys[2]!, keysAt + 8 * a)
    bytes.writeDoubleLE(victimKeys[1]!, keysAt + 8 * b)
    let crc = CRC32.buf(bytes.subarray(at, at + 12))
    crc = CRC32.buf(new Uint8Array(4), crc)
    bytes.writeUInt32LE(CRC32.buf(bytes.subarray(at + 16, at + PAGE), crc) >>> 0, at + 12)
    expect(victim).toBeGreaterThan(1)
    fs.writeFileSync(file, bytes)
    db = await open(dir, { ...OPTIONS, readOnly: true })
    try {
      expect(db.stats().bufferPool.leafLoads).toBe(0)
      let refused = 0
      for (const key of model.keys()) {
        if (victimKeys.includes(key)) {
          // Every read that needs the leaf is refused, the second as the first: bytes that failed
          // their check are never used.
          for (let i = 0; i < 2; i++) {
            let code: string | undefined
            try {
              db.get(key)
            } catch (error) {
              code = codeOf(error)
              expect(String((error as Error).message)).toContain(`leaf ${victim}`)
            }
            expect(code).toBe('CORRUPTION')
          }
          refused++
          continue
        }
        expect(Buffer.from(db.get(key)!).equals(Buffer.from(model.get(key)!))).toBe(true)
      }
      expect(refused).toBe(victimKeys.length)
      await expect(db.check()).rejects.toMatchObject({ code: 'CORRUPTION' })
    } finally {
      await closeQuietly(db)
    }
  })
})
