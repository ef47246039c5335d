/**
 * Read-only baseline: a sorted Float64Array of keys and a parallel Float64Array of values, searched by
 * binary search. Bulk load copies both arrays (that is what building it costs). Inserts would be O(n)
 * each, so the insert workloads report n/a instead of timing them.
 */
import type { IndexSystem } from './system.js'

export class SortedArraySystem implements IndexSystem {
  readonly name = 'array' as const
  readonly supportsInserts = false
  private inputKeys: Float64Array | undefined
  private inputValues: Float64Array | undefined
  private keys: Float64Array = new Float64Array(0)
  private values: Float64Array = new Float64Array(0)

  prepareBulkLoad(sortedKeys: Float64Array, values: Float64Array): void {
    this.release()
    this.inputKeys = sortedKeys
    this.inputValues = values
  }

  bulkLoad(): number {
    if (this.inputKeys === undefined || this.inputValues === undefined) throw new Error('array: bulkLoad before prepare')
    this.keys = this.inputKeys.slice()
    this.values = this.inputValues.slice()
    return this.keys.length
  }

  startEmpty(): void {
    throw new Error('array: inserts are not supported')
  }

  lookups(queryKeys: Float64Array, queryCount: number): number {
    const keys = this.keys
    const values = this.values
    const keyCount = keys.length
    let sum = 0
    for (let i = 0; i < queryCount; i++) {
      const key = queryKeys[i]!
      const index = lowerBound(keys, keyCount, key)
      if (index < keyCount && keys[index] === key) sum += values[index]!
    }
    return sum
  }

  rangeScans(startKeys: Float64Array, scanCount: number, scanLength: number): number {
    const keys = this.keys
    const values = this.values
    const keyCount = keys.length
    let sum = 0
    for (let s = 0; s < scanCount; s++) {
      const first = lowerBound(keys, keyCount, startKeys[s]!)
      const end = Math.min(keyCount, first + scanLength)
      for (let i = first; i < end; i++) sum += keys[i]! + values[i]!
    }
    return sum
  }

  inserts(): number {
    throw new Error('array: inserts are not supported')
  }

  insertThenLookup(): number {
    throw new Error('array: inserts are not supported')
  }

  size(): number {
    return this.keys.length
  }

  indexBytes(): undefined {
    return undefined
  }

  describe(): Record<string, number> {
    return { keyCount: this.keys.length, bytes: this.keys.byteLength + this.values.byteLength }
  }

  release(): void {
    this.inputKeys = undefined
    this.inputValues = undefined
    this.keys = new Float64Array(0)
    this.values = new Float64Array(0)
  }
}

/** Index of the first key >= target in keys[0, keyCount). */
export function lowerBound(keys: Float64Array, keyCount: number, target: number): number {
  let low = 0
  let high = keyCount
  while (low < high) {
    const mid = (low + high) >>> 1
    if (keys[mid]! < target) low = mid + 1
    else high = mid
  }
  return low
}
