/**
 * Store.bulkLoad: entries in ascending key order into an empty store, values written straight to
 * value pages and the index built by ALEX's bulk load, durable when the promise resolves.
 *
 * Every expectation comes from an independent model (a Map plus sorted keys) or from the inputs:
 * contents after the load, after a reopen, after writes on top; a power loss right after the load
 * (at durability 'none' too); a failure or a power loss during the load (the store is empty after,
 * with no page leaked); every kind of bad input, each leaving the store empty and usable.
 */
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { ErrorCode, StoreError, open } from '../../src/index.js'
import { BulkWriter } from '../../src/pages/bulk-writer.js'
import { openWithFileSystem } from '../../src/store/open.js'
import { FaultyFileSystem } from '../support/faulty-fs.js'
import { Model, Rng, bytesFromSeed, closeQuietly, expectStoreEquals, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-bulk-')

const SMALL = { pageSizeBytes: 4096, cacheBytes: 8 * 4096, checkpointIntervalMs: 3_600_000 }

/** `count` distinct ascending keys (negative, fractional and large ones among them) and values. */
function makeEntries(count: number, seed: number, maxValueBytes: number): [number, Uint8Array][] {
  const rng = new Rng(seed)
  const keys = new Set<number>()
  while (keys.size < count) {
    const pick = rng.int(4)
    keys.add(pick === 0 ? rng.int(1_000_000) : pick === 1 ? -rng.float() * 1e6 : pick === 2 ? rng.float() : rng.float() * 1e15)
  }
  const sorted = [...keys].sort((a, b) => a - b)
  return sorted.map((key, i) => [key, bytesFromSeed(rng.int(maxValueBytes + 1), seed * 7919 + i)])
}

function modelOf(entries: readonly (readonly [number, Uint8Array])[]): Model {
  const model = new Model()
  for (const [key, value] of entries) model.put(key, value)
  return model
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<StoreError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error, `expected a StoreError ${code}`).toBeInstanceOf(StoreError)
  expect((error as StoreError).code).toBe(code)
  return error as StoreError
}

/** Pages in the file that are neither referenced nor free would show up in check() as leaked. */
async function expectHealthyAndEqual(db: Store, model: Model, context: string): Promise<void> {
  expectStoreEquals(db, model, context)
  const report = await db.check()
  expect(report.records, `check().records (${context})`).toBe(model.size)
}

