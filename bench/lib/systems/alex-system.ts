/** AlexIndex<number> from the public package, at its default options. */
import { AlexIndex } from 'learned-storage'
import type { IndexSystem } from './system.js'

export class AlexSystem implements IndexSystem {
  readonly name = 'alex' as const
  readonly supportsInserts = true
  private index: AlexIndex<number> | undefined
  private sortedKeys: Float64Array | undefined
  private values: Float64Array | undefined

  prepareBulkLoad(sortedKeys: Float64Array, values: Float64Array): void {
    this.index = undefined
    this.sortedKeys = sortedKeys
    this.values = values
  }

  bulkLoad(): number {
    if (this.sortedKeys === undefined || this.values === undefined) throw new Error('alex: bulkLoad before prepare')
    this.index = AlexIndex.bulkLoad<number>(this.sortedKeys, this.values)
    return this.index.size
  }

  startEmpty(): void {
    this.index = new AlexIndex<number>()
  }

  lookups(queryKeys: Float64Array, queryCount: number): number {
    const index = this.built()
    let sum = 0
    for (let i = 0; i < queryCount; i++) {
      const value = index.get(queryKeys[i]!)
      if (value !== undefined) sum += value
    }
    return sum
  }

  rangeScans(startKeys: Float64Array, scanCount: number, scanLength: number): number {
    const index = this.built()
    let sum = 0
    for (let s = 0; s < scanCount; s++) {
      let visited = 0
      for (const [key, value] of index.entries({ gte: startKeys[s]! })) {
        sum += key + value
        if (++visited === scanLength) break
      }
    }
    return sum
  }

  inserts(keys: Float64Array, values: Float64Array, opCount: number): number {
    const index = this.built()
    for (let i = 0; i < opCount; i++) index.set(keys[i]!, values[i]!)
    return index.size
  }

  insertThenLookup(keys: Float64Array, values: Float64Array, queryKeys: Float64Array, pairCount: number): number {
    const index = this.built()
    let sum = 0
    for (let j = 0; j < pairCount; j++) {
      index.set(keys[j]!, values[j]!)
      const value = index.get(queryKeys[j]!)
      if (value !== undefined) sum += value
    }
    return sum
  }

  size(): number {
    return this.built().size
  }

  indexBytes(): number {
    return this.built().stats().indexBytes
  }

  describe(): Record<string, number> {
    const stats = this.built().stats()
    const shape: Record<string, number> = {}
    for (const [name, figure] of Object.entries(stats)) if (typeof figure === 'number') shape[name] = figure
    return shape
  }

  release(): void {
    this.index = undefined
    this.sortedKeys = undefined
    this.values = undefined
  }

  private built(): AlexIndex<number> {
    if (this.index === undefined) throw new Error('alex: no index built')
    return this.index
  }
}
