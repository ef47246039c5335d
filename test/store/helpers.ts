/**
 * Helpers for the Store API tests: temporary directories, a seeded PRNG, an independent reference
 * model (a Map plus a sorted key array) and comparisons that report the first mismatch compactly.
 *
 * Nothing here asks the store what it should contain: expectations come from the model or from the
 * generated inputs.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect } from 'vitest'
import { StoreError, open } from '../../src/index.js'
import type { RangeOptions } from '../../src/store/api.js'

export type Store = Awaited<ReturnType<typeof open>>

// ---------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------

/** Registers an afterEach that removes every directory made by the returned function. */
export function useTempDirs(prefix = 'learned-storage-store-'): () => string {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}

export function makeTempDir(prefix = 'learned-storage-store-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
}

/** Closes `db` if it is open, swallowing nothing but reporting nothing either (for finally blocks). */
export async function closeQuietly(db: Store | undefined): Promise<void> {
  if (db === undefined) return
  try {
    await db.close()
  } catch {
    // The test has already failed or is checking errors; the close error is not the point.
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG
// ---------------------------------------------------------------------------------------------

/** mulberry32: small, fast, reproducible uint32 stream. */
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

export class Rng {
  private readonly next: () => number

  constructor(seed: number) {
    this.next = mulberry32(seed)
  }

  uint32(): number {
    return this.next()
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.next() >>> 5) * 67108864 + (this.next() >>> 6)) / 9007199254740992
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }
}

