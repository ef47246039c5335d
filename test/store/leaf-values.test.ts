/**
 * Values kept in their leaves (OpenOptions.leafValueBytes; node-layout.ts cells): a cold point get of
 * a small value reads one page; the width is fixed when the store is created and checked; values of
 * every size around the width read back right through every read path, after reopening too (the
 * model tests in model.test.ts run the same paths at random).
 */
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, codeOfError, collect, entriesDiff, expectStoreEquals, useTempDirs } from './helpers.js'

const tempDir = useTempDirs('learned-storage-leaf-values-')
const PAGE = 4096

/** Random gets of `keys` over a store reopened with an 8-page pool: device reads per get. */
async function coldReadsPerGet(dir: string, leafValueBytes: number): Promise<number> {
  const n = 20_000
  const keys = Float64Array.from({ length: n }, (_, i) => 3 * i + 1)
  const model = new Model()
  let db = await open(dir, { pageSizeBytes: PAGE, leafValueBytes })
  await db.bulkLoad(keys, (i) => {
    const value = bytesFromSeed(16, i)
    model.put(keys[i]!, value)
    return value
  })
  await db.close()
  db = await open(dir, { cacheBytes: 8 * PAGE, readAhead: 'off' })
  try {
    expect(db.stats().leafValueBytes).toBe(leafValueBytes)
    const rng = new Rng(3)
    const before = db.stats().bufferPool
    const gets = 3000
    for (let i = 0; i < gets; i++) {
      const key = keys[rng.int(n)]!
      expect(Buffer.from(db.get(key)!).equals(Buffer.from(model.get(key)!))).toBe(true)
    }
    const after = db.stats().bufferPool
    return (after.pagesRead - before.pagesRead + after.rangeReads - before.rangeReads) / gets
  } finally {
    await closeQuietly(db)
  }
}

/** A store of `keys` (16-byte values bytesFromSeed(16, i)) reopened with an 8-page pool and a record cache. */
async function loadedSmallPool(keys: Float64Array): Promise<Awaited<ReturnType<typeof open>>> {
  const dir = tempDir()
  const db = await open(dir, { pageSizeBytes: PAGE })
  await db.bulkLoad(keys, (i) => bytesFromSeed(16, i))
  await db.close()
  return open(dir, { cacheBytes: 8 * PAGE, recordCacheBytes: 1 << 20, readAhead: 'off' })
}