describe('Store.bulkLoad', () => {
  it('loads 30,000 entries (0-300 bytes, and values larger than a page) through an 8-page pool; equal to the model after the load, after a reopen, and after writes on top', async () => {
    const dir = tempDir()
    const entries = makeEntries(30_000, 1, 300)
    // Overflow values (larger than a 4 KiB page's inline room) among them.
    for (let i = 0; i < entries.length; i += 3001) entries[i]![1] = bytesFromSeed(9000 + i, i)
    const model = modelOf(entries)
    let db = await open(dir, SMALL)
    try {
      await db.bulkLoad(entries)
      await expectHealthyAndEqual(db, model, 'after the load')
      // Bulk loading writes nothing to the log.
      expect(db.stats().wal.lastLsn).toBe(0)
      await db.close()

      db = await open(dir, SMALL)
      expect(db.stats().recovery.replayedRecords).toBe(0)
      await expectHealthyAndEqual(db, model, 'after a reopen')

      // Inserts, overwrites and deletes on top of the bulk-loaded index.
      const rng = new Rng(2)
      for (let i = 0; i < 5000; i++) {
        const pick = rng.int(3)
        if (pick === 0) {
          const key = rng.float() * 2e6 - 1e6
          const value = bytesFromSeed(rng.int(200), 100_000 + i)
          await db.put(key, value)
          model.put(key, value)
        } else {
          const key = entries[rng.int(entries.length)]![0]
          if (pick === 1) {
            const value = bytesFromSeed(rng.int(200), 200_000 + i)
            await db.put(key, value)
            model.put(key, value)
          } else {
            await db.del(key)
            model.del(key)
          }
        }
      }
      await expectHealthyAndEqual(db, model, 'after writes on top')
      await db.close()
      db = await open(dir, SMALL)
      await expectHealthyAndEqual(db, model, 'after writes on top and a reopen')
    } finally {
      await closeQuietly(db)
    }
  })

  it('a load of many writer slots (pages checksummed and written by a second thread) equals the model, after a reopen too', async () => {
    const dir = tempDir()
    // About 16 MiB of value and leaf pages at the default 64 KiB page: two 8 MiB slots at least.
    const entries = makeEntries(150_000, 7, 160)
    const model = modelOf(entries)
    const threaded: boolean[] = []
    const finish = BulkWriter.prototype.finish
    const spy = vi.spyOn(BulkWriter.prototype, 'finish').mockImplementation(function (this: BulkWriter) {
      finish.call(this)
      threaded.push(this.threaded)
    })
    let db = await open(dir, { checkpointIntervalMs: 3_600_000 })
    try {
      await db.bulkLoad(entries)
      spy.mockRestore()
      expect(threaded).toEqual([true])
      await expectHealthyAndEqual(db, model, 'after the load')
      await db.close()
      db = await open(dir)
      await expectHealthyAndEqual(db, model, 'after a reopen')
    } finally {
      spy.mockRestore()
      await closeQuietly(db)
    }
  })

  it('a source of more entries than one chunk of keys (1M): a failure past the first chunk leaves the store empty with no page leaked, and the whole source then loads', async () => {
    const dir = tempDir()
    const count = 1_100_000
    const keyOf = (i: number): number => i * 3 + 0.5
    const valueOf = (i: number): Uint8Array => {
      const value = new Uint8Array(4 + (i % 3))
      new DataView(value.buffer).setUint32(0, i, true)
      value.fill(i & 0xff, 4)
      return value
    }
    function* source(failAt: number): Generator<[number, Uint8Array]> {
      for (let i = 0; i < count; i++) {
        if (i === failAt) throw new Error('the source failed')
        yield [keyOf(i), valueOf(i)]
      }
    }
    let db = await open(dir, { checkpointIntervalMs: 3_600_000 })
    try {
      await expect(db.bulkLoad(source(1_050_000))).rejects.toThrow('the source failed')
      expect(db.stats().records).toBe(0)
      const empty = await db.check()
      expect(empty.records).toBe(0)
      // Every value record stored before the failure released: no value page left holding one.
      expect(empty.pages.value).toBe(0)

      await db.bulkLoad(source(-1))
      expect(db.stats().records).toBe(count)
      let bad = ''
      for (let i = 0; i < count && bad === ''; i++) {
        const got = db.get(keyOf(i))
        const want = valueOf(i)
        if (got === undefined || Buffer.compare(got, want) !== 0) bad = `get(${keyOf(i)}) = ${got === undefined ? 'undefined' : Buffer.from(got).toString('hex')}, expected ${Buffer.from(want).toString('hex')}`
        else if (db.get(keyOf(i) + 1) !== undefined) bad = `get(${keyOf(i) + 1}) found a value`
      }
      expect(bad).toBe('')
      // Across the first chunk's end.
      const around = [...db.range({ gte: keyOf((1 << 20) - 2), limit: 4 })].map(([key]) => key)
      expect(around).toEqual([0, 1, 2, 3].map((d) => keyOf((1 << 20) - 2 + d)))
      expect((await db.check()).records).toBe(count)
      await db.close()
      db = await open(dir)
      expect(db.stats().records).toBe(count)
      expect(db.get(keyOf(count - 1))).toEqual(valueOf(count - 1))
    } finally {
      await closeQuietly(db)
    }
  })

  it('reads each entry once, so one array may be reused for every entry', async () => {
    const dir = tempDir()
    const entries = makeEntries(5000, 3, 40)
    const db = await open(dir, SMALL)
    try {
      const reused: [number, Uint8Array] = [0, new Uint8Array(0)]
      function* source(): Generator<[number, Uint8Array]> {
        for (const [key, value] of entries) {
          reused[0] = key
          // A buffer reused for every value too: the store must copy the bytes as it reads them.
          const scratch = new Uint8Array(64)
          scratch.set(value)
          reused[1] = scratch.subarray(0, value.byteLength)
          yield reused
          scratch.fill(0xee)
        }
      }
      await db.bulkLoad(source())
      await expectHealthyAndEqual(db, modelOf(entries), 'reused entry array')
    } finally {
      await closeQuietly(db)
    }
  })

  it.each(['fsync', 'os', 'none'] as const)('is on stable storage when it resolves, at durability %s: a power loss right after loses nothing', async (durability) => {
    const dir = tempDir()
    const entries = makeEntries(8000, 4, 100)
    const ffs = new FaultyFileSystem({ trackDurability: true })
    const db = await openWithFileSystem(dir, { ...SMALL, durability }, ffs)
    await db.bulkLoad(entries)
    ffs.crash()
    await db.close().catch(() => {})
    const reopened = await open(dir, SMALL)
    try {
      await expectHealthyAndEqual(reopened, modelOf(entries), `power loss after the load at '${durability}'`)
    } finally {
      await closeQuietly(reopened)
    }
  })

  it('a failed sync during the load rejects with IO and fails later writes; a power loss then leaves the store empty, with every page it wrote reclaimed, and a second load works', async () => {
    const dir = tempDir()
    const entries = makeEntries(8000, 5, 100)
    const ffs = new FaultyFileSystem({ trackDurability: true })
    const db = await openWithFileSystem(dir, SMALL, ffs)
    ffs.failNext({ op: 'sync', code: 'EIO', path: /data\.lsp$/ })
    await expectCode(db.bulkLoad(entries), ErrorCode.IO)
    await expectCode(db.put(1, new Uint8Array(1)), ErrorCode.IO)
    ffs.crash()
    await db.close().catch(() => {})

    let reopened = await open(dir, SMALL)
    try {
      await expectHealthyAndEqual(reopened, new Model(), 'after the failed load')
      await reopened.bulkLoad(entries)
      await expectHealthyAndEqual(reopened, modelOf(entries), 'second load')
      await reopened.close()
      reopened = await open(dir, SMALL)
      await expectHealthyAndEqual(reopened, modelOf(entries), 'second load, reopened')
    } finally {
      await closeQuietly(reopened)
    }
  })

  it('a power loss in the middle of writing the value pages leaves the store empty and whole', async () => {
    const dir = tempDir()
    // About 20 MB of values: half-way through, batches of value pages have been written.
    const entries = makeEntries(20_000, 6, 2000)
    const ffs = new FaultyFileSystem({ trackDurability: true })
    const db = await openWithFileSystem(dir, SMALL, ffs)
    const writesBefore = ffs.calls.write
    let writesAtCrash = 0
    let yielded = 0
    function* source(): Generator<[number, Uint8Array]> {
      for (const entry of entries) {
        if (++yielded === entries.length / 2) {
          writesAtCrash = ffs.calls.write
          ffs.crash()
        }
        yield entry
      }
    }
    await expectCode(db.bulkLoad(source()), ErrorCode.IO)
    expect(writesAtCrash, 'value pages written before the power loss').toBeGreaterThan(writesBefore)
    await db.close().catch(() => {})
    const reopened = await open(dir, SMALL)
    try {
      await expectHealthyAndEqual(reopened, new Model(), 'power loss mid-load')
    } finally {
      await closeQuietly(reopened)
    }
  })

  it('writes issued while the load is being made durable apply after it, live and after a reopen', async () => {
    const dir = tempDir()
    const entries = makeEntries(5000, 7, 50)
    const model = modelOf(entries)
    let db = await open(dir, SMALL)
    try {
      // With no checkpoint running, the load is built before bulkLoad returns; these writes come
      // after it, while its checkpoint is being written.
      const loading = db.bulkLoad(entries)
      const overwrite = bytesFromSeed(33, 99)
      const writes = [db.put(entries[10]![0], overwrite), db.del(entries[20]![0]), db.put(-1e300, overwrite)]
      model.put(entries[10]![0], overwrite)
      model.del(entries[20]![0])
      model.put(-1e300, overwrite)
      await Promise.all([loading, ...writes])
      await expectHealthyAndEqual(db, model, 'live')
      await db.close()
      db = await open(dir, SMALL)
      await expectHealthyAndEqual(db, model, 'reopened')
    } finally {
      await closeQuietly(db)
    }
  })

  it('writes issued while the load is being made durable are acknowledged only after it (at every level), with the values they were given', async () => {
    // Acknowledged before the load's checkpoint, such a write could be replayed without the load
    // after a crash (test/crash/regressions.test.ts); at 'none' it resolved at once.
    for (const durability of ['none', 'os', 'fsync'] as const) {
      const dir = tempDir()
      const entries = makeEntries(3000, 11, 40)
      const model = modelOf(entries)
      const db = await open(dir, { ...SMALL, durability })
      try {
        const order: string[] = []
        const loading = db.bulkLoad(entries).then(() => order.push('load'))
        const value = bytesFromSeed(20, 5)
        const batchValue = bytesFromSeed(30, 6)
        const writes = [
          db.put(1e200, value).then(() => order.push('put')),
          db.batch([{ type: 'put', key: entries[3]![0], value: batchValue }, { type: 'del', key: entries[4]![0] }]).then(() => order.push('batch')),
          db.del(entries[5]![0]).then(() => order.push('del')),
        ]
        model.put(1e200, value.slice())
        model.put(entries[3]![0], batchValue.slice())
        model.del(entries[4]![0])
        model.del(entries[5]![0])
        // The caller may reuse its buffers once the calls return.
        value.fill(0xee)
        batchValue.fill(0xee)
        await Promise.all([loading, ...writes])
        expect(order, durability).toEqual(['load', 'put', 'batch', 'del'])
        await expectHealthyAndEqual(db, model, `live, ${durability}`)
      } finally {
        await closeQuietly(db)
      }
    }
  })

  it('refuses bad input with a typed error and leaves the store empty and usable', async () => {
    const dir = tempDir()
    const db = await open(dir, SMALL)
    try {
      const value = new Uint8Array(8)
      await expectCode(db.bulkLoad(null as never), ErrorCode.INVALID_ARGUMENT)
      await expectCode(db.bulkLoad(42 as never), ErrorCode.INVALID_ARGUMENT)
      // Not ascending, repeated, bad keys, bad values, a bad entry: each after many good entries, so
      // that value pages were written and must be given back.
      const good = makeEntries(3000, 8, 100)
      const cases: [string, unknown[], string][] = [
        ['descending', [...good, [good[0]![0] - 1, value]], ErrorCode.INVALID_ARGUMENT],
        ['repeated', [...good, [good[good.length - 1]![0], value]], ErrorCode.INVALID_ARGUMENT],
        ['NaN key', [...good, [NaN, value]], ErrorCode.INVALID_ARGUMENT],
        ['string key', [...good, ['7', value]], ErrorCode.INVALID_ARGUMENT],
        ['string value', [...good, [1e300, 'v']], ErrorCode.INVALID_ARGUMENT],
        ['missing value', [...good, [1e300]], ErrorCode.INVALID_ARGUMENT],
        ['null entry', [...good, null], ErrorCode.INVALID_ARGUMENT],
        ['too large', [...good, [1e300, new Uint8Array(64 * 1024 * 1024 + 1)]], ErrorCode.VALUE_TOO_LARGE],
      ]
      for (const [name, entries, code] of cases) {
        const error = await expectCode(db.bulkLoad(entries as [number, Uint8Array][]), code)
        expect(error.message.length, name).toBeGreaterThan(0)
        await expectHealthyAndEqual(db, new Model(), `after ${name}`)
      }
      // An iterator that throws: its error comes back as is.
      const thrown = new Error('source failed')
      function* failing(): Generator<[number, Uint8Array]> {
        yield* good
        throw thrown
      }
      await expect(db.bulkLoad(failing())).rejects.toBe(thrown)
      await expectHealthyAndEqual(db, new Model(), 'after a throwing source')

      // Still usable: an empty load is a no-op; a real one works; then the store is not empty.
      await db.bulkLoad([])
      await db.bulkLoad(good)
      const model = modelOf(good)
      await expectHealthyAndEqual(db, model, 'after the good load')
      const notEmpty = await expectCode(db.bulkLoad([[1e300, value]]), ErrorCode.INVALID_ARGUMENT)
      expect(notEmpty.message).toMatch(/empty/)
      await expectHealthyAndEqual(db, model, 'after the refused second load')
    } finally {
      await closeQuietly(db)
    }
  })

  it('bulkLoad(keys, values): from a Float64Array or a number array, with values as an array or a function, equal to the model after the load and a reopen; the keys are not changed', async () => {
    const entries = makeEntries(40_000, 21, 200)
    const model = modelOf(entries)
    const keyColumn = entries.map(([key]) => key)
    const valueColumn = entries.map(([, value]) => value)
    const forms: [string, () => [Float64Array | number[], Uint8Array[] | ((index: number) => Uint8Array)]][] = [
      ['Float64Array keys, a value function', () => [Float64Array.from(keyColumn), (i) => valueColumn[i]!]],
      ['number[] keys, a value array', () => [[...keyColumn], [...valueColumn]]],
    ]
    for (const [name, make] of forms) {
      const dir = tempDir()
      let db = await open(dir, { ...SMALL, pageSizeBytes: 65536, cacheBytes: 64 << 20 })
      try {
        const [keys, values] = make()
        const asked: number[] = []
        const valueOf = typeof values === 'function' ? (i: number): Uint8Array => (asked.push(i), values(i)) : values
        await db.bulkLoad(keys, valueOf)
        // Each value asked for once, in order.
        if (typeof values === 'function') expect(asked.every((v, i) => v === i) && asked.length === keyColumn.length, name).toBe(true)
        expect([...keys], name).toEqual(keyColumn)
        await expectHealthyAndEqual(db, model, `${name}: after the load`)
        await db.close()
        db = await open(dir)
        await expectHealthyAndEqual(db, model, `${name}: after a reopen`)
      } finally {
        await closeQuietly(db)
      }
    }
  })

  it('bulkLoad(keys, values): -0 is stored as 0 (the keys given are untouched), and bad columns are refused, leaving the store empty and usable', async () => {
    const dir = tempDir()
    const db = await open(dir, SMALL)
    try {
      const value = new Uint8Array(8)
      const good = makeEntries(3000, 22, 100).filter(([key]) => key > 0)
      const keys = good.map(([key]) => key)
      const values = good.map(([, v]) => v)
      const cases: [string, unknown, unknown, string][] = [
        ['keys not an array', 'abc', values, ErrorCode.INVALID_ARGUMENT],
        ['values too short', keys, values.slice(1), ErrorCode.INVALID_ARGUMENT],
        ['values not an array or function', keys, 7, ErrorCode.INVALID_ARGUMENT],
        ['descending', Float64Array.from([...keys, keys[0]! - 1]), [...values, value], ErrorCode.INVALID_ARGUMENT],
        ['repeated', [...keys, keys[keys.length - 1]!], [...values, value], ErrorCode.INVALID_ARGUMENT],
        ['NaN key', Float64Array.from([...keys, NaN]), [...values, value], ErrorCode.INVALID_ARGUMENT],
        ['Infinity key', [...keys, Infinity], [...values, value], ErrorCode.INVALID_ARGUMENT],
        ['string key', [...keys, '7'], [...values, value], ErrorCode.INVALID_ARGUMENT],
        ['string value', keys, (i: number) => (i === keys.length - 1 ? 'v' : values[i]), ErrorCode.INVALID_ARGUMENT],
        ['too large', [...keys, 1e300], [...values, new Uint8Array(64 * 1024 * 1024 + 1)], ErrorCode.VALUE_TOO_LARGE],
      ]
      for (const [name, k, v, code] of cases) {
        const error = await expectCode(db.bulkLoad(k as number[], v as Uint8Array[]), code)
        expect(error.message.length, name).toBeGreaterThan(0)
        await expectHealthyAndEqual(db, new Model(), `after ${name}`)
      }
      const thrown = new Error('value source failed')
      await expect(db.bulkLoad(keys, (i) => {
        if (i === 2000) throw thrown
        return values[i]!
      })).rejects.toBe(thrown)
      await expectHealthyAndEqual(db, new Model(), 'after a throwing value function')

      const withZero = Float64Array.from([-5, -0, ...keys])
      const zeroValues = [value, Uint8Array.of(1, 2, 3), ...values]
      await db.bulkLoad(withZero, zeroValues)
      expect(Object.is(withZero[1], -0)).toBe(true)
      const model = new Model()
      for (let i = 0; i < withZero.length; i++) model.put(withZero[i] === 0 ? 0 : withZero[i]!, zeroValues[i]!)
      await expectHealthyAndEqual(db, model, 'after the load with -0')
      expect([...db.range({ gte: -1, lt: 1e-300 })].map(([key]) => Object.is(key, 0))).toEqual([true])
      expect([...db.get(-0)!]).toEqual([1, 2, 3])
    } finally {
      await closeQuietly(db)
    }
  })

  it('is refused on a read-only store (READ_ONLY) and a closed one (CLOSED)', async () => {
    const dir = tempDir()
    const db = await open(dir, SMALL)
    await db.close()
    await expectCode(db.bulkLoad([[1, new Uint8Array(1)]]), ErrorCode.CLOSED)
    const readOnly = await open(dir, { readOnly: true })
    try {
      await expectCode(readOnly.bulkLoad([[1, new Uint8Array(1)]]), ErrorCode.READ_ONLY)
    } finally {
      await closeQuietly(readOnly)
    }
  })

  it('property: any ascending entries load to exactly the model, before and after a reopen', async () => {
    const entryArb = fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }), { maxLength: 3000, selector: (k) => (k === 0 ? 0 : k) })
    await fc.assert(
      fc.asyncProperty(entryArb, fc.integer({ min: 0, max: 600 }), fc.integer(), async (keys, maxValue, seed) => {
        const sorted = keys.map((k) => (k === 0 ? 0 : k)).sort((a, b) => a - b)
        const rng = new Rng(seed)
        const entries: [number, Uint8Array][] = sorted.map((key, i) => [key, bytesFromSeed(rng.int(maxValue + 1), seed + i)])
        const dir = tempDir()
        let db = await open(dir, SMALL)
        try {
          await db.bulkLoad(entries)
          expectStoreEquals(db, modelOf(entries), 'loaded')
          await db.close()
          db = await open(dir, SMALL)
          await expectHealthyAndEqual(db, modelOf(entries), 'reopened')
        } finally {
          await closeQuietly(db)
        }
      }),
      { numRuns: 25, seed: 20261126 },
    )
  })
})
