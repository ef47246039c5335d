/**
 * Model-based tests of the Store API: random operation lists (put, del, batch, get, has, range with
 * random bounds/reverse/limit, parallel puts, stats, close + reopen) run against the store and against
 * `Model` (a Map plus a sorted key array), comparing every answer.
 *
 * Two configurations: a tiny buffer pool (8 frames of 4 KiB, over a few hundred background records,
 * so pages are evicted and read back all the time, and 20 KB values overflow a page), and the
 * default sizes. Set FC_SEED (and FC_PATH) to replay a reported failure; FC_NUM_RUNS and
 * FC_TIME_LIMIT_MS (default 20 s per property, after which it stops early and passes) to hunt longer.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import type { BatchOperation, Durability, OpenOptions, RangeOptions } from '../../src/store/api.js'
import {
  Model,
  Rng,
  bytesFromSeed,
  closeQuietly,
  collect,
  collectAsync,
  describeBytes,
  describeKey,
  entriesDiff,
  expectStoreEquals,
  makeTempDir,
  removeDir,
  bytesEqual,
  valueDiff,
  type Store,
} from './helpers.js'

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Keys that recur, so overwrites, deletes and hits on absent keys happen often. -0 and 0 are both in. */
const KEY_POOL = [
  0, -0, 1, -1, 2, 3, 5, 8, 13, 21, 34, 100, 1000, -1000, 0.5, -0.5, 1.25, 1e-300, Number.MIN_VALUE,
  2 ** 53, -(2 ** 53), 1e300, -1e300, Number.MAX_VALUE, -Number.MAX_VALUE, 123456.789, -7.75,
] as const

const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true })
const keyArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEY_POOL) },
  { weight: 1, arbitrary: anyDouble },
  { weight: 1, arbitrary: fc.integer({ min: -1200, max: 1200 }).map((i) => i * 0.731) },
)

/** Values 0..600 bytes, now and then 4..24 KB (larger than a 4 KiB page: overflow). */
const valueArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  // Values around the leaf cell width (16 bytes by default): kept in their leaves, or not.
  { weight: 20, arbitrary: fc.tuple(fc.integer({ min: 0, max: 24 }), fc.integer()).map(([n, s]) => bytesFromSeed(n, s)) },
  { weight: 30, arbitrary: fc.tuple(fc.integer({ min: 0, max: 600 }), fc.integer()).map(([n, s]) => bytesFromSeed(n, s)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 4000, max: 24_000 }), fc.integer()).map(([n, s]) => bytesFromSeed(n, s)) },
)

interface RangeSpec {
  lowKind: 'none' | 'gte' | 'gt'
  low: number
  highKind: 'none' | 'lte' | 'lt'
  high: number
  reverse: boolean
  limit: number | undefined
}

const rangeSpecArb: fc.Arbitrary<RangeSpec> = fc.record({
  lowKind: fc.constantFrom('none', 'gte', 'gt'),
  low: keyArb,
  highKind: fc.constantFrom('none', 'lte', 'lt'),
  high: keyArb,
  reverse: fc.boolean(),
  limit: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined, freq: 2 }),
})

function rangeOptions(spec: RangeSpec): RangeOptions {
  const options: RangeOptions = {}
  if (spec.lowKind === 'gte') options.gte = spec.low
  if (spec.lowKind === 'gt') options.gt = spec.low
  if (spec.highKind === 'lte') options.lte = spec.high
  if (spec.highKind === 'lt') options.lt = spec.high
  if (spec.reverse) options.reverse = true
  if (spec.limit !== undefined) options.limit = spec.limit
  return options
}

type BatchSpec = { type: 'put'; key: number; value: Uint8Array } | { type: 'del'; key: number }

const batchOpArb: fc.Arbitrary<BatchSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('del' as const), key: keyArb }) },
)