describe('values in their leaves', () => {
  it('a cold point get of a 16-byte value reads one page; with the values in value pages, about two', async () => {
    const inLeaf = await coldReadsPerGet(tempDir(), 16)
    const apart = await coldReadsPerGet(tempDir(), 0)
    console.log(`device reads per cold get: ${inLeaf} in the leaf, ${apart} apart`)
    expect(inLeaf).toBeGreaterThan(0.9)
    expect(inLeaf).toBeLessThanOrEqual(1.02)
    expect(apart).toBeGreaterThan(1.7)
  })

  it('a hot key whose leaf was read from the file is then answered by the record cache; a put of it is seen at once', async () => {
    const n = 20_000
    const keys = Float64Array.from({ length: n }, (_, i) => 3 * i + 1)
    const db = await loadedSmallPool(keys)
    try {
      const rng = new Rng(9)
      const others = (): void => {
        for (let i = 0; i < 300; i++) db.get(keys[rng.int(n)]!)
      }
      const hot = keys[777]!
      others() // the pool fills up
      expect(db.get(hot)).toEqual(bytesFromSeed(16, 777))
      others()
      const loads = db.stats().bufferPool.leafLoads
      const into = new Uint8Array(16)
      expect(db.getInto(hot, into)).toBe(16)
      expect(into).toEqual(bytesFromSeed(16, 777))
      expect(db.get(hot)).toEqual(bytesFromSeed(16, 777))
      expect(db.stats().bufferPool.leafLoads).toBe(loads)
      await db.put(hot, bytesFromSeed(9, 1))
      expect(db.get(hot)).toEqual(bytesFromSeed(9, 1))
      expect(db.getMany([hot])[0]).toEqual(bytesFromSeed(9, 1))
    } finally {
      await closeQuietly(db)
    }
  })

  it('a batched read (getManyInto, getMany) that read a key\'s leaf from the file offers its value to the record cache: the key is then answered without its leaf', async () => {
    const n = 20_000
    const keys = Float64Array.from({ length: n }, (_, i) => 3 * i + 1)
    const db = await loadedSmallPool(keys)
    try {
      const rng = new Rng(11)
      const others = (): void => {
        for (let i = 0; i < 300; i++) db.get(keys[rng.int(n)]!)
      }
      others() // the pool fills up
      // Two hot keys far apart (each in a leaf of its own), read in one batch with others, cold.
      const hot = [keys[1234]!, keys[17_001]!]
      const batch = [hot[0]!, keys[rng.int(n)]!, hot[1]!, keys[rng.int(n)]!]
      const target = new Uint8Array(64 * 16)
      const lengths = new Int32Array(batch.length)
      const loadsBefore = db.stats().bufferPool.leafLoads
      expect(db.getManyInto(batch, 0, batch.length, target, lengths)).toBe(batch.length)
      expect(db.stats().bufferPool.leafLoads).toBeGreaterThan(loadsBefore)
      expect(target.subarray(0, 16)).toEqual(bytesFromSeed(16, 1234))
      expect(target.subarray(32, 48)).toEqual(bytesFromSeed(16, 17_001))
      const viaMany = db.getMany([keys[2222]!])
      expect(viaMany[0]).toEqual(bytesFromSeed(16, 2222))
      others() // their leaves are evicted
      const loads = db.stats().bufferPool.leafLoads
      const hits = db.stats().recordCache.hits
      expect(db.getManyInto([hot[0]!, hot[1]!, keys[2222]!], 0, 3, target, lengths)).toBe(3)
      expect(target.subarray(0, 16)).toEqual(bytesFromSeed(16, 1234))
      expect(target.subarray(16, 32)).toEqual(bytesFromSeed(16, 17_001))
      expect(target.subarray(32, 48)).toEqual(bytesFromSeed(16, 2222))
      expect(db.stats().bufferPool.leafLoads).toBe(loads)
      expect(db.stats().recordCache.hits).toBe(hits + 3)
    } finally {
      await closeQuietly(db)
    }
  })

  it('the width is fixed at creation and checked: a bad or different one is INVALID_ARGUMENT', async () => {
    const dir = tempDir()
    for (const bad of [-8, 4, 12.5, 264, '16', null]) {
      await expect(open(dir, { leafValueBytes: bad as number })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    }
    // 4 KiB pages hold 64 slots of 16 + 40 bytes, not of 16 + 48.
    await expect(open(dir, { pageSizeBytes: PAGE, leafValueBytes: 48 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    let db = await open(dir, { pageSizeBytes: PAGE, leafValueBytes: 40 })
    await db.put(1, new Uint8Array(40).fill(7))
    await db.close()
    const error = await open(dir, { leafValueBytes: 16 }).then(
      (opened) => opened.close().then(() => null),
      (e: unknown) => e,
    )
    expect(codeOfError(error)).toBe('INVALID_ARGUMENT')
    db = await open(dir, { leafValueBytes: 40 })
    try {
      expect(db.stats().leafValueBytes).toBe(40)
      expect(db.get(1)).toEqual(new Uint8Array(40).fill(7))
    } finally {
      await closeQuietly(db)
    }
    db = await open(tempDir())
    try {
      expect(db.stats().leafValueBytes).toBe(16)
    } finally {
      await closeQuietly(db)
    }
  })

  it('values of every length around the width, overwritten across it, read back through every path and after reopening', async () => {
    const dir = tempDir()
    const options = { pageSizeBytes: PAGE, cacheBytes: 8 * PAGE, leafValueBytes: 16, durability: 'os' as const, checkpointIntervalMs: 3_600_000 }
    const model = new Model()
    const rng = new Rng(11)
    let db = await open(dir, options)
    try {
      const lengths = [0, 1, 7, 8, 15, 16, 17, 24, 100, 5000]
      for (let round = 0; round < 6; round++) {
        // An iterator open across the round's writes reads the store as it was when it began.
        const before = model.range()
        const iterator = db.range()[Symbol.iterator]()
        const first = iterator.next()
        // Issued without waiting (applied in order, in groups), then all awaited.
        const writes: Promise<void>[] = []
        for (let i = 0; i < 1500; i++) {
          const key = rng.int(3000)
          if (rng.int(6) === 0) {
            writes.push(db.del(key))
            model.del(key)
          } else {
            const value = bytesFromSeed(lengths[rng.int(lengths.length)]!, round * 10_000 + i)
            writes.push(db.put(key, value))
            model.put(key, value)
          }
          if (i % 100 === 99) await Promise.all(writes.splice(0))
        }
        await Promise.all(writes)
        const seen = first.done === true ? [] : [first.value]
        for (let step = iterator.next(); step.done !== true; step = iterator.next()) seen.push(step.value)
        expect(entriesDiff(seen, before)).toBe('')
        expectStoreEquals(db, model, `round ${round}`)
        const keys = model.keys()
        const many = db.getMany(keys)
        const target = new Uint8Array(64 * 1024)
        const lengthsOut = new Int32Array(keys.length)
        let at = 0
        for (let from = 0; from < keys.length; ) {
          const answered = db.getManyInto(keys, from, keys.length, target, lengthsOut.subarray(from))
          let offset = 0
          let bad = ''
          for (let i = 0; i < answered && bad === ''; i++) {
            const key = keys[from + i]!
            const expected = model.get(key)!
            if (!bytesEqual(many[from + i]!, expected)) bad = `getMany: key ${key}`
            else if (lengthsOut[from + i] !== expected.length) bad = `getManyInto: length of key ${key}`
            else if (!bytesEqual(target.subarray(offset, offset + expected.length), expected)) bad = `getManyInto: bytes of key ${key}`
            offset += expected.length
          }
          expect(bad).toBe('')
          from += answered
          at += answered
        }
        expect(at).toBe(keys.length)
        const into = new Uint8Array(8)
        for (const key of keys.slice(0, 200)) {
          const expected = model.get(key)!
          expect(db.getInto(key, into)).toBe(expected.length)
          if (expected.length <= into.length) expect(into.subarray(0, expected.length)).toEqual(expected)
        }
        await db.check()
        if (round % 2 === 1) {
          await db.close()
          db = await open(dir, options)
          expectStoreEquals(db, model, `reopened after round ${round}`)
        }
      }
      expect(entriesDiff(collect(db.range({ reverse: true })), model.range({ reverse: true }))).toBe('')
    } finally {
      await closeQuietly(db)
    }
  })
})
