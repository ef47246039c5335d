/**
 * The original analysis's "CachedStorage": an lru-cache of decoded values (Uint8Array by numeric key)
 * in front of the tuned RocksDB of rocksdb.ts, with the same total memory budget as every other
 * system: half to the lru-cache, half to RocksDB's block cache.
 *
 * - The lru-cache is bounded by bytes: maxSize = budget / 2, each entry charged its value's length
 *   plus ENTRY_OVERHEAD_BYTES. That overhead was measured roughly (Node 20, lru-cache 11.5, 200,000
 *   entries of 16 / 100 / 1024 B values returned by the binding, heapUsed after GC): about 290 B of V8
 *   heap per entry (the Map slot, the key and value list slots, the Buffer object); 300 is used. The
 *   native bookkeeping of each Buffer's backing store is outside that and not charged.
 * - get: the cache, else RocksDB, inserting what it finds. getMany: hits from the cache, the misses in
 *   one RocksDB multi-get (slices of at most 256 keys), inserted, then every found value visited in
 *   key order. put: written through RocksDB (its put path, group commit included), then the cache is
 *   updated once RocksDB acknowledged; the cache keeps the caller's value (values are not mutated
 *   after put). scan: straight to RocksDB.
 * - cacheHitRate: lru-cache hits / lookups (get and getMany) since the last reset.
 */
import { LRUCache } from 'lru-cache'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { MULTI_GET_MAX, openRocksDb, type RocksDbSystem } from './rocksdb.js'

/** Bytes charged per cached entry beyond its value (measured roughly; see above). */
export const ENTRY_OVERHEAD_BYTES = 300

export async function openRocksDbCached(config: SystemConfig): Promise<KvSystem> {
  const cacheBytes = Math.floor(config.memoryBytes / 2)
  const rocks = await openRocksDb({ ...config, memoryBytes: config.memoryBytes - cacheBytes })
  return new CachedRocksDbSystem(rocks, cacheBytes)
}

class CachedRocksDbSystem implements KvSystem {
  readonly name = 'rocksdb+cache' as const
  readonly settings: readonly string[]
  private readonly cache: LRUCache<number, Uint8Array>
  private hits = 0
  private lookups = 0
  /** getMany's scratch: the value found for each key of the call (undefined when absent). */
  private found: (Uint8Array | undefined)[] = []
  /** getMany's scratch: the misses' keys and their positions in the call. */
  private missKeys = new Float64Array(MULTI_GET_MAX)
  private missAt = new Int32Array(MULTI_GET_MAX)

  constructor(
    private readonly rocks: RocksDbSystem,
    cacheBytes: number,
  ) {
    this.cache = new LRUCache<number, Uint8Array>({
      maxSize: Math.max(1, cacheBytes),
      sizeCalculation: (value) => value.length + ENTRY_OVERHEAD_BYTES,
    })
    this.settings = [
      `lru-cache 11 of decoded values: maxSize ${cacheBytes} B (half the budget), each entry charged its length + ${ENTRY_OVERHEAD_BYTES} B (overhead measured roughly: ~290 B of V8 heap per entry)`,
      'get: cache, else RocksDB then insert; getMany: cache hits, the misses in one multi-get, inserted; put: write through (cache updated after RocksDB acknowledges); scan: RocksDB only',
      'cache hit rate: lru-cache hits / lookups (get and getMany)',
      ...rocks.settings.filter((line) => !line.startsWith('cache hit rate')),
    ]
  }

  bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array, chunkSize: number): Promise<void> {
    // Loaded data is not cached: the cache fills from reads, as an application's would.
    return this.rocks.bulkLoad(keys, valueAt, chunkSize)
  }

  get(key: number): Uint8Array | undefined {
    this.lookups++
    const cached = this.cache.get(key)
    if (cached !== undefined) {
      this.hits++
      return cached
    }
    const value = this.rocks.get(key)
    if (value !== undefined) this.cache.set(key, value)
    return value
  }

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    const count = to - from
    if (count <= 0) return 0
    const cache = this.cache
    const found = this.found
    let misses = 0
    this.lookups += count
    for (let i = 0; i < count; i++) {
      const key = keys[from + i]!
      const cached = cache.get(key)
      found[i] = cached
      if (cached !== undefined) {
        this.hits++
      } else {
        if (misses === this.missKeys.length) this.growMisses()
        this.missKeys[misses] = key
        this.missAt[misses] = i
        misses++
      }
    }
    for (let start = 0; start < misses; start += MULTI_GET_MAX) {
      const n = Math.min(MULTI_GET_MAX, misses - start)
      const rows = this.rocks.multiGet(this.missKeys, start, n)
      for (let j = 0; j < n; j++) {
        const value = rows[j]
        if (value === null) throw new Error('rocksdb: a read was aborted')
        if (value !== undefined) {
          found[this.missAt[start + j]!] = value
          cache.set(this.missKeys[start + j]!, value)
        }
      }
    }
    let visited = 0
    for (let i = 0; i < count; i++) {
      const value = found[i]
      if (value !== undefined) {
        found[i] = undefined
        visit(keys[from + i]!, value)
        visited++
      }
    }
    return visited
  }

  private growMisses(): void {
    const keys = new Float64Array(this.missKeys.length * 2)
    keys.set(this.missKeys)
    this.missKeys = keys
    const at = new Int32Array(this.missAt.length * 2)
    at.set(this.missAt)
    this.missAt = at
  }

  scan(startKey: number, limit: number, visit: EntryVisitor): number {
    return this.rocks.scan(startKey, limit, visit)
  }

  put(key: number, value: Uint8Array): Promise<void> {
    return this.rocks.put(key, value).then(() => {
      this.cache.set(key, value)
    })
  }

  diskBytes(): number {
    return this.rocks.diskBytes()
  }

  cacheHitRate(): number | undefined {
    return this.lookups === 0 ? undefined : this.hits / this.lookups
  }

  resetCounters(): void {
    this.hits = 0
    this.lookups = 0
    this.rocks.resetCounters()
  }

  close(): Promise<void> {
    this.cache.clear()
    return this.rocks.close()
  }
}
