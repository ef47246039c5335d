/**
 * learned-storage as a `KvSystem`: the store opened with the run's memory budget as its buffer pool
 * and the run's durability; everything else at its defaults (64 KiB pages, a checkpoint every 128 MiB
 * of log or 5 minutes).
 *
 * - get: `getInto` into one reused buffer, returned as an exact-length view of it (cached per size,
 *   so no allocation per read), as the LMDB adapter does with getBinaryFast. getMany: the store's
 *   batched read, `getManyInto` (values back to back into one reused buffer, 256 keys a call), each
 *   value copied to the start of get's buffer and visited as the same kind of view (RocksDB's getMany
 *   is its MultiGet). scan: `range({ gte, limit })` (fresh copies).
 * - put: `db.put`, whose promise resolves at the configured durability (the store's own group commit
 *   shares one log write and sync among the puts in flight).
 * - bulkLoad: the store's columnar `bulkLoad(keys, valueOf)` (the comparison's keys come ascending;
 *   others are sorted first, the last of equal keys kept, as puts in that order would leave them):
 *   values go straight to value pages, ALEX's bulk load builds the index, nothing is logged, and it
 *   resolves once a synced checkpoint holds everything (at every durability level). Each value is
 *   made by the comparison's `valueAt` when the store asks for it, as RocksDB's adapter does.
 * - memory: the budget is split: 3/4 buffer pool (`cacheBytes`), 1/4 record cache (`recordCacheBytes`,
 *   small values a full pool missed, kept by themselves; allocated only once the pool is full, so with
 *   the large budget it never is).
 * - cacheHitRate: (record-cache hits + pool page hits) / reads since the last reset, from `stats()`
 *   (a record read alone is a miss).
 */
import { open, type Store } from 'learned-storage'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { directoryBytes } from './disk.js'
import { SizedViews } from './reads.js'

/** getMany copies values up to this size into get's buffer rather than making a view of each. */
const SMALL_VALUE_BYTES = 64
/** Keys per getManyInto call in getMany. */
const MANY_KEYS = 256
/** getMany's target grows up to this (256 values of 64 KiB) when values do not fit. */
const MANY_TARGET_MAX_BYTES = 16 << 20
/** Share of the memory budget given to the record cache (the rest is the buffer pool). */
const RECORD_CACHE_SHARE = 0.25

export async function openOurs(config: SystemConfig): Promise<KvSystem> {
  const recordCacheBytes = Math.floor(config.memoryBytes * RECORD_CACHE_SHARE)
  const db = await open(config.directory, {
    cacheBytes: config.memoryBytes - recordCacheBytes,
    recordCacheBytes,
    durability: config.durability,
    ...(config.pageSizeBytes === undefined ? {} : { pageSizeBytes: config.pageSizeBytes }),
  })
  return new OurSystem(db, config, recordCacheBytes)
}

class OurSystem implements KvSystem {
  readonly name = 'learned-storage' as const
  readonly settings: readonly string[]
  private hitsAtReset = 0
  private lookupsAtReset = 0
  /** get's reused buffer, and exact-length views of it by size. */
  private scratch = new Uint8Array(64 * 1024)
  private readonly views = new SizedViews()

  constructor(
    private readonly db: Store,
    private readonly config: SystemConfig,
    recordCacheBytes: number,
  ) {
    const stats = db.stats()
    this.settings = [
      `open(dir, { cacheBytes: ${config.memoryBytes - recordCacheBytes}, recordCacheBytes: ${recordCacheBytes}, durability: '${config.durability}'${config.pageSizeBytes === undefined ? '' : `, pageSizeBytes: ${config.pageSizeBytes}`} }); other options default`,
      `the budget split ${1 - RECORD_CACHE_SHARE} / ${RECORD_CACHE_SHARE}: buffer pool ${stats.bufferPool.frames} frames of ${stats.pageSizeBytes} B pages (page size ${config.pageSizeBytes === undefined ? 'default' : 'set by --page-size'}); record cache (values <= 48 B that a full pool missed, by key, looked up before the index; allocated only once the pool is full)`,
      'put: db.put (the store group-commits the puts in flight: one log write and, at fsync, one fdatasync)',
      'get: db.getInto(key, reused buffer), returned as an exact-length view; getMany: db.getManyInto (batched lookups, 256 keys a call, values into one reused buffer); scan: range({ gte, limit })',
      'bulk load: db.bulkLoad(keys, valueAt) (the columnar form: ascending keys into the empty store; values straight to pages, index by ALEX bulk load, no log; resolves when a synced checkpoint holds it all)',
      'cache hit rate: (record-cache hits + buffer-pool page hits) / reads',
      'disk: logical size of every file under the directory (page file and log segments)',
    ]
    this.resetCounters()
  }

