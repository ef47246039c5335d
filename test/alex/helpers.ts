/**
 * Test helpers for the ALEX index: a seeded PRNG, key generators, an independent reference model and
 * whole-index comparisons that report the first mismatch instead of diffing a million entries.
 *
 * Nothing here reads the index to decide what the index should contain: expectations always come
 * from the generated keys or from `RefIndex`.
 */
import { expect } from 'vitest'
import type { AlexIndex, AlexRange } from '../../src/index.js'

/** -0 is stored as 0 by the index; the reference does the same. */
export function normalizeKey(key: number): number {
  return key === 0 ? 0 : key
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG
// ---------------------------------------------------------------------------------------------

/** mulberry32: 32-bit state, uint32 output. Small, fast and reproducible. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

const TWO_POW_26 = 67108864
const TWO_POW_53 = 9007199254740992

export class Rng {
  private readonly nextUint32: () => number

  constructor(seed: number) {
    this.nextUint32 = mulberry32(seed)
  }

  uint32(): number {
    return this.nextUint32()
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.nextUint32() >>> 5) * TWO_POW_26 + (this.nextUint32() >>> 6)) / TWO_POW_53
  }

  /** Uniform integer in [0, n), n <= 2^53. */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** Uniform integer in [0, 2^53): "YCSB-like" keys that still fit a double exactly. */
  uint53(): number {
    return (this.nextUint32() >>> 11) * 4294967296 + this.nextUint32()
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = this.float()
    while (u === 0) u = this.float()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float())
  }

  /** Fisher-Yates, in place. */
  shuffle<T extends { length: number; [i: number]: number }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = array[i] as number
      array[i] = array[j] as number
      array[j] = tmp
    }
    return array
  }
}

// ---------------------------------------------------------------------------------------------
// Key sets for the large tests
// ---------------------------------------------------------------------------------------------

/**
 * A set of `count` distinct keys, drawn by `draw` until enough distinct values exist.
 * `order` is the draw order (first occurrence of each key); `sorted` is the same keys ascending.
 */
export interface KeySet {
  order: Float64Array
  sorted: Float64Array
}

export function distinctKeys(count: number, draw: () => number): KeySet {
  const seen = new Set<number>()
  const order = new Float64Array(count)
  let n = 0
  let attempts = 0
  while (n < count) {
    const key = normalizeKey(draw())
    if (++attempts > count * 20) throw new Error(`distribution too narrow for ${count} distinct keys`)
    if (!Number.isFinite(key) || seen.has(key)) continue
    seen.add(key)
    order[n++] = key
  }
  return { order, sorted: Float64Array.from(order).sort() }
}

/** Keys already distinct in `order`; checks that, and sorts a copy. */
export function keySetOf(order: Float64Array): KeySet {
  const sorted = Float64Array.from(order).sort()
  for (let i = 1; i < sorted.length; i++) {
    if (!((sorted[i - 1] as number) < (sorted[i] as number))) {
      throw new Error(`generator bug: key ${sorted[i]} repeats`)
    }
  }
  return { order, sorted }
}

/** `count` consecutive doubles starting at `start` (the next representable double each time). */
export function consecutiveDoubles(start: number, count: number): Float64Array {
  const out = new Float64Array(count)
  const bits = new BigUint64Array(out.buffer)
  const scratch = new Float64Array([start])
  const first = new BigUint64Array(scratch.buffer)[0] as bigint
  for (let i = 0; i < count; i++) bits[i] = first + BigInt(i)
  return out
}

/** Index (rank) of `key` in ascending `sorted`, or -1. */
export function rankOf(sorted: Float64Array, key: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((sorted[mid] as number) < key) lo = mid + 1
    else hi = mid
  }
  return lo < sorted.length && sorted[lo] === key ? lo : -1
}

// ---------------------------------------------------------------------------------------------
// Whole-index verification against generated keys (value of a key = its rank in `sorted`)
// ---------------------------------------------------------------------------------------------

/** Inserts `keys` in the given order; the value of each key is its rank in `sorted`. */
export function insertAll(index: AlexIndex<number>, keys: Float64Array, sorted: Float64Array): void {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as number
    index.set(key, rankOf(sorted, key))
  }
}

/** values[i] = rank of keys[i] in `sorted`. */
export function ranksOf(keys: Float64Array, sorted: Float64Array): Float64Array {
  const values = new Float64Array(keys.length)
  for (let i = 0; i < keys.length; i++) values[i] = rankOf(sorted, keys[i] as number)
  return values
}

