// STUB: being replaced by the real implementation (in progress).
import type { AlexOptions, AlexRange, AlexStats } from './api.js'

export class AlexIndex<V> implements Iterable<[number, V]> {
  constructor(_options: AlexOptions = {}) {}
  static bulkLoad<V>(_keys: ArrayLike<number>, _values: ArrayLike<V>, _options: AlexOptions = {}): AlexIndex<V> {
    throw new Error('not implemented')
  }
  get size(): number { return 0 }
  get(_key: number): V | undefined { throw new Error('not implemented') }
  has(_key: number): boolean { throw new Error('not implemented') }
  set(_key: number, _value: V): this { throw new Error('not implemented') }
  delete(_key: number): boolean { throw new Error('not implemented') }
  clear(): void {}
  lowerBound(_key: number): number | undefined { throw new Error('not implemented') }
  entries(_range: AlexRange = {}): IterableIterator<[number, V]> { throw new Error('not implemented') }
  keys(_range: AlexRange = {}): IterableIterator<number> { throw new Error('not implemented') }
  values(_range: AlexRange = {}): IterableIterator<V> { throw new Error('not implemented') }
  [Symbol.iterator](): IterableIterator<[number, V]> { return this.entries() }
  forEach(_fn: (value: V, key: number, index: this) => void): void {}
  stats(): AlexStats { throw new Error('not implemented') }
  check(): void {}
}