  async bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array): Promise<void> {
    // The store's columnar load: the keys as they are, each value made when the store asks for it.
    const order = ascendingOrder(keys)
    if (order === null) {
      await this.db.bulkLoad(keys, valueAt)
      return
    }
    const sorted = new Float64Array(order.length)
    for (let j = 0; j < order.length; j++) sorted[j] = keys[order[j]!]!
    await this.db.bulkLoad(sorted, (j) => valueAt(order[j]!))
  }

  get(key: number): Uint8Array | undefined {
    let n = this.db.getInto(key, this.scratch)
    if (n < 0) return undefined
    if (n > this.scratch.byteLength) {
      this.scratch = new Uint8Array(2 * n)
      n = this.db.getInto(key, this.scratch)
    }
    return this.views.view(this.scratch, n)
  }

  /** getMany's batch target and lengths (getManyInto), for up to MANY_KEYS keys a call. */
  private manyTarget = new Uint8Array(64 * 1024)
  private readonly manyLengths = new Int32Array(MANY_KEYS)

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    let found = 0
    let i = from
    while (i < to) {
      const end = Math.min(to, i + MANY_KEYS)
      const answered = this.db.getManyInto(keys, i, end, this.manyTarget, this.manyLengths)
      let at = 0
      for (let j = 0; j < answered; j++) {
        const n = this.manyLengths[j]!
        if (n < 0) continue
        const target = this.manyTarget
        if (n <= SMALL_VALUE_BYTES) {
          // A small value is copied to the start of get's buffer and visited as an exact-length view
          // of it (cached per size), as `get` returns it: cheaper than a view object per value.
          const scratch = this.scratch
          for (let b = 0; b < n; b++) scratch[b] = target[at + b]!
          visit(keys[i + j]!, this.views.view(scratch, n))
        } else {
          // A larger one is visited where it lies (one view object, no copy).
          visit(keys[i + j]!, target.subarray(at, at + n))
        }
        at += n
        found++
      }
      i += answered
      if (i < end) {
        // The target filled before the call's keys ran out (large values): grow it, so that later
        // calls take whole batches instead of looking up keys that will be asked again.
        const next = answered === 0 ? 2 * this.manyLengths[0]! : 2 * this.manyTarget.byteLength
        if (answered === 0 || next <= MANY_TARGET_MAX_BYTES) this.manyTarget = new Uint8Array(next)
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
    const [hits, lookups] = this.counts()
    const h = hits - this.hitsAtReset
    const n = lookups - this.lookupsAtReset
    return n === 0 ? undefined : h / n
  }

  resetCounters(): void {
    ;[this.hitsAtReset, this.lookupsAtReset] = this.counts()
  }

  /**
   * Hits and lookups so far: a point read looks in the record cache first (once the pool is full), by
   * key, and on a miss there goes to the index and the pool (a page hit, a page miss, or a record
   * read alone; a leaf is not counted).
   */
  private counts(): [number, number] {
    const { bufferPool, recordCache } = this.db.stats()
    const hits = recordCache.hits + bufferPool.hits
    return [hits, hits + bufferPool.misses + bufferPool.rangeReads]
  }

  close(): Promise<void> {
    return this.db.close()
  }
}

/**
 * The indexes of `keys` in ascending key order, each key once (the last of equal keys, as a sequence
 * of puts would leave it): the identity when the keys already ascend (the comparison's loads), a
 * sort otherwise (the smoke test's random loads).
 */
/**
 * The order to load `keys` in: null if they are already strictly ascending (the comparison's usual
 * case), else their indexes sorted by key, the last of equal keys kept.
 */
function ascendingOrder(keys: Float64Array): Uint32Array | null {
  const n = keys.length
  let ascending = true
  for (let i = 1; i < n && ascending; i++) ascending = keys[i]! > keys[i - 1]!
  if (ascending) return null
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  order.sort((a, b) => keys[a]! - keys[b]! || a - b)
  let kept = 0
  for (let j = 0; j < n; j++) {
    if (j + 1 < n && keys[order[j + 1]!] === keys[order[j]!]) continue
    order[kept++] = order[j]!
  }
  return order.subarray(0, kept)
}