/**
 * The index holds exactly `sorted` (ascending, distinct), with value = rank. Checks size, get and has
 * of every key, forward and reverse iteration, and lowerBound of a sample of points between keys.
 */
export function expectHoldsExactly(index: AlexIndex<number>, sorted: Float64Array, rng = new Rng(7)): void {
  const n = sorted.length
  expect(index.size).toBe(n)

  let badGet = -1
  for (let i = 0; i < n; i++) {
    const key = sorted[i] as number
    if (index.get(key) !== i || !index.has(key)) {
      badGet = i
      break
    }
  }
  expect(badGet === -1 ? 'all keys found' : describeMiss(index, sorted, badGet)).toBe('all keys found')

  expect(firstIterationMismatch(index.entries(), sorted, false)).toBe('none')
  expect(firstIterationMismatch(index.entries({ reverse: true }), sorted, true)).toBe('none')

  // Points strictly between neighbours (where such a double exists) are absent, and their
  // lower bound is the right neighbour.
  const samples = Math.min(n, 20_000)
  let badBetween = ''
  for (let s = 0; s < samples && n > 1; s++) {
    const i = rng.int(n - 1)
    const a = sorted[i] as number
    const b = sorted[i + 1] as number
    const mid = a / 2 + b / 2
    if (!(a < mid && mid < b)) continue
    if (index.has(mid) || index.get(mid) !== undefined) badBetween = `absent key ${mid} reported present`
    else if (index.lowerBound(mid) !== b) badBetween = `lowerBound(${mid}) = ${index.lowerBound(mid)}, expected ${b}`
    if (badBetween !== '') break
  }
  expect(badBetween).toBe('')
  if (n > 0) {
    const first = sorted[0] as number
    const last = sorted[n - 1] as number
    expect(index.lowerBound(first)).toBe(first)
    expect(index.lowerBound(last)).toBe(last)
    expect(index.lowerBound(-Number.MAX_VALUE)).toBe(first)
    if (last < Number.MAX_VALUE) expect(index.lowerBound(Number.MAX_VALUE)).toBeUndefined()
  }
}

function describeMiss(index: AlexIndex<number>, sorted: Float64Array, i: number): string {
  const key = sorted[i] as number
  return `key #${i} (${key}): get -> ${String(index.get(key))}, has -> ${index.has(key)}, expected ${i}`
}

/** 'none', or a description of the first position where iteration differs from `sorted`. */
export function firstIterationMismatch(
  entries: Iterable<[number, number]>,
  sorted: Float64Array,
  reverse: boolean,
): string {
  const n = sorted.length
  let pos = 0
  let prev: number | undefined
  for (const [key, value] of entries) {
    if (pos >= n) return `extra entry [${key}, ${value}] after ${n} entries`
    const rank = reverse ? n - 1 - pos : pos
    const expected = sorted[rank] as number
    if (!Object.is(key, expected) || value !== rank) {
      return `position ${pos}: got [${key}, ${value}], expected [${expected}, ${rank}] (previous key ${prev})`
    }
    prev = key
    pos++
  }
  return pos === n ? 'none' : `iteration stopped after ${pos} of ${n} entries (last key ${prev})`
}

/** Strictly increasing (or decreasing with reverse) keys: 'ok' or where it breaks. */
export function orderViolation(keys: Iterable<number>, reverse: boolean): string {
  let prev: number | undefined
  let pos = 0
  for (const key of keys) {
    if (prev !== undefined && !(reverse ? key < prev : key > prev)) {
      return `position ${pos}: ${key} after ${prev}`
    }
    prev = key
    pos++
  }
  return 'ok'
}

/** Keys a data node holds when bulk-loaded at density 0.7 and then half emptied: a generous floor. */
const KEYS_PER_DATA_NODE_FRACTION = 0.35

/**
 * Model-node levels that `n` keys need at the least: ceil(log_fanout(data nodes)). A model node's linear
 * model, clamped at its ends, can split its keys at any quantiles, so even skewed keys need only about
 * this many levels; 0 when the keys fit one data node.
 */
export function idealLevels(n: number, maxDataNodeSlots = 65536, maxFanout = 65536): number {
  const dataNodes = n / (maxDataNodeSlots * KEYS_PER_DATA_NODE_FRACTION)
  return dataNodes <= 1 ? 0 : Math.ceil(Math.log(dataNodes) / Math.log(maxFanout))
}