type Op =
  | { t: 'put'; key: number; value: Uint8Array; scribble: boolean }
  | { t: 'del'; key: number }
  | { t: 'batch'; ops: BatchSpec[] }
  | { t: 'get'; key: number; scribble: boolean }
  | { t: 'has'; key: number }
  | { t: 'range'; spec: RangeSpec; async: boolean; scribble: boolean }
  | { t: 'parallel'; entries: [number, Uint8Array][] }
  | { t: 'stats' }
  | { t: 'reopen'; explicitPageSize: boolean }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('put' as const), key: keyArb, value: valueArb, scribble: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('del' as const), key: keyArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(batchOpArb, { minLength: 0, maxLength: 25, size: 'max' }) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('get' as const), key: keyArb, scribble: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('has' as const), key: keyArb }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('range' as const), spec: rangeSpecArb, async: fc.boolean(), scribble: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('parallel' as const),
      entries: fc.uniqueArray(fc.tuple(keyArb, valueArb), { minLength: 1, maxLength: 8, size: 'max', selector: ([k]) => (k === 0 ? 0 : k) }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'stats' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const), explicitPageSize: fc.boolean() }) },
)

function describeOp(op: Op): string {
  switch (op.t) {
    case 'put':
      return `put(${describeKey(op.key)}, ${describeBytes(op.value)})`
    case 'del':
      return `del(${describeKey(op.key)})`
    case 'batch':
      return `batch[${op.ops.map((o) => (o.type === 'put' ? `put ${describeKey(o.key)} ${o.value.byteLength}B` : `del ${describeKey(o.key)}`)).join(', ')}]`
    case 'get':
      return `get(${describeKey(op.key)})`
    case 'has':
      return `has(${describeKey(op.key)})`
    case 'range':
      return `range(${JSON.stringify(rangeOptions(op.spec))})`
    case 'parallel':
      return `parallel puts [${op.entries.map(([k, v]) => `${describeKey(k)} ${v.byteLength}B`).join(', ')}]`
    case 'stats':
      return 'stats()'
    case 'reopen':
      return `close + reopen${op.explicitPageSize ? '' : ' (no pageSizeBytes)'}`
  }
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

interface Config {
  name: string
  pageSizeBytes: number
  /** undefined: the default budget. */
  cacheBytes: number | undefined
  background: fc.Arbitrary<number>
  numRuns: number
  maxOps: number
}

/** Background records interleaved with the pool keys (so a pool key shares pages with them). */
function backgroundKey(i: number, count: number): number {
  return (i - count / 2) * 1.7 + 0.1
}

function openOptions(config: Config, durability: Durability, explicitPageSize = true): OpenOptions {
  const options: OpenOptions = { durability }
  if (explicitPageSize) options.pageSizeBytes = config.pageSizeBytes
  if (config.cacheBytes !== undefined) options.cacheBytes = config.cacheBytes
  return options
}

async function runOps(config: Config, durability: Durability, backgroundCount: number, ops: Op[]): Promise<void> {
  const dir = makeTempDir('learned-storage-model-')
  const model = new Model()
  const log: string[] = []
  let db: Store | undefined
  const fail = (what: string): never => {
    throw new Error(`${what}\n  after ops:\n    ${log.slice(-25).join('\n    ')}`)
  }
  const check = (bad: string): void => {
    if (bad !== '') fail(bad)
  }
  try {
    db = await open(dir, openOptions(config, durability))
    expect(db.stats().pageSizeBytes).toBe(config.pageSizeBytes)

    if (backgroundCount > 0) {
      const batch: BatchOperation[] = []
      for (let i = 0; i < backgroundCount; i++) {
        const key = backgroundKey(i, backgroundCount)
        const value = bytesFromSeed(40 + (i % 7) * 23, i * 7919 + 1)
        batch.push({ type: 'put', key, value })
        model.put(key, value)
      }
      await db.batch(batch)
      log.push(`background batch of ${backgroundCount} puts`)
    }

    for (const op of ops) {
      log.push(describeOp(op))
      const store: Store = db
      switch (op.t) {
        case 'put': {
          const buffer = Uint8Array.from(op.value)
          await store.put(op.key, buffer)
          model.put(op.key, op.value)
          if (op.scribble) buffer.fill(0xa5) // the store must have taken its own copy
          break
        }
        case 'del':
          await store.del(op.key)
          model.del(op.key)
          break
        case 'batch': {
          const batch: BatchOperation[] = op.ops.map((o) =>
            o.type === 'put' ? { type: 'put', key: o.key, value: Uint8Array.from(o.value) } : { type: 'del', key: o.key },
          )
          await store.batch(batch)
          for (const o of op.ops) {
            if (o.type === 'put') model.put(o.key, o.value)
            else model.del(o.key)
          }
          break
        }
        case 'get': {
          const got = store.get(op.key)
          check(valueDiff(op.key, got, model.get(op.key)))
          if (op.scribble && got !== undefined && got.byteLength > 0) {
            got.fill(got[0] === 0x5a ? 0xa5 : 0x5a)
            check(valueDiff(op.key, store.get(op.key), model.get(op.key)))
          }
          break
        }
        case 'has':
          if (store.has(op.key) !== model.has(op.key)) fail(`has(${describeKey(op.key)}) = ${!model.has(op.key)}, expected ${model.has(op.key)}`)
          break
        case 'range': {
          const options = rangeOptions(op.spec)
          const got = op.async ? await collectAsync(store.range(options)) : collect(store.range(options))
          const bad = entriesDiff(got, model.range(options))
          if (bad !== '') fail(`range(${JSON.stringify(options)}): ${bad}`)
          if (op.scribble) {
            for (const [, value] of got) value.fill(0xee)
            check(entriesDiff(collect(store.range(options)), model.range(options)))
          }
          break
        }
        case 'parallel': {
          // Distinct keys, so the result does not depend on the order the writes are applied in.
          const buffers = op.entries.map(([, v]) => Uint8Array.from(v))
          await Promise.all(op.entries.map(([k], i) => store.put(k, buffers[i] as Uint8Array)))
          for (const [k, v] of op.entries) model.put(k, v)
          break
        }
        case 'stats': {
          const stats = store.stats()
          if (stats.records !== model.size) fail(`stats().records = ${stats.records}, expected ${model.size}`)
          if (stats.pageSizeBytes !== config.pageSizeBytes) fail(`stats().pageSizeBytes = ${stats.pageSizeBytes}`)
          check(pageAccountingDiff(store))
          break
        }
        case 'reopen': {
          await store.close()
          db = undefined
          db = await open(dir, openOptions(config, durability, op.explicitPageSize))
          if (db.stats().pageSizeBytes !== config.pageSizeBytes) fail(`reopened with page size ${db.stats().pageSizeBytes}`)
          expectStoreEquals(db, model, `after ${log.length} ops, reopen`)
          check(pageAccountingDiff(db, true))
          break
        }
      }
    }

    // The end: everything, forward and backward, then once more after a final reopen.
    expectStoreEquals(db, model, 'end of run')
    check(entriesDiff(collect(db.range({ reverse: true })), model.range({ reverse: true })))
    if (config.cacheBytes !== undefined && backgroundCount >= 600) {
      // Far more than 8 pages of records were just read through 8 frames.
      expect(db.stats().bufferPool.evictions).toBeGreaterThan(0)
    }
    await db.close()
    db = undefined
    db = await open(dir, openOptions(config, durability))
    expectStoreEquals(db, model, 'final reopen')
    await db.close()
    db = undefined
  } finally {
    await closeQuietly(db)
    removeDir(dir)
  }
}

/**
 * Every page below the used size is exactly one of meta, leaf, value, overflow, model, free list,
 * page map, free or pending-free (api.ts PageCounts), and the file is at least that long.
 */
function pageAccountingDiff(db: Store, justOpened = false): string {
  const stats = db.stats()
  const p = stats.pages
  const sum = p.meta + p.leaf + p.value + p.overflow + p.model + p.freeList + p.pageMap + p.free + p.pendingFree
  if (sum !== p.total) return `stats().pages parts sum to ${sum}, total is ${p.total}: ${JSON.stringify(p)}`
  // Between checkpoints pages may be allocated that are not written yet; right after open, not.
  if (justOpened && stats.bytesOnDisk < p.total * stats.pageSizeBytes) return `bytesOnDisk ${stats.bytesOnDisk} < ${p.total} pages`
  return ''
}

function fcParameters(numRuns: number): fc.Parameters<[Durability, number, Op[]]> {
  // FC_NUM_RUNS and FC_TIME_LIMIT_MS lengthen a hunt; FC_SEED and FC_PATH replay a failure.
  const runs = process.env.FC_NUM_RUNS !== undefined ? Number(process.env.FC_NUM_RUNS) : numRuns
  const limit = process.env.FC_TIME_LIMIT_MS !== undefined ? Number(process.env.FC_TIME_LIMIT_MS) : 20_000
  const parameters: fc.Parameters<[Durability, number, Op[]]> = { numRuns: runs, interruptAfterTimeLimit: limit }
  if (process.env.FC_SEED !== undefined) parameters.seed = Number(process.env.FC_SEED)
  if (process.env.FC_PATH !== undefined) parameters.path = process.env.FC_PATH
  return parameters
}

const CONFIGS: Config[] = [
  {
    name: 'tiny buffer pool (8 frames of 4 KiB), background records',
    pageSizeBytes: 4096,
    cacheBytes: 8 * 4096,
    background: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 600, max: 1500 }) }),
    numRuns: 300,
    maxOps: 120,
  },
  {
    name: 'default page size and buffer pool',
    pageSizeBytes: 16384,
    cacheBytes: undefined,
    background: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1500 })),
    numRuns: 400,
    maxOps: 120,
  },
]

