/**
 * The error contract of the Store API: every bad input gets the documented StoreError code and writes
 * nothing; use after close is CLOSED for every method; open() validates its options; read-only opens;
 * page size mismatch on reopen; batches are all-or-nothing; values are copied in and out; range
 * iterators are both sync- and async-iterable.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ErrorCode, StoreError, VALUE_MAX_BYTES, open } from '../../src/index.js'
import type { BatchOperation, OpenOptions, RangeOptions } from '../../src/store/api.js'
import {
  Model,
  asyncCode,
  bytesEqual,
  bytesFromSeed,
  closeQuietly,
  codeOfError,
  collect,
  collectAsync,
  entriesDiff,
  expectStoreEquals,
  openOutcome,
  rangeCode,
  syncCode,
  useTempDirs,
  type Store,
} from './helpers.js'

const tempDir = useTempDirs('learned-storage-errors-')

/** Bypasses the types, for inputs the types rightly forbid. */
const bad = <T>(value: unknown): T => value as T

const BAD_KEYS: [string, unknown][] = [
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['a numeric string', '1'],
  ['a bigint', 1n],
  ['null', null],
  ['undefined', undefined],
  ['an object', {}],
  ['a boxed number', Object(1)],
  ['an array', [1]],
  ['a boolean', true],
  ['a symbol', Symbol('k')],
]

const BAD_VALUES: [string, unknown][] = [
  ['a string', 'abc'],
  ['a number', 5],
  ['null', null],
  ['undefined', undefined],
  ['an array of bytes', [1, 2, 3]],
  ['an ArrayBuffer', new ArrayBuffer(4)],
  ['a DataView', new DataView(new ArrayBuffer(4))],
  ['an Int8Array', new Int8Array(4)],
  ['a Uint16Array', new Uint16Array(4)],
  ['a Uint8ClampedArray', new Uint8ClampedArray(4)],
  ['a plain object', { length: 3, 0: 1, 1: 2, 2: 3 }],
]

/** A store holding keys 1..5 with known values, and its model. */
async function seeded(dir: string, options: OpenOptions = { pageSizeBytes: 4096 }): Promise<{ db: Store; model: Model }> {
  const db = await open(dir, options)
  const model = new Model()
  for (let k = 1; k <= 5; k++) {
    const value = bytesFromSeed(k * 10, k)
    await db.put(k, value)
    model.put(k, value)
  }
  return { db, model }
}

function fileDigest(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

function dirDigest(dir: string): string {
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => {
      const p = path.join(dir, name)
      return fs.statSync(p).isFile() ? `${name}:${fileDigest(p)}` : `${name}/`
    })
    .join('\n')
}

// ---------------------------------------------------------------------------------------------
// Keys and values
// ---------------------------------------------------------------------------------------------

describe('bad keys', () => {
  for (const [name, key] of BAD_KEYS) {
    it(`${name} is INVALID_ARGUMENT for get, has, put, del and batch, and writes nothing`, async () => {
      const { db, model } = await seeded(tempDir())
      try {
        expect(syncCode(() => db.get(bad(key)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(syncCode(() => db.has(bad(key)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.put(bad(key), Uint8Array.of(1)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.del(bad(key)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.batch([{ type: 'put', key: bad(key), value: Uint8Array.of(1) }]))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.batch([{ type: 'del', key: bad(key) }]))).toBe(ErrorCode.INVALID_ARGUMENT)
        expectStoreEquals(db, model)
      } finally {
        await closeQuietly(db)
      }
    })
  }

  it('NaN, strings and null as range bounds are INVALID_ARGUMENT; infinite bounds are either rejected or unbounded', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      for (const bound of ['gte', 'gt', 'lte', 'lt'] as const) {
        for (const value of [NaN, '3', null, {}]) {
          expect(rangeCode(() => db.range(bad({ [bound]: value }))), `${bound}: ${String(value)}`).toBe(ErrorCode.INVALID_ARGUMENT)
        }
      }
      for (const options of [{ gte: -Infinity }, { lte: Infinity }, { gt: -Infinity, lt: Infinity }] as RangeOptions[]) {
        let outcome: string
        try {
          outcome = entriesDiff(collect(db.range(options)), model.range()) === '' ? 'unbounded' : 'wrong entries'
        } catch (error) {
          outcome = codeOfError(error)
        }
        expect([ErrorCode.INVALID_ARGUMENT, 'unbounded'], JSON.stringify(options)).toContain(outcome)
      }
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })

  it('-0 and 0 are one key; range reports it as 0', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096 })
      await db.put(-0, Uint8Array.of(1))
      expect(db.get(0)).toEqual(Uint8Array.of(1))
      expect(db.has(-0)).toBe(true)
      await db.put(0, Uint8Array.of(2))
      expect(db.get(-0)).toEqual(Uint8Array.of(2))
      expect(db.stats().records).toBe(1)
      const entries = collect(db.range({ gte: -0, lte: -0 }))
      expect(entries.length).toBe(1)
      expect(Object.is(entries[0]?.[0], 0)).toBe(true)
      await db.del(-0)
      expect(db.has(0)).toBe(false)
      expect(db.stats().records).toBe(0)
    } finally {
      await closeQuietly(db)
    }
  })
})

