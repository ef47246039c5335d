/**
 * The seam between the ALEX index and the page layer.
 *
 * The index knows no files. It hands the page layer a data node's image (`LeafImage`: its model and
 * its gapped arrays, the same shape the node keeps in memory) and gets back an opaque leaf id; it
 * rebuilds a node from an image and its id. The page layer knows nothing of models beyond these
 * numbers: it lays them out in a page, byte for byte, and reads them back.
 *
 * The index side of the seam is `AlexIndex.leaves()` (every leaf, in key order, with its id and a
 * dirty mark), `AlexIndex.encodeTree()` (the model nodes above the leaves, naming leaves by id),
 * `AlexIndex.restore()` (the inverse: a tree from its encoding and a leaf loader); a store's scan
 * hands `prefetch` the value handles the index will reach next (store.ts `prefetchAfter`).
 * The page side is `LeafStore`, implemented by src/pages/page-leaf-store.ts, and `LeafMemory` (below).
 */

import type { DataNode } from './data-node.js'
import { nodeBytes } from './node-layout.js'

/** A data node as stored: model, slot count, occupancy bitmap, keys (gaps included) and values. */
export interface LeafImage<V> {
  m1: number
  c: number
  m2: number
  b: number
  /** Slots: keys plus gaps. */
  capacity: number
  numKeys: number
  /** `capacity` keys; a gap holds the next key to its right (+Infinity past the last key, -Infinity
   *  before the first). */
  keys: Float64Array
  /** Bit `s` set when slot `s` holds a key; ceil(capacity / 32) words. */
  bitmap: Uint32Array
  /** `capacity` values; 0 (a data node, a stored page) or undefined in gaps: read the bitmap. */
  values: ArrayLike<V | undefined>
  /**
   * The slots' cells (node-layout.ts), `capacity` x the cell width bytes, where the index has cells:
   * a value slot of -(length + 1) says its value is the first `length` bytes of its cell.
   */
  cells?: Uint8Array
  /** Search iterations and shifts per insert the model predicted when it was trained. */
  expectedIterations: number
  expectedShifts: number
  /**
   * What the node's cost checks have counted since it was last trained (searches, their iterations,
   * inserts, the keys those shifted, inserts past either end). Stored so that a restored node decides
   * its next expansion or split exactly as the node it was taken from would have.
   */
  adaptSearches: number
  adaptSearchIterations: number
  adaptInserts: number
  adaptShifts: number
  adaptRightAppends: number
  adaptLeftAppends: number
}

/** A leaf of a live index, as the leaf store sees it. */
export interface StoredLeaf<V> extends LeafImage<V> {
  /** The id the leaf store gave its last stored image; -1 when it was never stored. */
  leafId: number
  /** Changed since its image was last stored. */
  dirty: boolean
}

/** The page layer's side: what the index (through the engine) asks of storage. */
export interface LeafStore<V> {
  /** Stores a leaf image and returns its new id (never overwriting the image behind an older id). */
  storeLeaf(leaf: LeafImage<V>): number
  /** Stores many leaves at once (bulk load, checkpoint): ids in the same order, written together. */
  storeLeaves(leaves: Iterable<LeafImage<V>>): number[]
  /** Reads back the image stored under `leafId`. */
  loadLeaf(leafId: number): LeafImage<V>
  /**
   * A scan is about to read these values (the index found them with its models: the leaves and slots
   * a key range covers). The store may fetch whatever they need, in as few reads as it can.
   */
  prefetch(values: ArrayLike<V>, count: number): void
  /**
   * Whether the storage behind this leaf's values is worth compacting now (mostly dead records):
   * the index then rewrites the leaf's values through the engine (AlexIndex.replaceLeafValues).
   */
  shouldCompact(leaf: LeafImage<V>): boolean
}

/**
 * Where data nodes keep their bytes (node-layout.ts). The index's own default keeps them in the
 * JavaScript heap for the node's life; the store's (src/pages/leaf-frames.ts) keeps them in buffer
 * pool frames, so that a node may be evicted (its bytes written to its page and dropped) and read
 * back when it is next used. A node whose bytes are gone faults them back in through `load` the next
 * time its keys, values or bitmap are read: the index never sees the difference.
 *
 * Between two calls into the memory, a node's bytes do not move. A call that allocates or loads may
 * evict any other node, so the index holds no view of a node's bytes across such a call.
 */
export interface LeafMemory {
  /**
   * Zeroed bytes for `node` at `capacity` slots (node-layout.ts nodeBytes(capacity) or more),
   * replacing those it had: a new node, or one rebuilt in place (resize).
   */
  allocate(node: DataNode, capacity: number): Uint8Array
  /** The bytes of an evicted `node`, read back from its page. */
  load(node: DataNode): Uint8Array
  /** `node` has left the index (split, merged, rebuilt, cleared): its bytes and page are not needed. */
  release(node: DataNode): void
  /**
   * The bytes `load` just gave `node` failed its checks: forget them (not written back), so that the
   * next read of the node loads, and checks, its page again.
   */
  unload(node: DataNode): void
  /**
   * A batched lookup is about to read `leaves[0..count)` (null entries skipped): the memory may start
   * reading those not in memory ahead, without waiting. Advice only.
   */
  hint?(leaves: readonly (DataNode | null)[], count: number): void
  /**
   * Bytes of each slot's cell (node-layout.ts): values of at most this many bytes may sit beside
   * their keys. Fixed for the memory's life; 0 or absent: no cells.
   */
  readonly cellBytes?: number
  /**
   * What the nodes in this memory have counted over their lives (indexes: `Tally`), for the index's
   * stats: a node keeps only its counts since it was last trained, in its bytes.
   */
  readonly tally: Float64Array
}

/** Indexes into LeafMemory.tally. */
export const Tally = { SEARCHES: 0, SEARCH_ITERATIONS: 1, INSERTS: 2, SHIFTS: 3, WORDS: 4 } as const

/** Bytes in the heap, never evicted, no cells: for data nodes made alone (an index makes its own memory). */
export const HEAP_MEMORY: LeafMemory = heapMemory(0)

/** Bytes in the heap, never evicted, with cells of `cellBytes` (0: none). */
export function heapMemory(cellBytes: number): LeafMemory {
  return {
    cellBytes,
    tally: new Float64Array(Tally.WORDS),
    allocate(_node: DataNode, capacity: number): Uint8Array {
      return new Uint8Array(nodeBytes(capacity, cellBytes))
    },
    load(): Uint8Array {
      throw new Error('assertion failed: a node in heap memory is never evicted')
    },
    release(): void {},
    unload(): void {
      throw new Error('assertion failed: a node in heap memory is never loaded')
    },
  }
}