describe('Store against a Map model', () => {
  for (const config of CONFIGS) {
    it(config.name, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<Durability>('fsync', 'os', 'none'),
          config.background,
          fc.array(opArb, { minLength: 1, maxLength: config.maxOps, size: 'max' }),
          async (durability, background, ops) => {
            await runOps(config, durability, background, ops)
          },
        ),
        fcParameters(config.numRuns),
      )
    })
  }

  it('a fixed sequence: overwrite, -0 and 0, delete, overflow values, reopen (tiny pool)', async () => {
    const big = bytesFromSeed(20_000, 3)
    const ops: Op[] = [
      { t: 'put', key: -0, value: bytesFromSeed(10, 1), scribble: true },
      { t: 'get', key: 0, scribble: true },
      { t: 'put', key: 0, value: bytesFromSeed(600, 2), scribble: false },
      { t: 'put', key: 5, value: big, scribble: true },
      { t: 'put', key: 6, value: new Uint8Array(0), scribble: false },
      { t: 'range', spec: { lowKind: 'gte', low: -0, highKind: 'lt', high: 6, reverse: false, limit: undefined }, async: true, scribble: true },
      { t: 'reopen', explicitPageSize: true },
      { t: 'put', key: 5, value: bytesFromSeed(3, 4), scribble: false },
      { t: 'del', key: 0 },
      { t: 'reopen', explicitPageSize: false },
      { t: 'put', key: 5, value: big, scribble: false },
      { t: 'batch', ops: [{ type: 'put', key: 7, value: big }, { type: 'del', key: 5 }, { type: 'put', key: 5, value: bytesFromSeed(1, 9) }, { type: 'del', key: 7 }] },
      { t: 'range', spec: { lowKind: 'none', low: 0, highKind: 'none', high: 0, reverse: true, limit: 0 }, async: false, scribble: false },
      { t: 'reopen', explicitPageSize: true },
      { t: 'stats' },
    ]
    const config = CONFIGS[0] as Config
    await runOps(config, 'fsync', 900, ops)
  })
})