describe('bad values', () => {
  for (const [name, value] of BAD_VALUES) {
    it(`${name} is INVALID_ARGUMENT for put and batch, and writes nothing`, async () => {
      const { db, model } = await seeded(tempDir())
      try {
        expect(await asyncCode(() => db.put(9, bad(value)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.put(1, bad(value)))).toBe(ErrorCode.INVALID_ARGUMENT)
        expect(await asyncCode(() => db.batch([{ type: 'put', key: 9, value: bad(value) }]))).toBe(ErrorCode.INVALID_ARGUMENT)
        expectStoreEquals(db, model)
      } finally {
        await closeQuietly(db)
      }
    })
  }

  it('a value one byte over VALUE_MAX_BYTES is VALUE_TOO_LARGE in put and in batch, and writes nothing', async () => {
    expect(VALUE_MAX_BYTES).toBe(64 * 1024 * 1024)
    const { db, model } = await seeded(tempDir())
    try {
      const huge = new Uint8Array(VALUE_MAX_BYTES + 1)
      expect(await asyncCode(() => db.put(9, huge))).toBe(ErrorCode.VALUE_TOO_LARGE)
      expect(await asyncCode(() => db.put(1, huge))).toBe(ErrorCode.VALUE_TOO_LARGE)
      expect(await asyncCode(() => db.batch([{ type: 'put', key: 7, value: Uint8Array.of(7) }, { type: 'put', key: 9, value: huge }]))).toBe(
        ErrorCode.VALUE_TOO_LARGE,
      )
      expectStoreEquals(db, model)
      expect(db.has(7)).toBe(false)
    } finally {
      await closeQuietly(db)
    }
  })

  it('Buffers are accepted, and only the bytes of a view (not its whole backing buffer) are stored', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    let again: Store | undefined
    try {
      const pooled = Buffer.from('hello') // a slice of Node's shared pool: byteOffset is usually > 0
      await db.put(20, pooled)
      model.put(20, Uint8Array.from(pooled))
      const backing = bytesFromSeed(100, 9)
      const view = backing.subarray(17, 29)
      await db.put(21, view)
      model.put(21, Uint8Array.from(view))
      await db.batch([{ type: 'put', key: 22, value: Buffer.from(backing.buffer, 50, 3) }])
      model.put(22, backing.slice(50, 53))
      expectStoreEquals(db, model)
      await db.close()
      again = await open(dir)
      expectStoreEquals(again, model, 'after reopen')
    } finally {
      await closeQuietly(db)
      await closeQuietly(again)
    }
  })

  it('an empty batch resolves and changes nothing', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      await db.batch([])
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })
})

