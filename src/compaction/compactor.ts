/**
 * Value compaction: reclaims the space of dead value records (overwritten or deleted values).
 *
 * Before each checkpoint the compactor walks a few leaves, round robin by key, and asks the leaf
 * store whether the value pages behind each are mostly dead (LeafStore.shouldCompact). If so, the
 * leaf's live values are copied, in key order, to the page being filled, the leaf points at the
 * copies, and the old records are released; a value page whose records are all released is freed
 * (after the next checkpoint commits, as copy-on-write requires). A side effect is that compacted
 * values sit in key order, which scans read with fewer pages.
 *
 * Crash safety needs no log record: the moved values and the leaf's new handles become durable with
 * the checkpoint that follows; until it commits, the previous checkpoint's pages are untouched.
 * This is the plain garbage trigger; the learned triggers (models deciding retraining, merging and
 * relocation) are the next step for this room.
 */

import type { AlexIndex } from '../alex/alex-index.js'
import type { CompactionStats } from '../store/api.js'
import type { PageLeafStore } from '../pages/page-leaf-store.js'
import type { ValueStore } from '../pages/value-store.js'

/** Leaves examined per checkpoint. */
export const COMPACT_LEAVES_PER_RUN = 128
/** Value bytes moved per checkpoint, at most (a leaf is finished once started). */
export const COMPACT_BYTES_PER_RUN = 16 << 20

export class Compactor {
  readonly stats: CompactionStats = { leavesExamined: 0, leavesCompacted: 0, valuesMoved: 0, bytesMoved: 0 }
  /** The round robin resumes after this key. */
  private resumeAfter = -Infinity

  constructor(
    private readonly leafStore: PageLeafStore,
    private readonly values: ValueStore,
    /** Releases a value record (through the snapshot guard: iterators may still read it). */
    private readonly release: (handle: number) => void,
  ) {}

  run(index: AlexIndex<number>): void {
    let examined = 0
    let moved = 0
    const last = index.maxKey()
    // Only the leaves it examines are read (a leaf may be evicted: its page is read back).
    for (const leaf of index.leavesFrom(this.resumeAfter)) {
      if (examined >= COMPACT_LEAVES_PER_RUN || moved >= COMPACT_BYTES_PER_RUN) break
      if (leaf.numKeys === 0) continue
      examined++
      const max = maxKeyOf(leaf.keys, leaf.capacity)
      this.resumeAfter = max >= last ? -Infinity : max
      this.stats.leavesExamined++
      if (!this.leafStore.shouldCompact(leaf)) continue
      index.replaceLeafValues(leaf, (handle) => {
        if (handle < 0) return handle // a value in its leaf's cell: nothing to move
        const value = this.values.read(handle)
        const copy = this.values.append(value)
        this.release(handle)
        moved += value.byteLength
        this.stats.valuesMoved++
        return copy
      })
      this.stats.leavesCompacted++
    }
    this.stats.bytesMoved += moved
  }
}

/** The largest key of a leaf (the last occupied slot; gaps past it hold +Infinity). */
function maxKeyOf(keys: Float64Array, capacity: number): number {
  for (let slot = capacity - 1; slot >= 0; slot--) {
    const key = keys[slot]!
    if (key !== Infinity) return key
  }
  return -Infinity
}