describe('writes while a range is being iterated', () => {
  const N = 3000
  for (const mode of ['forward', 'reverse', 'forward, for await'] as const) {
    it(`${mode}: writes behind the cursor and outside the bounds leave the rest of the iteration exact`, async () => {
      const dir = makeTempDir('learned-storage-model-iter-')
      const model = new Model()
      let db: Store | undefined
      try {
        db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096, durability: 'none' })
        const batch: BatchOperation[] = []
        for (let k = 0; k < N; k++) {
          batch.push({ type: 'put', key: k, value: bytesFromSeed(30, k) })
          model.put(k, bytesFromSeed(30, k))
        }
        await db.batch(batch)
        const reverse = mode === 'reverse'
        const expectedKeys = model.range({ gte: 0, lt: N, reverse }).map(([k]) => k)
        const seen: number[] = []
        let bad = ''
        const store = db
        const step = async (key: number, value: Uint8Array): Promise<void> => {
          const i = seen.length
          seen.push(key)
          if (bad === '' && key !== expectedKeys[i]) bad = `entry ${i}: key ${key}, expected ${expectedKeys[i]}`
          if (bad === '' && !bytesEqual(value, bytesFromSeed(30, key))) bad = `entry ${i}: wrong value for ${key}`
          // Behind the cursor: delete the key just passed, insert between it and the current one
          // (same data node: forces expansions and splits of the node being iterated).
          const behind = reverse ? key + 1 : key - 1
          if (behind >= 0 && behind < N) {
            await store.del(behind)
            model.del(behind)
          }
          const between = reverse ? key + 0.5 : key - 0.5
          await store.put(between, bytesFromSeed(9, i))
          model.put(between, bytesFromSeed(9, i))
          // Outside the bounds, on both sides.
          await store.put(N + 10 + i, bytesFromSeed(5, i))
          model.put(N + 10 + i, bytesFromSeed(5, i))
          await store.put(-10 - i, bytesFromSeed(5, i))
          model.put(-10 - i, bytesFromSeed(5, i))
        }
        if (reverse) {
          // Reverse: "behind" is above the cursor; bounds exclude the keys written below 0 and above N.
          for (const [key, value] of store.range({ gte: 0, lt: N, reverse: true })) {
            if (Number.isInteger(key)) await step(key, value)
            else bad ||= `reverse iteration returned ${key}, written behind the cursor`
          }
        } else if (mode === 'forward') {
          for (const [key, value] of store.range({ gte: 0, lt: N })) {
            if (Number.isInteger(key)) await step(key, value)
            else bad ||= `iteration returned ${key}, written behind the cursor`
          }
        } else {
          for await (const [key, value] of store.range({ gte: 0, lt: N })) {
            if (Number.isInteger(key)) await step(key, value)
            else bad ||= `iteration returned ${key}, written behind the cursor`
          }
        }
        expect(bad).toBe('')
        expect(seen.length).toBe(N)
        expectStoreEquals(store, model, 'after the iteration')
        await store.close()
        db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
        expectStoreEquals(db, model, 'after reopen')
      } finally {
        await closeQuietly(db)
        removeDir(dir)
      }
    })
  }
})

