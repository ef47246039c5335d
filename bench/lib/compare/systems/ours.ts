/**
 * learned-storage as a `KvSystem`: the store opened with the run's memory budget as its buffer pool
 * and the run's durability; everything else at its defaults (64 KiB pages, a checkpoint every 128 MiB
 * of log or 5 minutes).
 *
 * - get / getMany / scan: the store's synchronous reads (`get` returns a fresh copy; `getMany` is a
 *   loop of them: the store has no batched read); `scan` iterates `range({ gte, limit })`.
 * - put: `db.put`, whose promise resolves at the configured durability (the store's own group commit
 *   shares one log write and sync among the puts in flight).
 * - bulkLoad: one `batch()` per chunk, each awaited before the next, then `checkpoint()`, so the
 *   loaded data is in pages rather than only in the log. At 'fsync' the checkpoint syncs the page
 *   file; at 'os' / 'none' it does not, and the store has no public sync call, so the adapter
 *   fdatasyncs data.lsp itself to keep bulkLoad's contract (every write on stable storage).
 * - cacheHitRate: buffer-pool page hits / (hits + misses + records read alone) since the last reset,
 *   from `stats()` (a record read alone is a miss the pool did not admit).
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync } from 'node:fs'
import path from 'node:path'
import { open, type BatchOperation, type Store } from 'learned-storage'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { directoryBytes } from './disk.js'

/** The store's page file (src/store/store.ts DATA_FILE_NAME, not exported by the package). */
const DATA_FILE_NAME = 'data.lsp'

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
      'bulk load: one batch() per chunk, awaited in turn, then checkpoint()' +
        (config.durability === 'fsync' ? '' : `; then an fdatasync of ${DATA_FILE_NAME} by the adapter (checkpoints at '${config.durability}' do not sync, and the API has no sync call)`),
      'cache hit rate: buffer-pool page hits / (hits + misses)',
      'disk: logical size of every file under the directory (page file and log segments)',
    ]
    this.resetCounters()
  }

  async bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array, chunkSize: number): Promise<void> {
    for (let start = 0; start < keys.length; start += chunkSize) {
      const end = Math.min(keys.length, start + chunkSize)
      const operations: BatchOperation[] = new Array<BatchOperation>(end - start)
      for (let i = start; i < end; i++) operations[i - start] = { type: 'put', key: keys[i]!, value: valueAt(i) }
      await this.db.batch(operations)
    }
    await this.db.checkpoint()
    if (this.config.durability !== 'fsync') syncFile(path.join(this.config.directory, DATA_FILE_NAME))
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

/** fdatasync a file, then fsync its directory (the file's size may have grown). */
function syncFile(file: string): void {
  const fd = openSync(file, 'r')
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
  const dir = openSync(path.dirname(file), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
