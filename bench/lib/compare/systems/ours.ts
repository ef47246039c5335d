/**
 * learned-storage as a `KvSystem`: the store opened with the run's memory budget as its buffer pool
 * and the run's durability; everything else at its defaults (64 KiB pages, a checkpoint every 128 MiB
 * of log or 5 minutes).
 *
 * - get / getMany / scan: the store's synchronous reads (`get` returns a fresh copy; `getMany` is a
 *   loop of them: the store has no batched read); `scan` iterates `range({ gte, limit })`.
 * - put: `db.put`, whose promise resolves at the configured durability (the store's own group commit
 *   shares one log write and sync among the puts in flight).
 * - bulkLoad: the store's `bulkLoad` (the keys come ascending into an empty store): values go
 *   straight to value pages, ALEX's bulk load builds the index, nothing is logged, and it resolves
 *   once a synced checkpoint holds everything (at every durability level). The entries are yielded
 *   as one reused [key, value] array (the store reads each entry once).
 * - cacheHitRate: buffer-pool page hits / (hits + misses + records read alone) since the last reset,
 *   from `stats()` (a record read alone is a miss the pool did not admit).
 */
import { open, type Store } from 'learned-storage'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { directoryBytes } from './disk.js'

export async function openOurs(config: SystemConfig): Promise<KvSystem> {
  const db = await open(config.directory, { cacheBytes: config.memoryBytes, durability: config.durability })
  return new OurSystem(db, config)
}

class OurSystem implements KvSystem {
  readonly name = 'learned-storage' as const
  readonly settings: readonly string[]
  private hitsAtReset = 0
  private missesAtReset = 0

  constructor(
    private readonly db: Store,
    private readonly config: SystemConfig,
  ) {
    const stats = db.stats()
    this.settings = [
      `open(dir, { cacheBytes: ${config.memoryBytes}, durability: '${config.durability}' }); other options default`,
      `buffer pool ${stats.bufferPool.frames} frames of ${stats.pageSizeBytes} B pages (page size default)`,
      'put: db.put (the store group-commits the puts in flight: one log write and, at fsync, one fdatasync)',
      'get: db.get (returns a copy); getMany: a loop of get (no batched read); scan: range({ gte, limit })',
      'bulk load: db.bulkLoad(entries) (ascending keys into the empty store; values straight to pages, index by ALEX bulk load, no log; resolves when a synced checkpoint holds it all)',
      'cache hit rate: buffer-pool page hits / (hits + misses)',
      'disk: logical size of every file under the directory (page file and log segments)',
    ]
    this.resetCounters()
  }

  async bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array): Promise<void> {
    const entry: [number, Uint8Array] = [0, new Uint8Array(0)]
    function* entries(): Generator<[number, Uint8Array]> {
      for (let i = 0; i < keys.length; i++) {
        entry[0] = keys[i]!
        entry[1] = valueAt(i)
        yield entry
      }
    }
    await this.db.bulkLoad(entries())
  }

  get(key: number): Uint8Array | undefined {
    return this.db.get(key)
  }

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    const db = this.db
    let found = 0
    for (let i = from; i < to; i++) {
      const key = keys[i]!
      const value = db.get(key)
      if (value !== undefined) {
        visit(key, value)
        found++
      }
    }
    return found
  }

  scan(startKey: number, limit: number, visit: EntryVisitor): number {
    let count = 0
    for (const [key, value] of this.db.range({ gte: startKey, limit })) {
      visit(key, value)
      count++
    }
    return count
  }

  put(key: number, value: Uint8Array): Promise<void> {
    return this.db.put(key, value)
  }

  diskBytes(): number {
    return directoryBytes(this.config.directory, 'size')
  }

  cacheHitRate(): number | undefined {
    const { hits, misses: pageMisses, rangeReads } = this.db.stats().bufferPool
    const misses = pageMisses + rangeReads
    const h = hits - this.hitsAtReset
    const lookups = h + misses - this.missesAtReset
    return lookups === 0 ? undefined : h / lookups
  }

  resetCounters(): void {
    const { hits, misses, rangeReads } = this.db.stats().bufferPool
    this.hitsAtReset = hits
    this.missesAtReset = misses + rangeReads
  }

  close(): Promise<void> {
    return this.db.close()
  }
}
