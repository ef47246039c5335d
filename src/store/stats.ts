/**
 * `Store.stats()`: the figures of a store, read from its parts (page file, buffer pool, free space,
 * value store, index, checkpointer and log). Reads counters, the page file's size, and walks the
 * index's nodes (AlexIndex.stats): no page is read.
 */

import type { AlexIndex } from '../alex/alex-index.js'
import { DATA_NODE_HEADER_BYTES } from '../alex/bulk-load.js'
import type { BufferPool } from '../pages/buffer-pool.js'
import type { LeafFrames } from '../pages/leaf-frames.js'
import type { FreeSpace } from '../pages/free-space.js'
import type { PageFile } from '../pages/page-file.js'
import type { ValueStore } from '../pages/value-store.js'
import type { WalWriter } from '../wal/wal-writer.js'
import type { CompactionStats, RecoveryStats, StoreStats } from './api.js'
import type { Checkpointer } from './checkpoint.js'

/** What the figures are read from: the store's parts, handed over by `Store.stats`. */
export interface StatsSources {
  file: PageFile
  pool: BufferPool
  frames: LeafFrames
  budgetBytes: number
  free: FreeSpace
  values: ValueStore
  index: AlexIndex<number>
  checkpointer: Pick<Checkpointer, 'treePages' | 'freeListPages' | 'pageMapPages' | 'checkpoints' | 'generation'>
  /** null: read-only (no log). */
  wal: WalWriter | null
  appliedLsn: number
  recovery: RecoveryStats
  compaction: CompactionStats
}

/**
 * Heap bytes of one leaf's descriptor (the DataNode object: sizes, links, page id, flags and its
 * views of its bytes; its model, expected costs and cost counters live in its bytes, so an evicted
 * leaf holds none of them): measured as the heap growth (after gc) over 100k nodes made as open makes
 * them (`DataNode.described`), Node 20, 2026-12-06: 128.9 bytes each, less the 8 of the array slot
 * that held each one. (Before the model, costs and counters moved into the bytes, 361: six boxed
 * fractions and twelve counters; before that 434.)
 */
export const LEAF_DESCRIPTOR_BYTES = 121

export function storeStats(s: StatsSources): StoreStats {
  const file = s.file.counters
  const pool = s.pool.counters
  const index = s.index.stats()
  return {
    records: s.index.size,
    pageSizeBytes: s.file.pageSizeBytes,
    leafValueBytes: s.frames.cellBytes,
    pages: {
      total: s.free.frontier,
      meta: 2,
      // Every leaf has its page from the moment it is made (leaf-frames.ts).
      leaf: index.dataNodes,
      value: s.values.valuePages,
      overflow: s.values.overflowPages,
      model: s.checkpointer.treePages.length,
      freeList: s.checkpointer.freeListPages.length,
      pageMap: s.checkpointer.pageMapPages.length,
      free: s.free.freeCount,
      pendingFree: s.free.pendingCount,
    },
    bytesOnDisk: s.file.sizeBytes(),
    checkpoints: s.checkpointer.checkpoints,
    generation: s.checkpointer.generation,
    wal: {
      lastLsn: s.wal?.lastLsn ?? s.appliedLsn,
      durableLsn: s.wal?.durableLsn ?? s.appliedLsn,
      appliedLsn: s.appliedLsn,
      segments: s.wal === null ? 0 : s.wal.segments.length + 1,
      groups: s.wal?.groups ?? 0,
      syncs: s.wal?.syncs ?? 0,
      bytesSinceCheckpoint: s.wal?.writtenBytes ?? 0,
    },
    recovery: { ...s.recovery },
    compaction: { ...s.compaction },
    bufferPool: {
      pageSizeBytes: s.file.pageSizeBytes,
      frames: s.pool.frames,
      residentPages: s.pool.residentPages,
      dirtyPages: s.pool.dirtyPages,
      pinnedPages: s.pool.pinnedPages,
      hits: pool.hits,
      misses: pool.misses,
      evictions: pool.evictions,
      pagesRead: file.pagesRead,
      bytesRead: file.bytesRead,
      pagesWritten: file.pagesWritten,
      bytesWritten: file.bytesWritten,
      writeCalls: file.writeCalls,
      rangeReads: file.rangeReads,
      leafPages: s.pool.ownedPages,
      leafLoads: s.frames.counters.loads,
      leafEvictionWrites: s.frames.counters.evictionWrites,
      leafEvictionMoves: s.frames.counters.evictionMoves,
      readAheadHints: s.file.hints.issued,
      readAheadDropped: s.file.hints.dropped,
    },
    memory: {
      budgetBytes: s.budgetBytes,
      poolBytes: s.pool.allocatedBytes,
      recordCacheBytes: s.values.records.allocatedBytes,
      // The index's size counts ALEX's data node header per leaf (the paper's measure); the heap
      // holds a descriptor per leaf instead.
      modelBytes: index.indexBytes - index.dataNodes * DATA_NODE_HEADER_BYTES + index.dataNodes * LEAF_DESCRIPTOR_BYTES,
      leaves: index.dataNodes,
      leafDescriptorBytes: LEAF_DESCRIPTOR_BYTES,
    },
    recordCache: {
      bytes: s.values.records.allocatedBytes,
      entries: s.values.records.entries,
      hits: s.values.records.hits,
      misses: s.values.records.misses,
    },
    index,
  }
}