/** `length` pseudo-random bytes determined by `seed` (so generators can stay small and shrinkable). */
export function bytesFromSeed(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  const next = mulberry32(seed)
  let i = 0
  for (; i + 4 <= length; i += 4) {
    const word = next()
    out[i] = word & 0xff
    out[i + 1] = (word >>> 8) & 0xff
    out[i + 2] = (word >>> 16) & 0xff
    out[i + 3] = word >>> 24
  }
  if (i < length) {
    const word = next()
    for (let s = 0; i < length; i++, s += 8) out[i] = (word >>> s) & 0xff
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------------------------

/** -0 is the same key as 0. */
export function normalizeKey(key: number): number {
  return key === 0 ? 0 : key
}

export type Entry = [number, Uint8Array]

/** The reference: a Map of private copies plus a lazily rebuilt ascending key array. */
export class Model {
  private readonly map = new Map<number, Uint8Array>()
  private sorted: number[] | null = []

  get size(): number {
    return this.map.size
  }

  put(key: number, value: Uint8Array): void {
    const k = normalizeKey(key)
    if (!this.map.has(k)) this.sorted = null
    this.map.set(k, Uint8Array.from(value))
  }

  del(key: number): void {
    if (this.map.delete(normalizeKey(key))) this.sorted = null
  }

  get(key: number): Uint8Array | undefined {
    return this.map.get(normalizeKey(key))
  }

  has(key: number): boolean {
    return this.map.has(normalizeKey(key))
  }

  keys(): readonly number[] {
    if (this.sorted === null) this.sorted = [...this.map.keys()].sort((a, b) => a - b)
    return this.sorted
  }

  range(options: RangeOptions = {}): Entry[] {
    const { gte, gt, lte, lt } = options
    let keys = this.keys().filter(
      (k) =>
        (gte === undefined || k >= gte) &&
        (gt === undefined || k > gt) &&
        (lte === undefined || k <= lte) &&
        (lt === undefined || k < lt),
    )
    if (options.reverse === true) keys = keys.slice().reverse()
    if (options.limit !== undefined) keys = keys.slice(0, options.limit)
    return keys.map((k) => [k, this.map.get(k) as Uint8Array])
  }

  clone(): Model {
    const copy = new Model()
    for (const [k, v] of this.map) copy.put(k, v)
    return copy
  }
}

// ---------------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------------

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0
}

export function describeBytes(value: Uint8Array | undefined): string {
  if (value === undefined) return 'undefined'
  const head = Buffer.from(value.buffer, value.byteOffset, Math.min(value.byteLength, 12)).toString('hex')
  return `${value.byteLength} bytes [${head}${value.byteLength > 12 ? '…' : ''}]`
}

export function describeKey(key: number): string {
  return Object.is(key, -0) ? '-0' : String(key)
}

/** '' when `actual` equals `expected` (keys by ===, values byte for byte), else the first difference. */
export function entriesDiff(actual: readonly Entry[], expected: readonly Entry[]): string {
  const n = Math.min(actual.length, expected.length)
  for (let i = 0; i < n; i++) {
    const [ak, av] = actual[i] as Entry
    const [ek, ev] = expected[i] as Entry
    if (ak !== ek) return `entry ${i}: key ${describeKey(ak)}, expected ${describeKey(ek)}`
    if (!(av instanceof Uint8Array)) return `entry ${i} (key ${describeKey(ak)}): value is not a Uint8Array`
    if (!bytesEqual(av, ev)) return `entry ${i} (key ${describeKey(ak)}): value ${describeBytes(av)}, expected ${describeBytes(ev)}`
  }
  if (actual.length !== expected.length) {
    const extra = actual.length > expected.length ? `extra key ${describeKey((actual[n] as Entry)[0])}` : `missing key ${describeKey((expected[n] as Entry)[0])}`
    return `${actual.length} entries, expected ${expected.length} (${extra})`
  }
  return ''
}

/** '' when the value read for `key` equals the model's, else a description. */
export function valueDiff(key: number, actual: Uint8Array | undefined, expected: Uint8Array | undefined): string {
  if (expected === undefined) return actual === undefined ? '' : `get(${describeKey(key)}) = ${describeBytes(actual)}, expected undefined`
  if (actual === undefined) return `get(${describeKey(key)}) = undefined, expected ${describeBytes(expected)}`
  if (!(actual instanceof Uint8Array)) return `get(${describeKey(key)}) is not a Uint8Array`
  return bytesEqual(actual, expected) ? '' : `get(${describeKey(key)}) = ${describeBytes(actual)}, expected ${describeBytes(expected)}`
}

/** Collects a range synchronously (copying nothing: the store already returns copies). */
export function collect(iterable: Iterable<Entry>): Entry[] {
  const out: Entry[] = []
  for (const entry of iterable) out.push(entry)
  return out
}

export async function collectAsync(iterable: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = []
  for await (const entry of iterable) out.push(entry)
  return out
}

/**
 * Checks the whole store against the model: get and has of every model key, one full range scan
 * forward, and stats().records. Reports the first mismatch.
 */
export function expectStoreEquals(db: Store, model: Model, context = ''): void {
  const where = context === '' ? '' : ` (${context})`
  let bad = ''
  for (const key of model.keys()) {
    bad = valueDiff(key, db.get(key), model.get(key))
    if (bad === '' && !db.has(key)) bad = `has(${describeKey(key)}) = false, expected true`
    if (bad !== '') break
  }
  expect(bad, `get/has${where}`).toBe('')
  expect(entriesDiff(collect(db.range()), model.range()), `full range${where}`).toBe('')
  expect(db.stats().records, `stats().records${where}`).toBe(model.size)
}

// ---------------------------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------------------------

export function codeOfError(error: unknown): string {
  if (error instanceof StoreError) return error.code
  return `not a StoreError: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
}

/** The code a synchronous call throws, or 'returned'. */
export function syncCode(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    return codeOfError(error)
  }
  return 'returned'
}

/**
 * The code a range call fails with, whether the error comes from the call itself or from the
 * first step of the iteration; 'returned' when it succeeds.
 */
export function rangeCode(fn: () => Iterable<unknown>): string {
  try {
    for (const _ of fn()) void _
  } catch (error) {
    return codeOfError(error)
  }
  return 'returned'
}

/**
 * The code an async method rejects with; 'resolved' when it succeeds. A synchronous throw is itself
 * a contract violation (async methods report errors by rejecting) and is reported as such.
 */
export async function asyncCode(fn: () => Promise<unknown>): Promise<string> {
  let promise: Promise<unknown>
  try {
    promise = fn()
  } catch (error) {
    return `threw synchronously instead of rejecting: ${codeOfError(error)}`
  }
  if (!(promise instanceof Promise) && typeof (promise as { then?: unknown } | undefined)?.then !== 'function') {
    return 'did not return a promise'
  }
  try {
    await promise
  } catch (error) {
    return codeOfError(error)
  }
  return 'resolved'
}

/** The error open() rejects with (code and message), or 'opened' after closing the store. */
export async function openOutcome(dir: string, options?: Parameters<typeof open>[1]): Promise<{ code: string; message: string }> {
  let db: Store
  try {
    db = await (options === undefined ? open(dir) : open(dir, options))
  } catch (error) {
    return { code: codeOfError(error), message: error instanceof Error ? error.message : String(error) }
  }
  await db.close()
  return { code: 'opened', message: '' }
}
