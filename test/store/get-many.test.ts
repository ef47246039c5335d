/**
 * Store.getMany and Store.getManyInto: batched point reads (AlexIndex.getBatch). Every answer is
 * checked against a Map model: present and absent keys mixed in one call, repeated keys, batches
 * that cross the index's batch size, values from pool pages, read alone past a full pool and from
 * overflow runs, and a target too small to take every value.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ErrorCode, StoreError, open, type Store } from '../../src/index.js'
import { Model, Rng, bytesEqual, bytesFromSeed, closeQuietly, describeBytes, useTempDirs } from './helpers.js'

const tempDir = useTempDirs('learned-storage-get-many-')

/** A store of 3,000 keys (mostly small values, some of 64-2000 bytes, a few overflow runs) and its model. */
async function filled(dir: string, cacheBytes: number, seed: number): Promise<{ db: Store; model: Model; keys: number[] }> {
  const rng = new Rng(seed)
  const model = new Model()
  let db = await open(dir, { pageSizeBytes: 4096, cacheBytes, checkpointIntervalMs: 3_600_000 })
  const keys: number[] = []
  for (let i = 0; i < 3000; i++) {
    const key = Math.floor(rng.float() * 1e6) / 4
    const size = i % 400 === 0 ? 5000 + rng.int(5000) : i % 7 === 0 ? 64 + rng.int(1936) : rng.int(64)
    const value = bytesFromSeed(size, i)
    await db.put(key, value)
    model.put(key, value)
    keys.push(key)
  }
  // Some deleted: absent keys that were once there.
  for (let i = 0; i < 300; i++) {
    const key = keys[rng.int(keys.length)]!
    await db.del(key)
    model.del(key)
  }
  await db.close()
  db = await open(dir, { cacheBytes })
  return { db, model, keys }
}

/** Query keys: stored, deleted, never stored, and repeats, shuffled. */
function queries(rng: Rng, keys: number[], count: number): number[] {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const r = rng.int(10)
    if (r < 7) out.push(keys[rng.int(keys.length)]!)
    else if (r < 9) out.push(1e6 + rng.float() * 1e6)
    else out.push(out.length > 0 ? out[rng.int(out.length)]! : 0.5)
  }
  return out
}