/**
 * Depth bound for a tree built or grown by inserts: twice the ideal (at least one level) plus four,
 * i.e. at least 6. Still logarithmic, so a degenerate tree whose depth grows with the key domain, or
 * linearly with n, fails it. (The implementation rebuilds a subtree past a limit of the same form.)
 */
export function logDepthBound(n: number, maxDataNodeSlots = 65536, maxFanout = 65536): number {
  return 2 * Math.max(1, idealLevels(n, maxDataNodeSlots, maxFanout)) + 4
}

/** Depth bound right after a bulk load: the ideal plus two (room for skew and a few outliers). */
export function bulkDepthBound(n: number, maxDataNodeSlots = 65536, maxFanout = 65536): number {
  return idealLevels(n, maxDataNodeSlots, maxFanout) + 2
}

/**
 * Depth bound for keys that no line fits at any scale (log-uniform over tens of orders of magnitude,
 * the extreme tail of a lognormal): each model level can only be relied on to halve such keys, so
 * the bound is log2 of the number of data nodes, plus four; `inserted` doubles the log2 term, as
 * logDepthBound does. Still logarithmic: a chain whose length grows with n or with the key domain
 * (the 855-deep tree) fails it.
 */
export function nonlinearDepthBound(n: number, maxDataNodeSlots = 65536, inserted = false): number {
  const dataNodes = n / (maxDataNodeSlots * KEYS_PER_DATA_NODE_FRACTION)
  const halvings = dataNodes <= 1 ? 1 : Math.ceil(Math.log2(dataNodes))
  return (inserted ? 2 : 1) * halvings + 4
}

// ---------------------------------------------------------------------------------------------
// Reference model: a sorted array of keys plus a Map. Deliberately naive.
// ---------------------------------------------------------------------------------------------

export class RefIndex<V> {
  /** Ascending, distinct, no -0. */
  readonly sorted: number[] = []
  private readonly map = new Map<number, V>()

  get size(): number {
    return this.sorted.length
  }

  get min(): number | undefined {
    return this.sorted[0]
  }

  get max(): number | undefined {
    return this.sorted[this.sorted.length - 1]
  }

  get(key: number): V | undefined {
    return this.map.get(normalizeKey(key))
  }

  has(key: number): boolean {
    return this.map.has(normalizeKey(key))
  }

  set(key: number, value: V): void {
    const k = normalizeKey(key)
    if (!this.map.has(k)) this.sorted.splice(this.firstIndexAtLeast(k), 0, k)
    this.map.set(k, value)
  }

  delete(key: number): boolean {
    const k = normalizeKey(key)
    if (!this.map.has(k)) return false
    this.sorted.splice(this.firstIndexAtLeast(k), 1)
    this.map.delete(k)
    return true
  }

  clear(): void {
    this.sorted.length = 0
    this.map.clear()
  }

  lowerBound(key: number): number | undefined {
    return this.sorted[this.firstIndexAtLeast(key)]
  }

  /** Entries inside the range, filtered one by one (no index arithmetic to get wrong). */
  entries(range: AlexRange = {}): [number, V][] {
    const { gte, gt, lte, lt } = range
    const keys = this.sorted.filter(
      (k) =>
        (gte === undefined || k >= gte) &&
        (gt === undefined || k > gt) &&
        (lte === undefined || k <= lte) &&
        (lt === undefined || k < lt),
    )
    if (range.reverse === true) keys.reverse()
    return keys.map((k) => [k, this.map.get(k) as V])
  }

  private firstIndexAtLeast(key: number): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.sorted[mid] as number) < key) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/**
 * 'same', or where two entry lists first differ (keys compared with Object.is, so -0 is not 0).
 * Used instead of a deep-equality diff, which truncates long lists.
 */
export function entriesDiff<T>(actual: readonly T[], expected: readonly T[]): string {
  const show = (entry: T | undefined): string =>
    entry === undefined ? 'nothing' : Array.isArray(entry) ? `[${entry.map(showValue).join(', ')}]` : showValue(entry)
  const n = Math.max(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    const a = actual[i]
    const e = expected[i]
    const same = Array.isArray(a) && Array.isArray(e) ? a.length === e.length && a.every((x, j) => Object.is(x, e[j])) : Object.is(a, e)
    if (!same) {
      return `first difference at position ${i} of ${actual.length} (expected ${expected.length}): got ${show(a)}, expected ${show(e)}; previous ${show(expected[i - 1])}`
    }
  }
  return 'same'
}

function showValue(value: unknown): string {
  return Object.is(value, -0) ? '-0' : String(value)
}