describe('long seeded random walks (hand-rolled op lists, growing and shrinking)', () => {
  // Thousands of ops over a few thousand keys: leaves split, expand, contract and retire; value pages
  // fill, die and are reused after checkpoints; the free list grows and shrinks across ~40 reopens.
  const SEEDS = process.env.FC_SEED !== undefined ? [Number(process.env.FC_SEED)] : [1, 2, 3]
  for (const seed of SEEDS) {
    it(`seed ${seed}: 3000 ops through an 8-frame pool of 4 KiB pages`, async () => {
      const rng = new Rng(seed)
      const dir = makeTempDir('learned-storage-model-walk-')
      const model = new Model()
      const log: string[] = []
      const options: OpenOptions = { pageSizeBytes: 4096, cacheBytes: 8 * 4096, durability: 'none' }
      const drawKey = (): number => {
        const pick = rng.int(10)
        if (pick < 6) return rng.int(2000) * 0.5 - 300
        if (pick < 9) return (rng.float() - 0.5) * 1e4
        return (rng.float() - 0.5) * 10 ** (rng.int(60) - 30)
      }
      const drawValue = (): Uint8Array =>
        rng.int(50) === 0 ? bytesFromSeed(4097 + rng.int(21_000), rng.uint32()) : bytesFromSeed(rng.int(601), rng.uint32())
      const fail = (what: string): never => {
        throw new Error(`seed ${seed}: ${what}\n  last ops:\n    ${log.slice(-20).join('\n    ')}`)
      }
      let db: Store | undefined
      try {
        db = await open(dir, options)
        for (let step = 0; step < 3000; step++) {
          // Phases: grow (puts dominate), then shrink (deletes dominate), twice.
          const shrinking = Math.floor(step / 750) % 2 === 1
          const r = rng.int(100)
          const store: Store = db
          if (r < (shrinking ? 15 : 40)) {
            const key = drawKey()
            const value = drawValue()
            log.push(`${step} put(${describeKey(key)}, ${value.byteLength} B)`)
            await store.put(key, value)
            model.put(key, value)
          } else if (r < 60) {
            // Shrinking deletes mostly existing keys.
            const keys = model.keys()
            const key = shrinking && keys.length > 0 ? (keys[rng.int(keys.length)] as number) : drawKey()
            log.push(`${step} del(${describeKey(key)})`)
            await store.del(key)
            model.del(key)
          } else if (r < 68) {
            const ops: BatchOperation[] = []
            const n = rng.int(shrinking ? 60 : 200)
            for (let i = 0; i < n; i++) {
              if (rng.int(shrinking ? 2 : 5) === 0) {
                const keys = model.keys()
                ops.push({ type: 'del', key: keys.length > 0 && rng.int(2) === 0 ? (keys[rng.int(keys.length)] as number) : drawKey() })
              } else {
                ops.push({ type: 'put', key: drawKey(), value: drawValue() })
              }
            }
            log.push(`${step} batch of ${n}`)
            await store.batch(ops)
            for (const op of ops) {
              if (op.type === 'put') model.put(op.key, op.value)
              else model.del(op.key)
            }
          } else if (r < 80) {
            const key = rng.int(3) === 0 ? drawKey() : (model.keys()[rng.int(Math.max(1, model.size))] ?? 0)
            log.push(`${step} get(${describeKey(key)})`)
            const bad = valueDiff(key, store.get(key), model.get(key))
            if (bad !== '') fail(bad)
            if (store.has(key) !== model.has(key)) fail(`has(${describeKey(key)}) = ${!model.has(key)}`)
          } else if (r < 95) {
            const a = drawKey()
            const b = drawKey()
            const range: RangeOptions = {}
            const lowKind = rng.int(3)
            const highKind = rng.int(3)
            if (lowKind === 1) range.gte = Math.min(a, b)
            if (lowKind === 2) range.gt = Math.min(a, b)
            if (highKind === 1) range.lte = Math.max(a, b)
            if (highKind === 2) range.lt = Math.max(a, b)
            if (rng.int(2) === 0) range.reverse = true
            if (rng.int(6) !== 0) range.limit = rng.int(100) // one in six unlimited (can span everything)
            log.push(`${step} range(${JSON.stringify(range)})`)
            const bad = entriesDiff(collect(store.range(range)), model.range(range))
            if (bad !== '') fail(`range(${JSON.stringify(range)}): ${bad}`)
          } else if (r < 99) {
            const stats = store.stats()
            if (stats.records !== model.size) fail(`stats().records = ${stats.records}, expected ${model.size}`)
            const bad = pageAccountingDiff(store)
            if (bad !== '') fail(bad)
          } else {
            log.push(`${step} close + reopen (${model.size} records)`)
            await store.close()
            db = undefined
            db = await open(dir, options)
            expectStoreEquals(db, model, `seed ${seed}, step ${step}, reopen`)
            const bad = pageAccountingDiff(db, true)
            if (bad !== '') fail(bad)
          }
        }
        expectStoreEquals(db, model, `seed ${seed}, end`)
        await db.close()
        db = undefined
        db = await open(dir, options)
        expectStoreEquals(db, model, `seed ${seed}, final reopen`)
        expect(entriesDiff(collect(db.range({ reverse: true })), model.range({ reverse: true }))).toBe('')
      } finally {
        await closeQuietly(db)
        removeDir(dir)
      }
    })
  }
})
