/**
 * A damaged newest meta page: open falls back to the older one and replays the log from its redo
 * LSN (docs/RECOVERY.md, "A damaged meta page"). That needs two things the engine keeps until a
 * third checkpoint replaces the older meta page: every page the older checkpoint references
 * (free-space.ts rule 2) and every log segment from its redo LSN on. The workloads here free and
 * reuse many pages and rotate many log segments between checkpoints, so either one, dropped, fails
 * a case. The meta layout comes from docs/FORMAT.md, not from the engine.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { Model, Rng, bytesFromSeed, closeQuietly, expectStoreEquals, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-fallback-')
const PAGE = 4096
/** docs/FORMAT.md: the generation field of a meta page (f64 at byte 48). */
const GENERATION = 48
const OPTIONS = {
  pageSizeBytes: PAGE,
  cacheBytes: 16 * PAGE,
  walSegmentBytes: 65536,
  checkpointWalBytes: 1 << 30,
  checkpointIntervalMs: 3_600_000,
  durability: 'os' as const,
}

function newestMeta(dir: string): number {
  const bytes = fs.readFileSync(path.join(dir, 'data.lsp'))
  return bytes.readDoubleLE(GENERATION) > bytes.readDoubleLE(PAGE + GENERATION) ? 0 : 1
}

/** Flips one bit of the newest meta page's fields, leaving its checksum as it was (a bit rot). */
function damageNewestMeta(dir: string): number {
  const file = path.join(dir, 'data.lsp')
  const bytes = fs.readFileSync(file)
  const slot = newestMeta(dir)
  bytes[slot * PAGE + 70]! ^= 0x10
  fs.writeFileSync(file, bytes)
  return slot
}

function copyOf(dir: string): string {
  const copy = tempDir()
  fs.rmSync(copy, { recursive: true, force: true })
  fs.cpSync(dir, copy, { recursive: true })
  return copy
}

/** Rounds of overwrites and deletes of one key range, a checkpoint after each: pages freed and reused. */
async function churn(db: Store, model: Model, rng: Rng, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 400; i++) {
      const key = rng.int(600)
      if (rng.int(5) === 0) {
        await db.del(key)
        model.del(key)
      } else {
        const value = bytesFromSeed(rng.int(8) === 0 ? 2000 : 10 + rng.int(300), round * 1000 + i)
        await db.put(key, value)
        model.put(key, value)
      }
    }
    await db.checkpoint()
  }
}

async function expectOpensTo(dir: string, model: Model, context: string): Promise<void> {
  let db: Store | undefined
  try {
    db = await open(dir, { ...OPTIONS, readOnly: true })
    expectStoreEquals(db, model, context)
  } finally {
    await closeQuietly(db)
  }
}

describe('a damaged newest meta page: the older checkpoint plus the log holds every acknowledged write', () => {
  it('after many checkpoints that free and reuse pages, closed cleanly', async () => {
    const dir = tempDir()
    const model = new Model()
    const rng = new Rng(20261205)
    const db = await open(dir, OPTIONS)
    await churn(db, model, rng, 8)
    // Writes after the last checkpoint: only the log has them.
    for (let i = 0; i < 150; i++) {
      const value = bytesFromSeed(40 + (i % 90), 77_000 + i)
      await db.put(1000 + i, value)
      model.put(1000 + i, value)
    }
    const grew = db.stats().pages
    await db.close()
    // The workload did reuse pages (else this case could not fail): fewer pages than were ever written.
    expect(grew.free + grew.pendingFree).toBeGreaterThan(0)
    const copy = copyOf(dir)
    damageNewestMeta(copy)
    await expectOpensTo(copy, model, 'newest meta page damaged after close')
    // Read-write too: the fallback store takes writes and reopens to the model.
    const db2 = await open(copy, OPTIONS)
    await churn(db2, model, rng, 3)
    await db2.close()
    await expectOpensTo(copy, model, 'after writes on the fallback store')
  })

  it('in a crash image taken between checkpoints (the files as a SIGKILL leaves them at durability os)', async () => {
    const dir = tempDir()
    const model = new Model()
    const rng = new Rng(7)
    const db = await open(dir, OPTIONS)
    try {
      await churn(db, model, rng, 6)
      // A second open, its first checkpoint making the free list of the first reusable.
      await db.close()
      const db2 = await open(dir, OPTIONS)
      await churn(db2, model, rng, 3)
      for (let i = 0; i < 200; i++) {
        const key = rng.int(600)
        const value = bytesFromSeed(20 + rng.int(400), 90_000 + i)
        await db2.put(key, value)
        model.put(key, value)
      }
      const image = copyOf(dir)
      await db2.close()
      damageNewestMeta(image)
      await expectOpensTo(image, model, 'crash image, newest meta page damaged')
    } finally {
      await closeQuietly(db)
    }
  })

  it('writes right after an open, before its first checkpoint, do not touch the pages the older meta page references', async () => {
    const dir = tempDir()
    const model = new Model()
    const rng = new Rng(99)
    const first = await open(dir, OPTIONS)
    await churn(first, model, rng, 4)
    await first.close()
    // The free list now names pages the older checkpoint (the last churn round's) still uses.
    const db = await open(dir, OPTIONS)
    try {
      for (let i = 0; i < 600; i++) {
        const key = rng.int(600)
        const value = bytesFromSeed(rng.int(6) === 0 ? 2500 : 20 + rng.int(500), 50_000 + i)
        await db.put(key, value)
        model.put(key, value)
      }
      const image = copyOf(dir)
      damageNewestMeta(image)
      await expectOpensTo(image, model, 'writes after open, newest meta page damaged')
    } finally {
      await closeQuietly(db)
    }
  })

  it('after a bulk load (which no log record holds)', async () => {
    const dir = tempDir()
    const model = new Model()
    const db = await open(dir, OPTIONS)
    const keys = Float64Array.from({ length: 5000 }, (_, i) => i * 3)
    const values = (i: number): Uint8Array => bytesFromSeed(16 + (i % 40), i)
    await db.bulkLoad(keys, values)
    for (let i = 0; i < keys.length; i++) model.put(keys[i]!, values(i))
    // The files as a crash leaves them the moment the load resolves (a close would checkpoint).
    const image = copyOf(dir)
    await db.close()
    damageNewestMeta(image)
    await expectOpensTo(image, model, 'bulk load, newest meta page damaged')
  })
})
