/**
 * Point reads on a full buffer pool read the value record alone (its own check verified) unless the
 * page was missed recently; the answers must match an independent model either way, and a damaged
 * record read alone is CORRUPTION, never a wrong value.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ErrorCode, open } from '../../src/index.js'
import type { BatchOperation } from '../../src/store/api.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, codeOfError, describeKey, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-record-reads-')
const PAGE = 4096
const VALUE_PAGE = 6

async function buildStore(dir: string): Promise<Model> {
  const model = new Model()
  const db = await open(dir, { pageSizeBytes: PAGE })
  try {
    const batch: BatchOperation[] = []
    for (let i = 0; i < 4000; i++) {
      // Mostly small values, some longer than the 512 bytes the first range read takes.
      const length = i % 37 === 0 ? 600 + (i % 300) : 1 + (i % 120)
      const value = bytesFromSeed(length, i + 17)
      batch.push({ type: 'put', key: i * 3 - 5000, value })
      model.put(i * 3 - 5000, value)
    }
    await db.batch(batch)
  } finally {
    await db.close()
  }
  return model
}

describe('point reads on a full buffer pool', () => {
  it('return the right value for every key, in random order, reading records alone and admitting pages read more often than the one they evict', async () => {
    const dir = tempDir()
    const model = await buildStore(dir)
    let db: Store | undefined
    try {
      // Leaves and values share the pool: room for every leaf (each get uses one, so they stay) and
      // 8 frames more, so that the value pages, not the leaves, are what does not fit.
      db = await open(dir, { readOnly: true })
      const leaves = db.stats().index.dataNodes
      await db.close()
      db = await open(dir, { readOnly: true, cacheBytes: (leaves + 8) * PAGE })
      const keys = [...model.keys()]
      const rng = new Rng(7)
      for (let round = 0; round < 2; round++) {
        for (let i = keys.length - 1; i > 0; i--) {
          const j = rng.int(i + 1)
          ;[keys[i], keys[j]] = [keys[j]!, keys[i]!]
        }
        for (const key of keys) {
          const got = db.get(key)
          const want = model.get(key)!
          if (got === undefined || !bytesEqual(got, want)) throw new Error(`get(${describeKey(key)}) returned ${got === undefined ? 'nothing' : `${got.length} bytes`}, expected ${want.length} bytes`)
        }
      }
      const pool = db.stats().bufferPool
      // Most misses read the record alone (8,000 gets; 1,742 read alone here with leaves sharing the
      // pool, 2,000+ when the pool held values only).
      expect(pool.rangeReads).toBeGreaterThan(keys.length / 3)
      // Pages read often were admitted: the pool did take pages after it filled.
      expect(pool.evictions).toBeGreaterThan(0)
      expect(db.get(1e9)).toBeUndefined()
    } finally {
      await closeQuietly(db)
    }
  })

  it('a damaged byte in a record read alone is CORRUPTION naming the page, and no wrong value is returned', async () => {
    const dir = tempDir()
    const model = await buildStore(dir)
    const file = path.join(dir, 'data.lsp')
    const bytes = fs.readFileSync(file)
    // Flip one byte in the record area of every third value page (the others fill the pool, so
    // that misses read records alone).
    const damaged: number[] = []
    let seen = 0
    for (let page = 2; (page + 1) * PAGE <= bytes.length; page++) {
      if (bytes[page * PAGE + 4] !== VALUE_PAGE) continue
      if (seen++ % 3 !== 0) continue
      const end = bytes.readUInt32LE(page * PAGE + 32)
      const at = page * PAGE + 40 + ((page * 131) % Math.max(1, end - 40))
      bytes[at] = bytes[at]! ^ 0x20
      damaged.push(page)
    }
    expect(damaged.length).toBeGreaterThan(2)
    fs.writeFileSync(file, bytes)
    let db: Store | undefined
    let failures = 0
    let rangeReads = 0
    try {
      db = await open(dir, { readOnly: true, cacheBytes: 8 * PAGE })
      // Random order: most first reads of a page are records read alone (the path under test).
      const keys = [...model.keys()]
      const rng = new Rng(11)
      for (let i = keys.length - 1; i > 0; i--) {
        const j = rng.int(i + 1)
        ;[keys[i], keys[j]] = [keys[j]!, keys[i]!]
      }
      for (const key of keys) {
        let got: Uint8Array | undefined
        try {
          got = db.get(key)
        } catch (error) {
          expect(codeOfError(error)).toBe(ErrorCode.CORRUPTION)
          expect(damaged.some((page) => (error as Error).message.includes(`page ${page}`))).toBe(true)
          failures++
          continue
        }
        const want = model.get(key)!
        if (got === undefined || !bytesEqual(got, want)) throw new Error(`wrong value for ${describeKey(key)}`)
      }
      rangeReads = db.stats().bufferPool.rangeReads
    } finally {
      await closeQuietly(db)
    }
    expect(failures).toBeGreaterThan(0)
    expect(rangeReads).toBeGreaterThan(100)
  })
})