describe('Store.getMany and getManyInto', () => {
  it.each([
    ['a pool larger than the data', 64 << 20],
    ['an 8-page pool (records read alone)', 8 * 4096],
  ])('answer every key as the model does, with %s', async (_name, cacheBytes) => {
    const dir = tempDir()
    const rng = new Rng(21)
    const { db, model, keys } = await filled(dir, cacheBytes, 21)
    try {
      for (const count of [0, 1, 63, 64, 65, 200, 1000]) {
        const asked = queries(rng, keys, count)
        // getMany, with an array and with a Float64Array.
        for (const list of [asked, Float64Array.from(asked)]) {
          const got = db.getMany(list)
          expect(got.length).toBe(count)
          for (let i = 0; i < count; i++) {
            const expected = model.get(asked[i]!)
            const value = got[i]
            if (expected === undefined) expect(value).toBeUndefined()
            else if (value === undefined || !bytesEqual(value, expected)) expect.fail(`getMany key ${asked[i]}: ${value === undefined ? 'undefined' : describeBytes(value)}, expected ${describeBytes(expected)}`)
          }
        }
        // getManyInto over a window [from, to) of the list, with a target that holds everything.
        const from = count > 10 ? 5 : 0
        const to = count > 10 ? count - 3 : count
        const target = new Uint8Array(64 << 20)
        const lengths = new Int32Array(to - from).fill(-7)
        expect(db.getManyInto(asked, from, to, target, lengths)).toBe(to - from)
        let at = 0
        for (let i = from; i < to; i++) {
          const expected = model.get(asked[i]!)
          const n = lengths[i - from]!
          if (expected === undefined) {
            expect(n).toBe(-1)
            continue
          }
          expect(n).toBe(expected.byteLength)
          if (!bytesEqual(target.subarray(at, at + n), expected)) expect.fail(`getManyInto key ${asked[i]} at byte ${at}: ${describeBytes(target.subarray(at, at + n))}, expected ${describeBytes(expected)}`)
          at += n
        }
      }
      if (cacheBytes < 1 << 20) expect(db.stats().bufferPool.rangeReads).toBeGreaterThan(0)
    } finally {
      await closeQuietly(db)
    }
  })

  it('getManyInto stops before a value that does not fit, copies nothing of it, and goes on from there', async () => {
    const dir = tempDir()
    const rng = new Rng(5)
    const { db, model, keys } = await filled(dir, 64 << 20, 5)
    try {
      const asked = queries(rng, keys, 800)
      // A small target: the caller loops, growing it only when not even an empty one would do.
      let target = new Uint8Array(3000).fill(0xa5)
      const lengths = new Int32Array(asked.length)
      let from = 0
      let calls = 0
      while (from < asked.length) {
        target.fill(0xa5)
        const answered = db.getManyInto(asked, from, asked.length, target, lengths)
        calls++
        let at = 0
        for (let j = 0; j < answered; j++) {
          const expected = model.get(asked[from + j]!)
          const n = lengths[j]!
          expect(n).toBe(expected === undefined ? -1 : expected.byteLength)
          if (expected !== undefined) {
            expect(bytesEqual(target.subarray(at, at + n), expected)).toBe(true)
            at += n
          }
        }
        if (from + answered < asked.length) {
          // The value that stopped it: its length reported, nothing of it written.
          const next = model.get(asked[from + answered]!)!
          expect(lengths[answered]).toBe(next.byteLength)
          expect(at + next.byteLength).toBeGreaterThan(target.byteLength)
          expect(target.subarray(at).every((b) => b === 0xa5)).toBe(true)
          if (answered === 0) target = new Uint8Array(next.byteLength)
        }
        from += answered
      }
      // The 3000-byte target cannot take all the values at once.
      expect(calls).toBeGreaterThan(1)
    } finally {
      await closeQuietly(db)
    }
  })

  it('getManyInto at the exact edge: a value one byte too long for the room left is not copied; one that fits exactly is', async () => {
    const dir = tempDir()
    const db = await open(dir)
    try {
      const values = [bytesFromSeed(10, 1), bytesFromSeed(20, 2), bytesFromSeed(30, 3)]
      for (let i = 0; i < values.length; i++) await db.put(i, values[i]!)
      const lengths = new Int32Array(3)
      // Room for the first two and all but one byte of the third.
      const short = new Uint8Array(59).fill(0xa5)
      expect(db.getManyInto([0, 1, 2], 0, 3, short, lengths)).toBe(2)
      expect([...lengths]).toEqual([10, 20, 30])
      expect(short.subarray(30).every((b) => b === 0xa5)).toBe(true)
      // Exactly enough.
      const exact = new Uint8Array(60)
      expect(db.getManyInto([0, 1, 2], 0, 3, exact, lengths)).toBe(3)
      expect(bytesEqual(exact.subarray(30), values[2]!)).toBe(true)
    } finally {
      await closeQuietly(db)
    }
  })

  it('matches get for any list of keys (property)', async () => {
    const dir = tempDir()
    const db = await open(dir, { pageSizeBytes: 4096 })
    const model = new Model()
    try {
      for (let i = 0; i < 500; i++) {
        const value = bytesFromSeed(i % 50, i)
        await db.put(i * 3, value)
        model.put(i * 3, value)
      }
      fc.assert(
        fc.property(fc.array(fc.integer({ min: -10, max: 1600 }), { maxLength: 300 }), (asked) => {
          const got = db.getMany(asked)
          for (let i = 0; i < asked.length; i++) {
            const expected = model.get(asked[i]!)
            if (expected === undefined ? got[i] !== undefined : got[i] === undefined || !bytesEqual(got[i]!, expected)) return false
          }
          return got.length === asked.length
        }),
        { numRuns: 200 },
      )
    } finally {
      await closeQuietly(db)
    }
  })

  it('bad arguments are INVALID_ARGUMENT and read nothing; a closed store is CLOSED', async () => {
    const dir = tempDir()
    const db = await open(dir)
    await db.put(1, new Uint8Array(4))
    const codeOf = (f: () => unknown): string => {
      try {
        f()
      } catch (error) {
        expect(error).toBeInstanceOf(StoreError)
        return (error as StoreError).code
      }
      return 'none'
    }
    const target = new Uint8Array(64)
    const lengths = new Int32Array(4)
    for (const keys of [undefined, null, 5, 'abc', { length: -1 }]) {
      expect(codeOf(() => db.getMany(keys as never))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(codeOf(() => db.getManyInto(keys as never, 0, 0, target, lengths))).toBe(ErrorCode.INVALID_ARGUMENT)
    }
    // A bad key anywhere: nothing is answered (lengths untouched).
    for (const bad of [NaN, Infinity, '2', undefined]) {
      expect(codeOf(() => db.getMany([1, 2, bad as never]))).toBe(ErrorCode.INVALID_ARGUMENT)
      lengths.fill(-9)
      expect(codeOf(() => db.getManyInto([1, bad as never], 0, 2, target, lengths))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect([...lengths]).toEqual([-9, -9, -9, -9])
    }
    expect(codeOf(() => db.getManyInto(Float64Array.of(1, NaN), 0, 2, target, lengths))).toBe(ErrorCode.INVALID_ARGUMENT)
    // Out-of-range windows, bad targets and length arrays.
    for (const [from, to] of [[-1, 1], [1, 0], [0, 3], [0.5, 1], [0, NaN]]) {
      expect(codeOf(() => db.getManyInto([1, 2], from!, to!, target, lengths))).toBe(ErrorCode.INVALID_ARGUMENT)
    }
    expect(codeOf(() => db.getManyInto([1, 2], 0, 2, [0, 0] as never, lengths))).toBe(ErrorCode.INVALID_ARGUMENT)
    expect(codeOf(() => db.getManyInto([1, 2], 0, 2, target, new Int32Array(1)))).toBe(ErrorCode.INVALID_ARGUMENT)
    expect(codeOf(() => db.getManyInto([1, 2], 0, 2, target, new Uint32Array(2) as never))).toBe(ErrorCode.INVALID_ARGUMENT)
    // The good call after all that.
    expect(db.getManyInto([1, 2], 0, 2, target, lengths)).toBe(2)
    expect([lengths[0], lengths[1]]).toEqual([4, -1])
    expect(db.getMany([2, 1]).map((v) => v?.byteLength)).toEqual([undefined, 4])
    await db.close()
    expect(codeOf(() => db.getMany([1]))).toBe(ErrorCode.CLOSED)
    expect(codeOf(() => db.getManyInto([1], 0, 1, target, lengths))).toBe(ErrorCode.CLOSED)
  })
})
