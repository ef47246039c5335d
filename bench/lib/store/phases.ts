/**
 * The timed loops of the store benchmark and the untimed checks around them. Each timed loop is a
 * function over typed arrays, with the check of what it read inside the loop (cheap: a 16-byte
 * checksum per get, a key and an index comparison per scanned entry), so a fast wrong answer counts
 * as a mismatch and the run exits 1.
 */
import type { GetPlan, PutPlan, StoreKeySet } from './plans.js'
import type { BenchStore } from './store-api.js'
import { expectedChecksum, valueChecksum, valueIndex } from './values.js'

export interface TimedGets {
  seconds: number
  mismatches: number
  firstMismatch?: string
}

/** Timed: get() of the first count plan keys; every value's checksum is compared with the plan's. */
export function timeGets(db: BenchStore, plan: GetPlan, count: number): TimedGets {
  const { keys, checksums } = plan
  let mismatches = 0
  let firstMismatchIndex = -1
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const value = db.get(keys[i]!)
    if (value === undefined || valueChecksum(value) !== checksums[i]) {
      if (mismatches++ === 0) firstMismatchIndex = i
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return mismatches === 0 ? { seconds, mismatches } : { seconds, mismatches, firstMismatch: describeGet(db, plan, firstMismatchIndex) }
}

/** Per-get latency in microseconds (a separate pass: the clock read costs about as much as a cached get). */
export function timeGetLatencies(db: BenchStore, plan: GetPlan, count: number): { latenciesUs: Float64Array; mismatches: number } {
  const { keys, checksums } = plan
  const latenciesUs = new Float64Array(count)
  let mismatches = 0
  for (let i = 0; i < count; i++) {
    const start = performance.now()
    const value = db.get(keys[i]!)
    latenciesUs[i] = (performance.now() - start) * 1000
    if (value === undefined || valueChecksum(value) !== checksums[i]) mismatches++
  }
  return { latenciesUs, mismatches }
}

function describeGet(db: BenchStore, plan: GetPlan, index: number): string {
  const key = plan.keys[index]!
  const value = db.get(key)
  const shown = value === undefined ? 'undefined' : `${value.length} bytes, checksum ${valueChecksum(value)}`
  return `get(${key}) returned ${shown}; expected checksum ${plan.checksums[index]}`
}

export interface TimedScans {
  seconds: number
  keys: number
  mismatches: number
  latenciesUs: Float64Array
  firstMismatch?: string
}

/**
 * Timed: count scans of range({ gte: start key, limit }). Each entry is checked against the sorted
 * key set: the key must be the next loaded key and the value's first word that key's index; each
 * scan must return exactly `limit` entries.
 */
export function timeScans(db: BenchStore, keySet: StoreKeySet, startIndexes: Uint32Array, count: number, limit: number): TimedScans {
  const { loadedKeys, loadedToAll } = keySet
  const latenciesUs = new Float64Array(count)
  let keys = 0
  let mismatches = 0
  let firstMismatch: string | undefined
  const start = process.hrtime.bigint()
  for (let s = 0; s < count; s++) {
    const scanStart = performance.now()
    const first = startIndexes[s]!
    let next = first
    for (const [key, value] of db.range({ gte: loadedKeys[first]!, limit })) {
      if (key !== loadedKeys[next] || valueIndex(value) !== loadedToAll[next]) {
        mismatches++
        firstMismatch ??= `scan from ${loadedKeys[first]}: entry ${next - first} is key ${key} with the value of key index ${valueIndex(value)}; expected key ${loadedKeys[next]} with key index ${loadedToAll[next]}`
      }
      next++
    }
    if (next - first !== limit) {
      mismatches++
      firstMismatch ??= `scan from ${loadedKeys[first]}: ${next - first} entries, expected ${limit}`
    }
    keys += next - first
    latenciesUs[s] = (performance.now() - scanStart) * 1000
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return firstMismatch === undefined ? { seconds, keys, mismatches, latenciesUs } : { seconds, keys, mismatches, latenciesUs, firstMismatch }
}

export interface TimedPuts {
  seconds: number
  latenciesUs: Float64Array
}

/** Timed: await put() of each plan entry, one at a time (each acknowledged before the next starts). */
export async function timePuts(db: BenchStore, plan: PutPlan): Promise<TimedPuts> {
  const { keys, values } = plan
  const count = keys.length
  const latenciesUs = new Float64Array(count)
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const opStart = performance.now()
    await db.put(keys[i]!, values[i]!)
    latenciesUs[i] = (performance.now() - opStart) * 1000
  }
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, latenciesUs }
}

