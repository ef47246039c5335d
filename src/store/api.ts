/** Public option, operation and statistics types of the store (the `open()` API). */

import type { AlexStats } from '../alex/api.js'

/**
 * How far a write is made durable before its promise resolves.
 * - 'fsync': the data reaches stable storage (survives power loss).
 * - 'os': the bytes are handed to the operating system (survive a process kill).
 * - 'none': nothing is forced; the last moments may be lost, but nothing is ever corrupted.
 * Every write goes to the write-ahead log first; checkpoints sync pages at the same level.
 */
export type Durability = 'fsync' | 'os' | 'none'

export interface OpenOptions {
  /** Page size of a new store: a power of two from 4096 to 1048576. An existing store keeps its own
   *  size; passing a different one is an INVALID_ARGUMENT error. Default 65536 (chosen by measurement:
   *  docs/FORMAT.md). */
  pageSizeBytes?: number
  /** Values of at most this many bytes are kept in the leaf page beside their key, so that a cold
   *  point read of one reads one page (a larger value lives in a value page that the leaf points to,
   *  a second read). Every slot of a leaf, gaps too, has room for this many bytes, so a width much
   *  larger than the values costs leaf space. A multiple of 8 from 0 (off) to 256, leaving a leaf
   *  page room for 64 slots (4 KiB pages: at most 40). Fixed when the store is created: an existing
   *  store keeps its own, and passing a different one is an INVALID_ARGUMENT error. Default 16 (or
   *  the widest the page size allows, if less). */
  leafValueBytes?: number
  /** Budget of the buffer pool in bytes (rounded down to whole pages, at least 8 pages). Default 64 MiB. */
  cacheBytes?: number
  /** Budget in bytes of the record cache: values of up to 48 bytes that a full buffer pool missed,
   *  kept by themselves under their keys (58 bytes each) and looked up before the index, so that
   *  skewed point reads over data larger than the pool stop paying a read (of the leaf or the value)
   *  for hot keys. Besides `cacheBytes`; allocated only once the pool misses. Default 0 (off). */
  recordCacheBytes?: number
  /** Default 'fsync'. */
  durability?: Durability
  /** Opens an existing store for reading only (a shared lock: several read-only opens may coexist,
   *  never with a writer). Writes fail with READ_ONLY. Default false. */
  readOnly?: boolean
  /** Size at which the write-ahead log starts a new segment file. Default 64 MiB; at least 64 KiB. */
  walSegmentBytes?: number
  /** A checkpoint starts once this many bytes were logged since the last one. Default 128 MiB. */
  checkpointWalBytes?: number
  /** A checkpoint starts this long after the last one if anything was written. Default 5 minutes. */
  checkpointIntervalMs?: number
  /** Move WAL segments a checkpoint no longer needs to `wal/archive/` instead of deleting them. */
  walArchive?: boolean
  /** 'strict' (default): a damaged record in the middle of the log fails `open` with CORRUPTION.
   *  'salvage': the log ends at the damage instead; stats().recovery says how many bytes were dropped. */
  walRecovery?: 'strict' | 'salvage'
  /**
   * Batched reads (getMany, getManyInto) hand the pages they will read and that are not in memory to
   * a read-ahead thread, which reads several at once. 'auto' (default): only while reads are slow
   * (the device answers, not the page cache: averaging 30 us or more). 'on': always. 'off': never
   * (no thread is started).
   */
  readAhead?: 'auto' | 'on' | 'off'
}

export type BatchOperation =
  | { type: 'put'; key: number; value: Uint8Array }
  | { type: 'del'; key: number }

/** Bounds for `range`: at most one of gte/gt and one of lte/lt; `limit` counts returned entries. */
export interface RangeOptions {
  gte?: number
  gt?: number
  lte?: number
  lt?: number
  reverse?: boolean
  limit?: number
}