describe('values are copies', () => {
  it('mutating the buffer passed to put (after it resolves) or to batch does not change the store', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096 })
      const a = bytesFromSeed(50, 1)
      const b = bytesFromSeed(20_000, 2) // overflow-sized
      const c = bytesFromSeed(30, 3)
      const model = new Model()
      model.put(1, a)
      model.put(2, b)
      model.put(3, c)
      await db.put(1, a)
      await db.put(2, b)
      await db.batch([{ type: 'put', key: 3, value: c }])
      a.fill(0)
      b.fill(0)
      c.fill(0)
      expectStoreEquals(db, model)
      await db.close()
      db = await open(dir)
      expectStoreEquals(db, model, 'after reopen')
    } finally {
      await closeQuietly(db)
    }
  })

  it('mutating the buffer right after calling put, before the promise settles, does not change the store', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096 })
      const model = new Model()
      const a = bytesFromSeed(50, 1)
      const b = bytesFromSeed(9000, 2)
      model.put(1, a)
      model.put(2, b)
      const pa = db.put(1, a)
      const pb = db.batch([{ type: 'put', key: 2, value: b }])
      a.fill(0)
      b.fill(0)
      await pa
      await pb
      expectStoreEquals(db, model)
      await db.close()
      db = await open(dir)
      expectStoreEquals(db, model, 'after reopen')
    } finally {
      await closeQuietly(db)
    }
  })

  it('mutating values returned by get and range does not change the store', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      await db.put(6, bytesFromSeed(10_000, 6))
      model.put(6, bytesFromSeed(10_000, 6))
      for (const key of [1, 3, 6]) db.get(key)?.fill(0xff)
      for (const [, value] of db.range()) value.fill(0xee)
      for await (const [, value] of db.range({ reverse: true })) value.fill(0xdd)
      expectStoreEquals(db, model)
      // Two reads of one key are independent: scribbling on one leaves the other alone.
      const x = db.get(2)
      const y = db.get(2)
      x?.fill(0x11)
      expect(bytesEqual(y as Uint8Array, model.get(2) as Uint8Array)).toBe(true)
    } finally {
      await closeQuietly(db)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

describe('batch is all or nothing', () => {
  const BAD_OPS: [string, unknown, string][] = [
    ['a NaN key', { type: 'put', key: NaN, value: Uint8Array.of(1) }, ErrorCode.INVALID_ARGUMENT],
    ['a del with an Infinity key', { type: 'del', key: Infinity }, ErrorCode.INVALID_ARGUMENT],
    ['a string value', { type: 'put', key: 8, value: 'x' }, ErrorCode.INVALID_ARGUMENT],
    ['a put without a value', { type: 'put', key: 8 }, ErrorCode.INVALID_ARGUMENT],
    ['an unknown type', { type: 'upsert', key: 8, value: Uint8Array.of(1) }, ErrorCode.INVALID_ARGUMENT],
    ['a missing type', { key: 8, value: Uint8Array.of(1) }, ErrorCode.INVALID_ARGUMENT],
    ['null', null, ErrorCode.INVALID_ARGUMENT],
    ['a number', 42, ErrorCode.INVALID_ARGUMENT],
    ['a value over the limit', { type: 'put', key: 8, value: new Uint8Array(VALUE_MAX_BYTES + 1) }, ErrorCode.VALUE_TOO_LARGE],
  ]

  for (const [name, badOp, code] of BAD_OPS) {
    it(`${name} in the middle rejects the whole batch with ${code}; the puts and dels around it are not applied`, async () => {
      const { db, model } = await seeded(tempDir())
      try {
        const ops = [
          { type: 'put', key: 1, value: Uint8Array.of(9, 9) }, // overwrite
          { type: 'del', key: 2 }, // delete
          { type: 'put', key: 100, value: bytesFromSeed(9000, 1) }, // new, overflow-sized
          badOp,
          { type: 'put', key: 101, value: Uint8Array.of(1) },
          { type: 'del', key: 3 },
        ]
        expect(await asyncCode(() => db.batch(bad<BatchOperation[]>(ops)))).toBe(code)
        expectStoreEquals(db, model)
        expect(db.has(100)).toBe(false)
        expect(db.has(101)).toBe(false)
        // And the store still works, and nothing of the failed batch shows up after a reopen.
        await db.put(7, Uint8Array.of(7))
        model.put(7, Uint8Array.of(7))
        expectStoreEquals(db, model)
      } finally {
        await closeQuietly(db)
      }
    })
  }

  it('a batch that is not an array, or holds holes, is INVALID_ARGUMENT', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      for (const value of [null, undefined, 5, 'ops', { type: 'put', key: 1, value: Uint8Array.of(1) }]) {
        expect(await asyncCode(() => db.batch(bad(value))), String(value)).toBe(ErrorCode.INVALID_ARGUMENT)
      }
      // eslint-disable-next-line no-sparse-arrays
      const holey = [{ type: 'put', key: 50, value: Uint8Array.of(1) }, , { type: 'del', key: 1 }]
      expect(await asyncCode(() => db.batch(bad(holey)))).toBe(ErrorCode.INVALID_ARGUMENT)
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })

  it('a failed batch leaves nothing behind after close and reopen either', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    let again: Store | undefined
    try {
      const ops = [
        { type: 'put', key: 200, value: bytesFromSeed(30_000, 5) },
        { type: 'del', key: 4 },
        { type: 'put', key: NaN, value: Uint8Array.of(1) },
      ]
      expect(await asyncCode(() => db.batch(bad(ops)))).toBe(ErrorCode.INVALID_ARGUMENT)
      await db.close()
      again = await open(dir)
      expectStoreEquals(again, model)
    } finally {
      await closeQuietly(db)
      await closeQuietly(again)
    }
  })

  it('later ops on the same key in one batch win', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      await db.batch([
        { type: 'put', key: 10, value: Uint8Array.of(1) },
        { type: 'put', key: 10, value: Uint8Array.of(2) },
        { type: 'del', key: 1 },
        { type: 'put', key: 1, value: Uint8Array.of(3) },
        { type: 'put', key: 11, value: Uint8Array.of(4) },
        { type: 'del', key: 11 },
      ])
      model.put(10, Uint8Array.of(2))
      model.put(1, Uint8Array.of(3))
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Range options
// ---------------------------------------------------------------------------------------------

describe('range options', () => {
  it('limit must be a non-negative integer; gte with gt, or lte with lt, is INVALID_ARGUMENT', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      for (const limit of [-1, 1.5, NaN, Infinity, '3', null]) {
        expect(rangeCode(() => db.range(bad({ limit }))), `limit ${String(limit)}`).toBe(ErrorCode.INVALID_ARGUMENT)
      }
      expect(rangeCode(() => db.range({ gte: 1, gt: 1 }))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(rangeCode(() => db.range({ gte: 1, gt: 2, lte: 4 }))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(rangeCode(() => db.range({ lte: 4, lt: 5 }))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(rangeCode(() => db.range(bad({ reverse: 'yes' })))).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(collect(db.range({ limit: 0 }))).toEqual([])
      expect(entriesDiff(collect(db.range({ limit: 2, reverse: true })), model.range({ limit: 2, reverse: true }))).toBe('')
      expect(entriesDiff(collect(db.range({ gt: 2, lte: 4 })), model.range({ gt: 2, lte: 4 }))).toBe('')
      expect(entriesDiff(collect(db.range({ gte: 4, lte: 2 })), [])).toBe('')
      expect(entriesDiff(collect(db.range({ limit: 1e9 })), model.range())).toBe('')
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })

  it('range() returns an object that is both sync- and async-iterable, with the same entries either way', async () => {
    const { db, model } = await seeded(tempDir())
    try {
      const options: RangeOptions = { gte: 2, reverse: true, limit: 3 }
      const it1 = db.range(options)
      expect(typeof (it1 as unknown as { [Symbol.iterator]?: unknown })[Symbol.iterator]).toBe('function')
      expect(typeof (it1 as unknown as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator]).toBe('function')
      expect(entriesDiff(collect(it1), model.range(options))).toBe('')
      expect(entriesDiff(await collectAsync(db.range(options)), model.range(options))).toBe('')
      // Spread and Array.from work (sync protocol), and for-await over a full range.
      expect(entriesDiff([...db.range()], model.range())).toBe('')
      expect(entriesDiff(Array.from(db.range({ lt: 3 })), model.range({ lt: 3 }))).toBe('')
      // Breaking out early is fine and leaves the store usable.
      for (const entry of db.range()) {
        void entry
        break
      }
      for await (const entry of db.range()) {
        void entry
        break
      }
      await db.put(6, Uint8Array.of(6))
      model.put(6, Uint8Array.of(6))
      expectStoreEquals(db, model)
    } finally {
      await closeQuietly(db)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Closed stores
// ---------------------------------------------------------------------------------------------

describe('use after close', () => {
  it('every method reports CLOSED (sync ones throw, async ones reject); close twice is fine', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.close()
    expect(syncCode(() => db.get(1))).toBe(ErrorCode.CLOSED)
    expect(syncCode(() => db.get(99))).toBe(ErrorCode.CLOSED)
    expect(syncCode(() => db.has(1))).toBe(ErrorCode.CLOSED)
    expect(rangeCode(() => db.range())).toBe(ErrorCode.CLOSED)
    expect(syncCode(() => db.stats())).toBe(ErrorCode.CLOSED)
    expect(await asyncCode(() => db.put(1, Uint8Array.of(1)))).toBe(ErrorCode.CLOSED)
    expect(await asyncCode(() => db.del(1))).toBe(ErrorCode.CLOSED)
    expect(await asyncCode(() => db.batch([{ type: 'put', key: 1, value: Uint8Array.of(1) }]))).toBe(ErrorCode.CLOSED)
    expect(await asyncCode(() => db.close())).toBe('resolved')
    expect(await asyncCode(() => db.close())).toBe('resolved')
    // Nothing was written by the rejected calls.
    let again: Store | undefined
    try {
      again = await open(dir)
      expectStoreEquals(again, model)
    } finally {
      await closeQuietly(again)
    }
  })

  it('a bad argument on a closed store is CLOSED or INVALID_ARGUMENT, a StoreError either way', async () => {
    const { db } = await seeded(tempDir())
    await db.close()
    expect([ErrorCode.CLOSED, ErrorCode.INVALID_ARGUMENT]).toContain(syncCode(() => db.get(bad(NaN))))
    expect([ErrorCode.CLOSED, ErrorCode.INVALID_ARGUMENT]).toContain(await asyncCode(() => db.put(bad(NaN), Uint8Array.of(1))))
  })

  it('a range started before close fails with CLOSED (or ends) when continued after it, never returns garbage', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
      const model = new Model()
      const batch: BatchOperation[] = []
      for (let i = 0; i < 2000; i++) {
        const value = bytesFromSeed(60, i)
        batch.push({ type: 'put', key: i, value })
        model.put(i, value)
      }
      await db.batch(batch)
      const iterator = db.range()[Symbol.iterator]()
      const first = iterator.next()
      expect(first.done).toBe(false)
      await db.close()
      let outcome = 'ok'
      try {
        for (let r = iterator.next(); r.done !== true; r = iterator.next()) {
          const [k, v] = r.value
          const expected = model.get(k)
          if (expected === undefined || !bytesEqual(v, expected)) {
            outcome = `wrong entry ${k}`
            break
          }
        }
      } catch (error) {
        outcome = codeOfError(error)
      }
      expect(['ok', ErrorCode.CLOSED]).toContain(outcome)
    } finally {
      await closeQuietly(db)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// open() options
// ---------------------------------------------------------------------------------------------

describe('open() options', () => {
  const BAD_OPTIONS: [string, unknown][] = [
    ['an unknown option name', { pageSize: 4096 }],
    ['an unknown option among good ones', { pageSizeBytes: 4096, durabilty: 'fsync' }],
    ['pageSizeBytes 1000', { pageSizeBytes: 1000 }],
    ['pageSizeBytes 3000', { pageSizeBytes: 3000 }],
    ['pageSizeBytes 2048', { pageSizeBytes: 2048 }],
    ['pageSizeBytes 2**21', { pageSizeBytes: 2 ** 21 }],
    ['pageSizeBytes 12288 (not a power of two)', { pageSizeBytes: 12288 }],
    ['pageSizeBytes NaN', { pageSizeBytes: NaN }],
    ['pageSizeBytes "4096"', { pageSizeBytes: '4096' }],
    ['cacheBytes negative', { cacheBytes: -1 }],
    ['cacheBytes NaN', { cacheBytes: NaN }],
    ['cacheBytes a string', { cacheBytes: '8MiB' }],
    ['cacheBytes Infinity', { cacheBytes: Infinity }],
    ['walSegmentBytes over 512 MiB (a segment must stay readable in one read)', { walSegmentBytes: (512 << 20) + 1 }],
    ['walSegmentBytes below 64 KiB', { walSegmentBytes: 1000 }],
    ["durability 'sometimes'", { durability: 'sometimes' }],
    ['durability true', { durability: true }],
    ["readOnly 'yes'", { readOnly: 'yes' }],
    ['readOnly 1', { readOnly: 1 }],
    ['options a number', 5],
    ['options a string', 'fsync'],
  ]

  for (const [name, options] of BAD_OPTIONS) {
    it(`${name}: INVALID_ARGUMENT, and no directory or file is created`, async () => {
      const parent = tempDir()
      const dir = path.join(parent, 'store')
      const outcome = await openOutcome(dir, bad(options))
      expect(outcome.code).toBe(ErrorCode.INVALID_ARGUMENT)
      expect(fs.existsSync(dir), 'store directory created by a rejected open').toBe(false)
    })
  }

  it('bad options on an existing store are INVALID_ARGUMENT and leave its files untouched', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.close()
    const before = dirDigest(dir)
    for (const [, options] of BAD_OPTIONS) {
      expect((await openOutcome(dir, bad(options))).code, JSON.stringify(options)).toBe(ErrorCode.INVALID_ARGUMENT)
    }
    expect(dirDigest(dir)).toBe(before)
    let again: Store | undefined
    try {
      again = await open(dir)
      expectStoreEquals(again, model)
    } finally {
      await closeQuietly(again)
    }
  })

  it('good options: every page size from 4 KiB to 1 MiB, the smallest pool, each durability; undefined options are defaults', async () => {
    for (let size = 4096; size <= 1 << 20; size *= 2) {
      const dir = tempDir()
      let db: Store | undefined
      try {
        db = await open(dir, { pageSizeBytes: size, cacheBytes: 8 * size, durability: 'none' })
        expect(db.stats().pageSizeBytes).toBe(size)
        expect(db.stats().bufferPool.pageSizeBytes).toBe(size)
        expect(db.stats().bufferPool.frames).toBe(8)
        await db.put(1.5, bytesFromSeed(size + 10, size))
        await db.close()
        db = await open(dir, { cacheBytes: 8 * size })
        expect(db.stats().pageSizeBytes).toBe(size)
        expect(bytesEqual(db.get(1.5) as Uint8Array, bytesFromSeed(size + 10, size))).toBe(true)
      } finally {
        await closeQuietly(db)
      }
    }
    for (const durability of ['fsync', 'os', 'none'] as const) {
      const dir = tempDir()
      const model = new Model()
      let db: Store | undefined
      try {
        db = await open(dir, { durability })
        await db.put(1, Uint8Array.of(1))
        model.put(1, Uint8Array.of(1))
        await db.close()
        db = await open(dir, { durability })
        expectStoreEquals(db, model, durability)
      } finally {
        await closeQuietly(db)
      }
    }
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, {})
      expect(db.stats().pageSizeBytes).toBe(65536)
      await db.close()
      db = await open(dir)
      expect(db.stats().pageSizeBytes).toBe(65536)
    } finally {
      await closeQuietly(db)
    }
  })

  it('a budget below 8 pages (even 0) gives the 8-page minimum, or is refused as INVALID_ARGUMENT', async () => {
    for (const cacheBytes of [0, 1, 4096, 8 * 4096 - 1]) {
      const dir = tempDir()
      let db: Store | undefined
      try {
        db = await open(dir, { pageSizeBytes: 4096, cacheBytes })
      } catch (error) {
        expect(codeOfError(error), `cacheBytes ${cacheBytes}`).toBe(ErrorCode.INVALID_ARGUMENT)
        continue
      }
      try {
        expect(db.stats().bufferPool.frames, `cacheBytes ${cacheBytes}`).toBe(8)
        const model = new Model()
        for (let k = 0; k < 300; k++) {
          await db.put(k, bytesFromSeed(300, k))
          model.put(k, bytesFromSeed(300, k))
        }
        expectStoreEquals(db, model)
      } finally {
        await closeQuietly(db)
      }
    }
  })

  it('cacheBytes is rounded down to whole pages', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 10 * 4096 + 4095 })
      expect(db.stats().bufferPool.frames).toBe(10)
    } finally {
      await closeQuietly(db)
    }
  })

  it('the directory is created if missing', async () => {
    const dir = path.join(tempDir(), 'store')
    let db: Store | undefined
    try {
      db = await open(dir)
      await db.put(1, Uint8Array.of(1))
      await db.close()
      db = await open(dir)
      expect(db.get(1)).toEqual(Uint8Array.of(1))
    } finally {
      await closeQuietly(db)
    }
  })

  it('reopening with a different explicit page size is INVALID_ARGUMENT and harms nothing; no size keeps the store\'s own', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir, { pageSizeBytes: 4096 })
    await db.close()
    const before = dirDigest(dir)
    for (const size of [8192, 16384, 1 << 20]) {
      const outcome = await openOutcome(dir, { pageSizeBytes: size })
      expect(outcome.code, `reopen with ${size}`).toBe(ErrorCode.INVALID_ARGUMENT)
    }
    expect((await openOutcome(dir, { pageSizeBytes: 16384, readOnly: true })).code).toBe(ErrorCode.INVALID_ARGUMENT)
    expect(dirDigest(dir)).toBe(before)
    let again: Store | undefined
    try {
      again = await open(dir)
      expect(again.stats().pageSizeBytes).toBe(4096)
      expectStoreEquals(again, model)
      await again.close()
      again = await open(dir, { pageSizeBytes: 4096 })
      expectStoreEquals(again, model)
    } finally {
      await closeQuietly(again)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Read-only
// ---------------------------------------------------------------------------------------------

describe('readOnly', () => {
  it('reads an existing store; put, del and batch reject with READ_ONLY; nothing on disk changes', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.put(6, bytesFromSeed(20_000, 6))
    model.put(6, bytesFromSeed(20_000, 6))
    await db.close()
    const before = dirDigest(dir)
    let ro: Store | undefined
    try {
      ro = await open(dir, { readOnly: true })
      expectStoreEquals(ro, model)
      expect(entriesDiff(collect(ro.range({ gt: 1, reverse: true })), model.range({ gt: 1, reverse: true }))).toBe('')
      expect(await asyncCode(() => (ro as Store).put(1, Uint8Array.of(1)))).toBe(ErrorCode.READ_ONLY)
      expect(await asyncCode(() => (ro as Store).put(77, Uint8Array.of(1)))).toBe(ErrorCode.READ_ONLY)
      expect(await asyncCode(() => (ro as Store).del(1))).toBe(ErrorCode.READ_ONLY)
      expect(await asyncCode(() => (ro as Store).batch([{ type: 'del', key: 2 }]))).toBe(ErrorCode.READ_ONLY)
      expect(await asyncCode(() => (ro as Store).batch([]))).toMatch(/^(READ_ONLY|resolved)$/)
      expectStoreEquals(ro, model)
      await ro.close()
      ro = undefined
      expect(dirDigest(dir)).toBe(before)
      // The read-only open left the store openable for writing.
      ro = await open(dir)
      expectStoreEquals(ro, model)
    } finally {
      await closeQuietly(ro)
    }
  })

  it('two read-only opens coexist; a writer cannot open alongside them, nor a reader alongside a writer', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.close()
    let r1: Store | undefined
    let r2: Store | undefined
    let w: Store | undefined
    try {
      r1 = await open(dir, { readOnly: true })
      r2 = await open(dir, { readOnly: true })
      expectStoreEquals(r1, model)
      expectStoreEquals(r2, model)
      expect((await openOutcome(dir)).code).toBe(ErrorCode.LOCKED)
      await r1.close()
      r1 = undefined
      expect((await openOutcome(dir)).code).toBe(ErrorCode.LOCKED)
      expectStoreEquals(r2, model)
      await r2.close()
      r2 = undefined
      w = await open(dir)
      expect((await openOutcome(dir, { readOnly: true })).code).toBe(ErrorCode.LOCKED)
      await w.put(9, Uint8Array.of(9))
      model.put(9, Uint8Array.of(9))
      expectStoreEquals(w, model)
    } finally {
      await closeQuietly(r1)
      await closeQuietly(r2)
      await closeQuietly(w)
    }
  })

  it('read-only open of a missing directory, an empty directory or a directory of other files fails and creates nothing', async () => {
    const parent = tempDir()
    const missing = path.join(parent, 'missing')
    const missingOutcome = await openOutcome(missing, { readOnly: true })
    expect(missingOutcome.code).not.toBe('opened')
    expect(missingOutcome.code).not.toMatch(/^not a StoreError/)
    expect(fs.existsSync(missing)).toBe(false)

    const empty = path.join(parent, 'empty')
    fs.mkdirSync(empty)
    const emptyOutcome = await openOutcome(empty, { readOnly: true })
    expect(emptyOutcome.code).not.toBe('opened')
    expect(emptyOutcome.code).not.toMatch(/^not a StoreError/)
    expect(fs.readdirSync(empty)).toEqual([])

    const other = path.join(parent, 'other')
    fs.mkdirSync(other)
    fs.writeFileSync(path.join(other, 'notes.txt'), 'not a store')
    const otherOutcome = await openOutcome(other, { readOnly: true })
    expect(otherOutcome.code).not.toBe('opened')
    expect(otherOutcome.code).not.toMatch(/^not a StoreError/)
    expect(fs.readdirSync(other)).toEqual(['notes.txt'])
  })

  it('a store directory without its LOCK file (say, restored from a copy of data.lsp) opens read-only and is not modified', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.close()
    fs.rmSync(path.join(dir, 'LOCK'))
    const before = fileDigest(path.join(dir, 'data.lsp'))
    let ro: Store | undefined
    try {
      ro = await open(dir, { readOnly: true })
      expectStoreEquals(ro, model)
    } finally {
      await closeQuietly(ro)
    }
    expect(fileDigest(path.join(dir, 'data.lsp'))).toBe(before)
  })

  it('stats() works read-only and reports the records', async () => {
    const dir = tempDir()
    const { db, model } = await seeded(dir)
    await db.close()
    let ro: Store | undefined
    try {
      ro = await open(dir, { readOnly: true, cacheBytes: 8 * 4096 })
      expect(ro.stats().records).toBe(model.size)
      expect(ro.stats().pageSizeBytes).toBe(4096)
    } finally {
      await closeQuietly(ro)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Error objects
// ---------------------------------------------------------------------------------------------

describe('error objects', () => {
  it('are StoreError instances (and Errors) with a code and a message that says what was wrong', async () => {
    const { db } = await seeded(tempDir())
    try {
      let caught: unknown
      try {
        db.get(bad(NaN))
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(StoreError)
      expect(caught).toBeInstanceOf(Error)
      expect((caught as StoreError).code).toBe(ErrorCode.INVALID_ARGUMENT)
      expect((caught as StoreError).message).toMatch(/NaN/)
      let rejected: unknown
      await db.put(1, bad('str')).catch((error: unknown) => {
        rejected = error
      })
      expect(rejected).toBeInstanceOf(StoreError)
      expect((rejected as StoreError).message.length).toBeGreaterThan(0)
    } finally {
      await closeQuietly(db)
    }
  })
})