export interface Verification {
  checked: number
  mismatches: number
  firstMismatch?: string
}

/**
 * Untimed: one full ascending range() must return exactly the keys marked present, in order, each
 * with the value of its version (every byte checksummed).
 */
export function verifyContents(db: BenchStore, keySet: StoreKeySet, present: Uint8Array, versions: Uint8Array): Verification {
  const { allKeys, valueSeed } = keySet
  let expectedIndex = nextPresent(present, 0)
  let checked = 0
  let mismatches = 0
  let firstMismatch: string | undefined
  for (const [key, value] of db.range({})) {
    checked++
    if (expectedIndex >= allKeys.length) {
      mismatches++
      firstMismatch ??= `full scan: unexpected extra key ${key} after the last expected key`
      continue
    }
    if (key !== allKeys[expectedIndex]) {
      mismatches++
      firstMismatch ??= `full scan: entry ${checked - 1} is key ${key}, expected ${allKeys[expectedIndex]}`
    } else if (valueChecksum(value) !== expectedChecksum(expectedIndex, versions[expectedIndex]!, valueSeed)) {
      mismatches++
      firstMismatch ??= `full scan: key ${key} has a wrong value (${value.length} bytes, index word ${valueIndex(value)}, expected index ${expectedIndex} version ${versions[expectedIndex]})`
    }
    expectedIndex = nextPresent(present, expectedIndex + 1)
  }
  let expectedCount = 0
  for (let i = 0; i < present.length; i++) expectedCount += present[i]!
  if (checked !== expectedCount) {
    mismatches++
    firstMismatch ??= `full scan returned ${checked} entries, expected ${expectedCount}`
  }
  return firstMismatch === undefined ? { checked, mismatches } : { checked, mismatches, firstMismatch }
}

function nextPresent(present: Uint8Array, from: number): number {
  let index = from
  while (index < present.length && present[index] === 0) index++
  return index
}

/** Untimed: every held-out key must be absent (get undefined, has false). */
export function verifyAbsent(db: BenchStore, keySet: StoreKeySet): Verification {
  let mismatches = 0
  let firstMismatch: string | undefined
  for (const index of keySet.newKeyIndexes) {
    const key = keySet.allKeys[index]!
    if (db.get(key) !== undefined || db.has(key)) {
      mismatches++
      firstMismatch ??= `key ${key} was never written but get/has found it`
    }
  }
  const checked = keySet.newKeyIndexes.length
  return firstMismatch === undefined ? { checked, mismatches } : { checked, mismatches, firstMismatch }
}

/** Untimed: get() of every key the put phase wrote must return the new value. */
export function verifyPuts(db: BenchStore, keySet: StoreKeySet, plan: PutPlan, version: number): Verification {
  let mismatches = 0
  let firstMismatch: string | undefined
  for (let i = 0; i < plan.keys.length; i++) {
    const value = db.get(plan.keys[i]!)
    if (value === undefined || valueChecksum(value) !== expectedChecksum(plan.indexes[i]!, version, keySet.valueSeed)) {
      mismatches++
      firstMismatch ??= `after puts: get(${plan.keys[i]}) returned ${value === undefined ? 'undefined' : `a wrong value (index word ${valueIndex(value)})`}`
    }
  }
  return firstMismatch === undefined ? { checked: plan.keys.length, mismatches } : { checked: plan.keys.length, mismatches, firstMismatch }
}