export interface BufferPoolStats {
  pageSizeBytes: number
  /** Frames the budget allows, and how many hold a page now. */
  frames: number
  residentPages: number
  dirtyPages: number
  pinnedPages: number
  hits: number
  misses: number
  evictions: number
  pagesRead: number
  bytesRead: number
  pagesWritten: number
  bytesWritten: number
  /** Positioned write calls; fewer than pagesWritten when adjacent dirty pages were coalesced. */
  writeCalls: number
  /**
   * Value records read alone, without their page: a miss on a full pool reads only the record (it
   * carries its own check) unless the page was missed recently, which admits it. Count these as misses.
   */
  rangeReads: number
  /** Leaf pages among the resident pages (leaves and values share the frames: one budget). */
  leafPages: number
  /** Leaves read back from their pages (evicted before, or first used since open). */
  leafLoads: number
  /** Changed leaves written because they were evicted, and of those, moved to a new page. */
  leafEvictionWrites: number
  leafEvictionMoves: number
  /**
   * Pages and records that batched reads (getMany, getManyInto) found not in memory and handed to the
   * read-ahead thread, to be read several at a time before the reads themselves (one at a time) get
   * there; and those dropped because its queue was full.
   */
  readAheadHints: number
  readAheadDropped: number
}

/**
 * What the store holds in memory. The buffer pool (leaf and value pages) and the record cache are
 * bounded by `cacheBytes` and `recordCacheBytes`; the index's model nodes and the leaves'
 * descriptors (model, sizes and counters of each leaf, about `leafDescriptorBytes` each) are not,
 * and grow with the number of leaves, about one per 0.7 x capacity keys.
 */
export interface MemoryStats {
  /** `cacheBytes`: the pool's budget. */
  budgetBytes: number
  /** Frames allocated so far (at most the budget, or 8 pages when the budget is smaller). */
  poolBytes: number
  /** The record cache's bytes. */
  recordCacheBytes: number
  /** Model nodes (routing) and leaf descriptors, estimated: resident outside the budget. */
  modelBytes: number
  leaves: number
  leafDescriptorBytes: number
}

export interface RecordCacheStats {
  /** Bytes allocated (0 until the pool first misses, or when `recordCacheBytes` is 0). */
  bytes: number
  entries: number
  /** Point reads answered from it, and reads that looked in it and went on to the pool. */
  hits: number
  misses: number
}

export interface PageCounts {
  /** Pages in the file's used part (the meta pages included). */
  total: number
  meta: number
  leaf: number
  value: number
  overflow: number
  model: number
  freeList: number
  /** The page map chain (live records per value page; read at open instead of the leaves). */
  pageMap: number
  /** Reusable now. */
  free: number
  /**
   * Freed but not reusable yet: freed since the last checkpoint, or still referenced by the previous
   * checkpoint (kept whole while its meta page is on disk: reusable after the next checkpoint).
   */
  pendingFree: number
}

export interface StoreStats {
  records: number
  pageSizeBytes: number
  /** Values of at most this many bytes are kept in their leaf (OpenOptions.leafValueBytes). */
  leafValueBytes: number
  pages: PageCounts
  /** Size of the page file. */
  bytesOnDisk: number
  /** Checkpoints written since open, and the generation of the newest durable meta page. */
  checkpoints: number
  generation: number
  bufferPool: BufferPoolStats
  memory: MemoryStats
  recordCache: RecordCacheStats
  index: AlexStats
  wal: WalStats
  recovery: RecoveryStats
  compaction: CompactionStats
}

export interface CompactionStats {
  /** Leaves the compactor looked at and rewrote (their values moved to new pages) since open. */
  leavesExamined: number
  leavesCompacted: number
  valuesMoved: number
  bytesMoved: number
}

export interface WalStats {
  /** Last LSN appended, last known durable, and last applied to the index. */
  lastLsn: number
  durableLsn: number
  appliedLsn: number
  /** Segment files on disk (the current one included). */
  segments: number
  /** Group-commit writes and fdatasyncs since open. */
  groups: number
  syncs: number
  /** Log bytes written since the last checkpoint started (the size trigger compares this). */
  bytesSinceCheckpoint: number
}

export interface RecoveryStats {
  /** Records replayed from the log at open, and how long replay took. */
  replayedRecords: number
  replayMs: number
  /** Bytes at the log's end dropped at open (a torn tail; more with walRecovery 'salvage'). */
  droppedBytes: number
  /** Why the log's reading stopped before the end of its files, if it did. */
  stoppedBecause: string | null
  /** Pages allocated after the last checkpoint that nothing referenced, freed at open. */
  leakedPages: number
}
