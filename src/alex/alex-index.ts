/**
 * AlexIndex: an updatable learned index (ALEX, Ding et al., SIGMOD 2020) over finite double keys,
 * shaped like a Map.
 *
 * Reading the source: `set` descends by the model nodes' models (model-node.ts) to a data node
 * (data-node.ts) and inserts there; when the data node reports that it must change, `adapt` applies
 * the cost model (cost.ts): expand and retrain, split sideways (the parent gains a child), or split
 * downward (a new model node). Keys beyond the root's key domain are counted and, past a threshold,
 * the root grows toward them (`expandRoot`). `bulkLoad` builds a tree top-down (bulk-load.ts).
 *
 * Iterators remember the last key they returned; if the index changes under them they seek again
 * from that key, so iterating while writing is safe.
 */

import { ErrorCode, StoreError, assert, checkKey, describeValue } from '../errors.js'
import type { AlexOptions, AlexRange, AlexStats } from './api.js'
import {
  DATA_NODE_HEADER_BYTES,
  MODEL_NODE_HEADER_BYTES,
  buildDataNode,
  buildSubtree,
  fillModelNode,
  linkLeaves,
  balanceIfLopsided,
  partitionBounds,
  trainModelNode,
  type BuildLimits,
  type LeafSink,
} from './bulk-load.js'
import {
  KEYS_PER_POINTER_MIN,
  MIN_DATA_NODE_SLOTS,
  MIN_DENSITY,
  NODE_LOOKUP_WEIGHT,
  OUT_OF_DOMAIN_MAX_KEYS,
  OUT_OF_DOMAIN_MIN_KEYS,
  ROOT_EXPANSION_FACTOR_MAX,
} from './cost.js'
import { DataNode, InsertResult, KeyBuffer, Placement, capacityFor, expectedCost, stageCell, stagedCellSave, withBuildCells } from './data-node.js'
import { Tally, heapMemory, type LeafImage, type LeafMemory, type StoredLeaf } from './leaf-store.js'
import { ModelNode, type AlexNode } from './model-node.js'
import { decodeTree, encodeTree, type LeafRecord } from './tree-image.js'

const DEFAULT_MAX_DATA_NODE_SLOTS = 1 << 16
const DEFAULT_MAX_FANOUT = 1 << 16
/** The most keys one getBatch call takes. */
export const GET_BATCH_MAX = 64
const MIN_MAX_DATA_NODE_SLOTS = 64
const MAX_MAX_DATA_NODE_SLOTS = 1 << 26
const MAX_MAX_FANOUT = 1 << 24
/** Largest fanout of a model node made by a downward split. */
const DOWNWARD_FANOUT_MAX = 1 << 10
/** A downward split may add a level that only narrows the key range while the leaf is shallower than this. */
const NARROWING_DEPTH_MAX = 16
/** Levels a path may exceed twice its ideal depth by before its subtree is rebuilt. */
const DEPTH_SLACK = 4
/** Guard against runaway trees: no path is ever deeper than this. */
const MAX_DEPTH = 64

const OPTION_NAMES = new Set(['maxDataNodeSlots', 'maxFanout', 'adaptToReads'])
const RANGE_NAMES = new Set(['gte', 'gt', 'lte', 'lt', 'reverse'])

function invalid(message: string): StoreError {
  return new StoreError(ErrorCode.INVALID_ARGUMENT, message)
}

function checkOptions(options: unknown): Required<AlexOptions> {
  if (options === undefined) return { maxDataNodeSlots: DEFAULT_MAX_DATA_NODE_SLOTS, maxFanout: DEFAULT_MAX_FANOUT, adaptToReads: true }
  if (typeof options !== 'object' || options === null) throw invalid(`options must be an object, got ${describeValue(options)}`)
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw invalid(`unknown option '${name}'`)
  }
  const o = options as AlexOptions
  const maxDataNodeSlots = o.maxDataNodeSlots ?? DEFAULT_MAX_DATA_NODE_SLOTS
  const maxFanout = o.maxFanout ?? DEFAULT_MAX_FANOUT
  if (!Number.isInteger(maxDataNodeSlots) || maxDataNodeSlots < MIN_MAX_DATA_NODE_SLOTS || maxDataNodeSlots > MAX_MAX_DATA_NODE_SLOTS) {
    throw invalid(`maxDataNodeSlots must be an integer in [${MIN_MAX_DATA_NODE_SLOTS}, ${MAX_MAX_DATA_NODE_SLOTS}], got ${describeValue(o.maxDataNodeSlots)}`)
  }
  if (!Number.isInteger(maxFanout) || maxFanout < 2 || maxFanout > MAX_MAX_FANOUT || (maxFanout & (maxFanout - 1)) !== 0) {
    throw invalid(`maxFanout must be a power of two in [2, ${MAX_MAX_FANOUT}], got ${describeValue(o.maxFanout)}`)
  }
  const adaptToReads = o.adaptToReads ?? true
  if (typeof adaptToReads !== 'boolean') throw invalid(`adaptToReads must be a boolean, got ${describeValue(o.adaptToReads)}`)
  return { maxDataNodeSlots, maxFanout, adaptToReads }
}

interface Bounds {
  lower: number
  lowerInclusive: boolean
  upper: number
  upperInclusive: boolean
  reverse: boolean
}

function checkRange(range: unknown): Bounds {
  const bounds: Bounds = { lower: -Infinity, lowerInclusive: true, upper: Infinity, upperInclusive: true, reverse: false }
  if (range === undefined) return bounds
  if (typeof range !== 'object' || range === null) throw invalid(`range must be an object, got ${describeValue(range)}`)
  for (const name of Object.keys(range)) {
    if (!RANGE_NAMES.has(name)) throw invalid(`unknown range option '${name}'`)
  }
  const r = range as AlexRange
  if (r.gte !== undefined && r.gt !== undefined) throw invalid('range has both gte and gt')
  if (r.lte !== undefined && r.lt !== undefined) throw invalid('range has both lte and lt')
  if (r.gte !== undefined) bounds.lower = checkKey(r.gte, 'range.gte')
  if (r.gt !== undefined) {
    bounds.lower = checkKey(r.gt, 'range.gt')
    bounds.lowerInclusive = false
  }
  if (r.lte !== undefined) bounds.upper = checkKey(r.lte, 'range.lte')
  if (r.lt !== undefined) {
    bounds.upper = checkKey(r.lt, 'range.lt')
    bounds.upperInclusive = false
  }
  if (r.reverse !== undefined && typeof r.reverse !== 'boolean') throw invalid(`range.reverse must be a boolean, got ${describeValue(r.reverse)}`)
  bounds.reverse = r.reverse === true
  return bounds
}

export class AlexIndex<V> implements Iterable<[number, V]> {
  private root: AlexNode
  private count = 0
  /** Bumped whenever slots move (insert of a new key, delete, any rebuild); iterators re-seek on change. */
  private version = 0
  private readonly limits: BuildLimits
  /** `adaptToReads`: lookups count toward the data nodes' cost checks. */
  private readonly countReads: boolean
  private readonly events = {
    expansions: 0, retrains: 0, sidewaysSplits: 0, downwardSplits: 0, rootExpansions: 0, contractions: 0, rebuilds: 0,
  }
  // Out-of-domain inserts at a model-node root, and the size when the domain last grew.
  private keysBelowDomain = 0
  private keysAboveDomain = 0
  private sizeAtLastLeftExpansion = 0
  private sizeAtLastRightExpansion = 0
  private readonly movingBuffer = new KeyBuffer()
  /** Model nodes from the root down to the leaf of the current insert (scratch). */
  private readonly path: ModelNode[] = []
  /** Deepest path a rebuild has produced (the depth limit never drops below it plus slack). */
  private rebuiltDepth = 0
  /** Set while keys move after a domain expansion (their inserts must not expand again). */
  private expandingRoot = false
  /** getBatch's scratch: each key of the batch (checked) and its leaf. */
  private readonly batchKeys = new Float64Array(GET_BATCH_MAX)
  private readonly batchLeaves: (DataNode | null)[] = new Array<DataNode | null>(GET_BATCH_MAX).fill(null)
  /** Where getBatch's early reads go, so that the compiler cannot drop them. */
  private batchSink = 0
  /**
   * A data node keeps its values as f64 slots in its bytes (node-layout.ts), as its leaf page does.
   * While every value given is a number, a slot holds the value itself and this is null. The first
   * value that is not a number moves every value here: a slot then holds an index into this array
   * (`encode` / `decode`), so that an index of any values still works (the store's values are
   * numbers: value handles).
   */
  private objects: unknown[] | null = null
  /** Indexes into `objects` free for reuse. */
  private readonly freeObjects: number[] = []

  /**
   * An empty index. `memory`: where data nodes keep their bytes (leaf-store.ts); the heap unless a
   * store gives its buffer pool.
   */
  constructor(options?: AlexOptions, memory: LeafMemory = heapMemory(0)) {
    const { maxDataNodeSlots, maxFanout, adaptToReads } = checkOptions(options)
    this.limits = { maxDataNodeSlots, maxFanout, memory }
    this.countReads = adaptToReads
    this.root = new DataNode(16, false, memory)
  }

  /**
   * Builds an index from keys and their values. Keys may come in any order; they are sorted (with
   * their values), and for a repeated key the last value wins, as in `new Map(entries)`.
   */
  static bulkLoad<V>(keys: ArrayLike<number>, values: ArrayLike<V>, options?: AlexOptions): AlexIndex<V> {
    const index = new AlexIndex<V>(options)
    if (keys === null || typeof keys !== 'object' || typeof keys.length !== 'number') throw invalid('keys must be an array-like of numbers')
    if (values === null || typeof values !== 'object' || typeof values.length !== 'number') throw invalid('values must be an array-like')
    if (keys.length !== values.length) throw invalid(`keys has ${keys.length} entries but values has ${values.length}`)
    const n = keys.length
    const slotValues = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const value = values[i]
      if (typeof value !== 'number' && index.objects === null) {
        index.objects = []
        for (let j = 0; j < i; j++) slotValues[j] = index.encode(values[j]!)
      }
      slotValues[i] = index.objects === null ? (value as number) : index.encode(value!)
    }
    const sortedKeys = new Float64Array(n)
    let sorted = true
    for (let i = 0; i < n; i++) {
      const raw = keys[i]
      // checkKey, with the message built only on failure (no string per key on this path).
      const key = typeof raw === 'number' && Number.isFinite(raw) ? raw + 0 : checkKey(raw, `keys[${i}]`)
      sortedKeys[i] = key
      if (i > 0 && !(key > sortedKeys[i - 1]!)) sorted = false
    }
    let sortedValues: Float64Array = slotValues
    let length = n
    if (!sorted) {
      const order = new Uint32Array(n)
      for (let i = 0; i < n; i++) order[i] = i
      const raw = sortedKeys.slice()
      // Stable by position, so that among equal keys the last one can be kept.
      order.sort((a, b) => raw[a]! - raw[b]! || a - b)
      const outValues = new Float64Array(n)
      length = 0
      for (let i = 0; i < n; i++) {
        const at = order[i]!
        const key = raw[at]!
        if (length > 0 && sortedKeys[length - 1] === key) {
          index.release(outValues[length - 1]!)
          outValues[length - 1] = slotValues[at]!
        } else {
          sortedKeys[length] = key
          outValues[length] = slotValues[at]!
          length++
        }
      }
      sortedValues = outValues
    }
    index.load(sortedKeys, sortedValues, length)
    return index
  }

  /**
   * `bulkLoad` for keys the caller has already checked: finite, strictly ascending, one value each
   * (the store's bulk load checks them as it reads its entries), so they are neither copied nor
   * checked again. `onLeaf` is given each data node as soon as it is complete, in key order, while
   * the rest are built; it must not change the node.
   */
  static bulkLoadAscending(
    keys: Float64Array,
    values: ArrayLike<number>,
    options?: AlexOptions,
    onLeaf?: (leaf: StoredLeaf<number>) => void,
    memory: LeafMemory = heapMemory(0),
    cells?: Uint8Array,
  ): AlexIndex<number> {
    const index = new AlexIndex<number>(options, memory)
    assert(keys.length === values.length, `keys has ${keys.length} entries but values has ${values.length}`)
    // Values < 0 are cell values (node-layout.ts) when the memory has cells: entry i's cell is
    // cells[i * cellBytes, ...).
    withBuildCells(cells ?? new Uint8Array(0), () => index.load(keys, values, keys.length, onLeaf))
    return index
  }

  private load(keys: Float64Array, values: ArrayLike<number>, n: number, onLeaf?: (leaf: StoredLeaf<number>) => void): void {
    const leaves: DataNode[] = []
    const sink: LeafSink =
      onLeaf === undefined
        ? leaves
        : {
            push(leaf: DataNode): void {
              leaves.push(leaf)
              onLeaf(leaf)
            },
          }
    // The empty root the constructor made gives back its bytes (a page and frame, for a store).
    this.retireSubtree(this.root)
    this.root = buildSubtree(keys, values, 0, n, this.limits, sink)
    this.root.dupLog2 = 0
    linkLeaves(leaves)
    this.count = n
    this.version++
  }

  /**
   * Rebuilds an index from `encodeTree()` bytes, loading each leaf image through `loadLeaf`: the same
   * leaves (ids kept, clean), the same routing. Throws CORRUPTION (naming `where`) if the bytes or a
   * leaf break a rule; `check()` then holds for the result.
   */
  static restore(
    tree: Uint8Array,
    loadLeaf: (leafId: number, record: LeafRecord) => LeafImage<number> | DataNode,
    options?: AlexOptions,
    where = 'tree',
    fullCheck = false,
    memory: LeafMemory = heapMemory(0),
  ): AlexIndex<number> {
    // The empty root made here is replaced at once: heap bytes, not a page of `memory`.
    const index = new AlexIndex<number>(options)
    index.limits.memory = memory
    const decoded = decodeTree(tree, loadLeaf, index.limits.maxFanout, where, index.limits.maxDataNodeSlots, memory)
    index.root = decoded.root
    index.count = decoded.keyCount
    index.keysBelowDomain = decoded.state.keysBelowDomain
    index.keysAboveDomain = decoded.state.keysAboveDomain
    index.sizeAtLastLeftExpansion = decoded.state.sizeAtLastLeftExpansion
    index.sizeAtLastRightExpansion = decoded.state.sizeAtLastRightExpansion
    index.rebuiltDepth = decoded.state.rebuiltDepth
    index.version++
    if (fullCheck) {
      index.check()
      return index
    }
    // Linear checks only (a full check routes every key from the root): each leaf's own invariants,
    // and keys increasing from leaf to leaf. A leaf not in memory (described by its record) is not
    // read here: it checks itself when first read.
    let previous = -Infinity
    for (const leaf of decoded.leaves) {
      if (!leaf.resident) continue
      leaf.check(index.limits.maxDataNodeSlots, `${where}: leaf ${leaf.leafId}`)
      if (leaf.numKeys === 0) continue
      if (!(leaf.minKey() > previous)) {
        throw new StoreError(ErrorCode.CORRUPTION, `${where}: leaf ${leaf.leafId} starts at ${leaf.minKey()}, not above the previous leaf's ${previous}`)
      }
      previous = leaf.maxKey()
    }
    return index
  }

  /** The model nodes above the leaves, as bytes (tree-image.ts); every leaf must have a leaf id. */
  encodeTree(): Uint8Array {
    return encodeTree(this.root, this.count, {
      keysBelowDomain: this.keysBelowDomain,
      keysAboveDomain: this.keysAboveDomain,
      sizeAtLastLeftExpansion: this.sizeAtLastLeftExpansion,
      sizeAtLastRightExpansion: this.sizeAtLastRightExpansion,
      rebuiltDepth: this.rebuiltDepth,
    })
  }

  /**
   * Replaces every value of one leaf (from `leaves()`) by `replace(value)`, keeping keys and shape,
   * and marks the leaf dirty: how the engine moves a leaf's values when its storage is compacted.
   */
  replaceLeafValues(leaf: StoredLeaf<number>, replace: (value: V) => V): void {
    const node = leaf as unknown as DataNode
    assert(node.isLeaf === true, 'replaceLeafValues takes a leaf of this index')
    // `replace` may evict the leaf (it reads and writes value pages): its slots are fetched again
    // for each value, and it is marked changed after each (an eviction writes it and clears that).
    for (let slot = node.nextOccupied(0); slot < node.capacity; slot = node.nextOccupied(slot + 1)) {
      const old = node.values[slot]!
      const next = this.encode(replace(this.decode(old)))
      node.values[slot] = next
      node.dirty = true
      this.release(old)
    }
  }

  /**
   * Gives back every leaf's bytes and page (the index is being replaced, e.g. by a bulk load's): the
   * index must not be used afterwards.
   */
  dispose(): void {
    this.retireSubtree(this.root)
  }

  /** Every leaf in key order (a checkpoint captures the changed ones: leaf-frames.ts). */
  *leaves(): IterableIterator<StoredLeaf<number>> {
    for (let leaf: DataNode | null = this.firstLeaf(); leaf !== null; leaf = leaf.next) yield leaf
  }

  /**
   * Every leaf once, starting with the one `key` routes to and wrapping around after the last: a
   * round robin that resumes where it stopped without reading the leaves before it.
   */
  *leavesFrom(key: number): IterableIterator<StoredLeaf<number>> {
    const start = key === -Infinity ? this.firstLeaf() : this.leafFor(checkKey(key))
    for (let leaf: DataNode | null = start; leaf !== null; leaf = leaf.next) yield leaf
    for (let leaf: DataNode | null = this.firstLeaf(); leaf !== null && leaf !== start; leaf = leaf.next) yield leaf
  }

  /** Counts structure changes so far (expansions, retrains, splits, root expansions, contractions,
   *  rebuilds): a cheap way to tell that a write changed the tree's shape. */
  get structureChanges(): number {
    const e = this.events
    return e.expansions + e.retrains + e.sidewaysSplits + e.downwardSplits + e.rootExpansions + e.contractions + e.rebuilds
  }

  get size(): number {
    return this.count
  }

  // ---- point operations ---------------------------------------------------------------------

  private leafFor(key: number): DataNode {
    let node = this.root
    while (!node.isLeaf) node = node.children[node.slot(key)]!
    return node
  }

  get(key: number): V | undefined {
    const k = checkKey(key)
    const leaf = this.leafFor(k)
    const slot = leaf.find(k, this.countReads)
    this.hitLeaf = leaf
    this.hitSlot = slot
    return slot >= 0 ? this.decode(leaf.valueAt(slot)) : undefined
  }

  // Where the last `get` found its key: a cell value (< 0, node-layout.ts) is read from there.
  private hitLeaf: DataNode | null = null
  private hitSlot = -1

  /**
   * Copies the value in the cell of the key the last `get` found (its value was a cell value, < 0) to
   * target[at..]; returns its length. Nothing may have run in between (it could evict the leaf).
   */
  copyHitCell(target: Uint8Array, at: number): number {
    return this.hitLeaf!.copyCell(this.hitSlot, target, at)
  }

  /** The value in the cell of the key the last `get` found, as a copy (see copyHitCell). */
  hitCell(): Uint8Array {
    return this.hitLeaf!.cellCopy(this.hitSlot)
  }

  /**
   * `upsert` of a cell value: `raw` = cellValue(length) (< 0), the value's bytes at
   * bytes[at..at + length), copied into the key's cell. For an index whose memory has cells.
   */
  upsertCell(this: AlexIndex<number>, key: number, raw: number, bytes: Uint8Array, at: number): number | undefined {
    assert(raw < 0 && (this.limits.memory.cellBytes ?? 0) > 0, 'upsertCell: a cell value, on an index with cells')
    stageCell(bytes, at, -raw - 1)
    try {
      return this.upsert(key, raw)
    } finally {
      stageCell(EMPTY_BYTES, 0, 0)
    }
  }

  /**
   * `get` of keys[from..from+count), count at most GET_BATCH_MAX, for an index whose values are
   * numbers (the store's value handles): out[i] = the value of keys[from + i], or NaN if it is
   * absent. The work goes in stages over the whole batch: first every key is routed to its leaf and
   * the slot its model predicts is read; then each leaf is searched. The memory reads of different
   * keys (a leaf's fields, the predicted slot's cache line) are independent, so the processor
   * overlaps them, where a loop of `get` waits for each in turn (10M keys: ~1.4x the lookups per
   * second). Invalid keys throw as `get` does, before any result is written. `missed`, if given:
   * missed[i] = 1 where key i's leaf was not in memory when the batch reached it (its page was read
   * for this batch, or for an earlier key of it), else 0.
   */
  getBatch(this: AlexIndex<number>, keys: ArrayLike<number>, from: number, count: number, out: Float64Array, missed?: Uint8Array): void {
    assert(count >= 0 && count <= GET_BATCH_MAX && out.length >= count && (missed === undefined || missed.length >= count), `getBatch of ${count} keys`)
    const batchKeys = this.batchKeys
    const leaves = this.batchLeaves
    let sink = 0
    let evicted = 0
    for (let i = 0; i < count; i++) {
      const k = checkKey(keys[from + i]!)
      batchKeys[i] = k
      const leaf = this.leafFor(k)
      leaves[i] = leaf
      const resident = leaf.resident
      if (!resident) evicted++
      if (missed !== undefined) missed[i] = resident ? 0 : 1
    }
    // Leaves not in memory: their memory may read them ahead, several at once, before the reads below
    // take them one at a time.
    if (evicted > 1) leaves[0]!.memory.hint?.(leaves, count)
    for (let i = 0; i < count; i++) {
      const leaf = leaves[i]!
      // Read now, so the search below finds the slot's line in cache.
      sink += leaf.keys[leaf.predict(batchKeys[i]!)]!
    }
    if (sink === 0.5) this.batchSink++
    const counted = this.countReads
    for (let i = 0; i < count; i++) {
      const leaf = leaves[i]!
      leaves[i] = null
      const slot = leaf.find(batchKeys[i]!, counted)
      out[i] = slot >= 0 ? leaf.valueAt(slot) : NaN
    }
  }

  /**
   * Reads, for each of keys[from..from+count) (finite numbers), the memory an insert or lookup of it
   * touches first (its leaf, and the predicted slot's key, occupancy word and value) and changes
   * nothing. Called ahead of a group of writes, so that their cache misses overlap instead of coming
   * one after another (10M keys, 16 writers through the store: ~15% more inserts per second).
   */
  prefetch(keys: ArrayLike<number>, from: number, count: number): void {
    let sink = 0
    for (let i = from; i < from + count; i++) {
      const key = keys[i]!
      const leaf = this.leafFor(key)
      const slot = leaf.predict(key)
      sink += leaf.keys[slot]! + leaf.bitmap[slot >>> 5]!
      sink += leaf.values[slot]!
    }
    if (sink === 0.5) this.batchSink++
  }

  has(key: number): boolean {
    const k = checkKey(key)
    return this.leafFor(k).find(k, this.countReads) >= 0
  }

  /** Inserts `key` or overwrites its value. */
  set(key: number, value: V): this {
    this.upsert(key, value)
    return this
  }

  /** Inserts or overwrites, as `set`, and returns the value `key` had before (undefined if absent). */
  upsert(key: number, value: V): V | undefined {
    const k = checkKey(key)
    const raw = this.encode(value)
    if (!this.upsertRaw(k, raw)) return undefined
    const previous = this.decode(this.replaced)
    this.release(this.replaced)
    return previous
  }

  /** The slot value an update overwrote (upsertRaw) or a delete removed. */
  private replaced = 0

  /**
   * Inserts slot value `raw` under `k` (checked) or overwrites; true when it overwrote, the old slot
   * value then in `replaced`.
   */
  private upsertRaw(k: number, raw: number): boolean {
    if (!this.root.isLeaf && !this.expandingRoot) this.noteDomain(k)
    for (let attempt = 0; ; attempt++) {
      assert(attempt < 10_000, 'insert did not converge')
      let parent: ModelNode | null = null
      let node = this.root
      const path = this.path
      path.length = 0
      while (!node.isLeaf) {
        parent = node
        path.push(node)
        node = node.children[node.slot(k)]!
      }
      const result = node.insert(k, raw, this.limits.maxDataNodeSlots)
      if (result === InsertResult.INSERTED || result === InsertResult.EXPANDED) {
        if (result === InsertResult.EXPANDED) this.events.expansions++
        this.count++
        this.version++
        return false
      }
      if (result === InsertResult.UPDATED) {
        this.replaced = DataNode.replaced
        return true
      }
      this.version++
      this.adapt(node, parent, k, result, path.slice())
    }
  }

  delete(key: number): boolean {
    const k = checkKey(key)
    const leaf = this.leafFor(k)
    const capacity = leaf.capacity
    if (!leaf.delete(k)) return false
    this.release(DataNode.replaced)
    if (leaf.capacity !== capacity) this.events.contractions++
    this.count--
    this.version++
    return true
  }

  clear(): void {
    this.retireSubtree(this.root)
    this.root = new DataNode(16, false, this.limits.memory)
    if (this.objects !== null) this.objects = []
    this.freeObjects.length = 0
    this.count = 0
    this.keysAboveDomain = this.keysBelowDomain = 0
    this.sizeAtLastLeftExpansion = this.sizeAtLastRightExpansion = 0
    this.rebuiltDepth = 0
    this.version++
  }

  /** The largest stored key, or -Infinity when empty. */
  maxKey(): number {
    for (let leaf: DataNode | null = this.lastLeaf(); leaf !== null; leaf = leaf.prev) {
      if (leaf.numKeys > 0) return leaf.maxKey()
    }
    return -Infinity
  }

  /** Smallest stored key >= key, or undefined. */
  lowerBound(key: number): number | undefined {
    const k = checkKey(key)
    let leaf: DataNode | null = this.leafFor(k)
    let slot = leaf.lowerBoundSlot(k, this.countReads)
    while (slot >= leaf.capacity) {
      leaf = leaf.next
      if (leaf === null) return undefined
      slot = leaf.firstSlot()
    }
    return leaf.keys[slot]
  }

  // ---- adaptation ---------------------------------------------------------------------------

  /** Changes `leaf` (reached through `parent`) so that the failed insert can go through. */
  private adapt(leaf: DataNode, parent: ModelNode | null, key: number, result: number, path: ModelNode[]): void {
    if (result === InsertResult.FAIL_COST_DEVIATION) {
      // The fanout-tree decision, at its first two levels: expand-and-retrain, or split in two.
      const buffer = this.movingBuffer
      buffer.clear()
      leaf.copyTo(buffer)
      const n = buffer.length
      const grown = capacityFor(n, MIN_DENSITY)
      const insertFraction = leaf.insertFraction()
      const expandCost = expectedCost(buffer.keys, 0, n, grown, insertFraction)
      const half = n >>> 1
      const splitCost =
        (half / n) * expectedCost(buffer.keys, 0, half, capacityFor(half, MIN_DENSITY), insertFraction) +
        ((n - half) / n) * expectedCost(buffer.keys, half, n, capacityFor(n - half, MIN_DENSITY), insertFraction) +
        (parent === null || leaf.dupLog2 === 0 ? NODE_LOOKUP_WEIGHT / 4 : 0)
      buffer.clear()
      if (grown <= this.limits.maxDataNodeSlots && expandCost <= splitCost) {
        leaf.resize(grown, leaf.appendPlacement())
        this.events.retrains++
        return
      }
    }
    this.split(leaf, parent, key, path)
  }

  private split(leaf: DataNode, parent: ModelNode | null, key: number, path: ModelNode[]): void {
    const depth = path.length
    if (parent === null) {
      this.splitDownward(leaf, null, 0, 0)
      return
    }
    // A leaf holding keys beyond its parent's domain (they arrive clamped into the parent's edge
    // slot: keys past the root's domain, or past a fitted model's range inside its block): widen the
    // domain of the lowest ancestor that can take them, rather than split a node whose keys lie
    // outside its range (that would stack one level per split while keys keep arriving there).
    if (leaf.numKeys > 0) {
      const high = leaf.maxKey()
      const low = leaf.minKey()
      if (parent.rawSlot(high) >= parent.fanout && this.widenEdge(true, high, path, leaf)) return
      if (parent.rawSlot(low) < 0 && this.widenEdge(false, low, path, leaf)) return
    }
    if (leaf.dupLog2 === 0 && parent.fanout * 2 <= this.limits.maxFanout && this.separatesAfterDoubling(leaf, parent)) {
      parent.expand()
    }
    if (leaf.dupLog2 > 0 && this.trySplitSideways(leaf, parent, parent.slot(key))) return
    if (depth + 1 > this.depthLimit()) {
      this.rebuildSubtree(path)
      return
    }
    assert(depth < MAX_DEPTH, `ALEX tree deeper than ${MAX_DEPTH}`)
    this.splitDownward(leaf, parent, parent.slot(key), depth)
  }

  /**
   * The deepest a path may get before its subtree is rebuilt: twice the depth a bulk load of this many
   * keys would need, plus slack. Key patterns that defeat linear models (keys growing quadratically,
   * alternating sides, outliers arriving one by one) can otherwise stack levels one split at a time.
   */
  private depthLimit(): number {
    const leaves = this.count / (this.limits.maxDataNodeSlots / 2)
    const ideal = leaves <= 1 ? 1 : Math.ceil(Math.log(leaves) / Math.log(this.limits.maxFanout))
    return Math.min(MAX_DEPTH - 1, Math.max(2 * ideal + DEPTH_SLACK, this.rebuiltDepth + DEPTH_SLACK))
  }

  /**
   * The guard against catastrophic shapes: bulk-loads again the subtree under the root's child on
   * `path` (the whole tree when the root's own fanout is the problem), from its keys, in place.
   */
  private rebuildSubtree(path: ModelNode[]): void {
    const top: AlexNode = path.length >= 2 ? path[1]! : this.root
    const parent = path.length >= 2 ? path[0]! : null
    let first: AlexNode = top
    while (!first.isLeaf) first = first.children[0]!
    let last: AlexNode = top
    while (!last.isLeaf) last = last.children[last.fanout - 1]!
    const buffer = this.movingBuffer
    buffer.clear()
    const before = first.prev
    const after = last.next
    for (let leaf: DataNode | null = first; leaf !== null; leaf = leaf === last ? null : leaf.next) {
      leaf.copyTo(buffer)
      this.retire(leaf)
    }
    const leaves: DataNode[] = []
    const built = withBuildCells(buffer.cells, () => buildSubtree(buffer.keys, buffer.values, 0, buffer.length, this.limits, leaves))
    buffer.clear()
    this.replaceChild(parent, top, built)
    // Keys that defeat a bulk load too leave it deep: never rebuild again before growing past that.
    this.rebuiltDepth = Math.max(this.rebuiltDepth, (parent === null ? 0 : 1) + subtreeHeight(built))
    linkLeaves(leaves)
    leaves[0]!.prev = before
    if (before !== null) before.next = leaves[0]!
    leaves[leaves.length - 1]!.next = after
    if (after !== null) after.prev = leaves[leaves.length - 1]!
    this.events.rebuilds++
  }

  /**
   * Whether the leaf's smallest and largest keys would route to different slots once `parent` doubles
   * (`ModelNode.expand`: the raw prediction doubles exactly), i.e. whether a sideways split would
   * then separate its keys.
   */
  private separatesAfterDoubling(leaf: DataNode, parent: ModelNode): boolean {
    const last = parent.fanout * 2 - 1
    const slotAfter = (key: number): number => {
      const s = Math.floor(((key * parent.m1 - parent.c) * parent.m2 + parent.b) * 2) + parent.offset * 2
      return !(s > 0) ? 0 : s < last ? s : last
    }
    return slotAfter(leaf.minKey()) !== slotAfter(leaf.maxKey())
  }

  /**
   * Splits `leaf` sideways within its block of slots in `parent`. Halves of the block that would get
   * none of its keys are cut off first as empty leaves (keys arriving in order fill one end of a wide
   * block); then the remaining block is split into two leaves at its middle. False, with nothing
   * changed, when the keys all route to one slot: the block cannot divide them.
   */
  private trySplitSideways(leaf: DataNode, parent: ModelNode, slot: number): boolean {
    let size = 1 << leaf.dupLog2
    let start = slot & ~(size - 1)
    const buffer = this.movingBuffer
    buffer.clear()
    leaf.copyTo(buffer)
    const n = buffer.length
    const lowSlot = n > 0 ? parent.slot(buffer.keys[0]!) : start
    const highSlot = n > 0 ? parent.slot(buffer.keys[n - 1]!) : start
    if (lowSlot === highSlot) {
      buffer.clear()
      return false
    }
    const before: DataNode[] = []
    const after: DataNode[] = []
    for (;;) {
      const half = size / 2
      const middle = start + half
      if (highSlot < middle) {
        after.unshift(this.emptyLeafFor(parent, middle, half))
      } else if (lowSlot >= middle) {
        before.push(this.emptyLeafFor(parent, start, half))
        start = middle
      } else {
        break
      }
      size = half
    }
    const middle = start + size / 2
    // First key routed at or past the middle slot (routing is monotone).
    let a = 0
    let b = n
    while (a < b) {
      const mid = (a + b) >>> 1
      if (parent.slot(buffer.keys[mid]!) >= middle) b = mid
      else a = mid + 1
    }
    const placement = leaf.appendPlacement()
    const left = withBuildCells(buffer.cells, () => buildDataNode(buffer.keys, buffer.values, 0, a, MIN_DENSITY, this.limits,
      placement === Placement.ROOM_LEFT ? Placement.ROOM_LEFT : Placement.SPREAD))
    const right = withBuildCells(buffer.cells, () => buildDataNode(buffer.keys, buffer.values, a, n, MIN_DENSITY, this.limits,
      placement === Placement.ROOM_RIGHT ? Placement.ROOM_RIGHT : Placement.SPREAD))
    buffer.clear()
    left.dupLog2 = right.dupLog2 = Math.log2(size) - 1
    for (let i = start; i < middle; i++) parent.children[i] = left
    for (let i = middle; i < start + size; i++) parent.children[i] = right
    this.replaceLeaf(leaf, [...before, left, right, ...after])
    this.events.sidewaysSplits++
    return true
  }

  /** A new empty leaf filling parent slots [start, start + size) (an aligned power-of-two block). */
  private emptyLeafFor(parent: ModelNode, start: number, size: number): DataNode {
    const leaf = new DataNode(MIN_DATA_NODE_SLOTS, false, this.limits.memory)
    leaf.dupLog2 = Math.log2(size)
    for (let i = start; i < start + size; i++) parent.children[i] = leaf
    return leaf
  }

  /**
   * Replaces `leaf` by a new model node whose children share its keys. Under a parent, the new node
   * covers exactly the key range of the leaf's block in the parent (the parent's model, rescaled, as
   * ALEX does), so later inserts anywhere in that range spread over its children; its fanout is the
   * smallest power of two (up to DOWNWARD_FANOUT_MAX) that leaves no child too full, or the largest
   * that divides the keys at all. Only if even that leaves them all in one child, or the leaf is the
   * root, is the model fitted to the keys instead.
   */
  private splitDownward(leaf: DataNode, parent: ModelNode | null, slot: number, depth: number): void {
    const buffer = this.movingBuffer
    buffer.clear()
    leaf.copyTo(buffer)
    const n = buffer.length
    const childKeysMax = Math.floor(this.limits.maxDataNodeSlots * MIN_DENSITY)
    let node: ModelNode | null = null
    if (parent !== null) {
      const size = 1 << leaf.dupLog2
      const start = slot & ~(size - 1)
      const fanoutMax = Math.min(DOWNWARD_FANOUT_MAX, this.limits.maxFanout)
      for (let fanout = 2; fanout <= fanoutMax; fanout *= 2) {
        const candidate = new ModelNode(new Array<AlexNode>(fanout))
        const scale = fanout / size
        candidate.m1 = parent.m1
        candidate.c = parent.c
        candidate.m2 = parent.m2 * scale
        candidate.b = (parent.b + parent.offset - start) * scale
        const bounds = partitionBounds(candidate, buffer.keys, 0, n)
        let largest = 0
        for (let s = 0; s < fanout; s++) largest = Math.max(largest, bounds[s + 1]! - bounds[s]!)
        // Divides the keys, and either leaves every child room or is as wide as allowed.
        if (largest < n && (largest <= childKeysMax || fanout === fanoutMax)) {
          node = candidate
          break
        }
        // The keys fill a small part of the range: a level that only narrows the range (the other
        // children stay empty for the inserts that will come there) is still progress, as long as
        // the keys lie inside the range (not clamped into it) and the tree is not already deep.
        if (fanout === fanoutMax && depth < NARROWING_DEPTH_MAX) {
          const low = candidate.rawSlot(buffer.keys[0]!)
          const high = candidate.rawSlot(buffer.keys[n - 1]!)
          // ...and they span at least 1/16 of their child's range, so a few more levels divide them.
          const raw = (k: number): number => (k * candidate.m1 - candidate.c) * candidate.m2 + candidate.b
          const spread = Math.floor(raw(buffer.keys[0]!) * 16) !== Math.floor(raw(buffer.keys[n - 1]!) * 16)
          if (low >= 0 && high < fanout && spread) node = candidate
        }
      }
    }
    if (node === null) {
      node = trainModelNode(buffer.keys, 0, n, 2)
      balanceIfLopsided(node, buffer.keys, 0, n, this.limits)
    }
    const leaves: DataNode[] = []
    withBuildCells(buffer.cells, () => fillModelNode(node, buffer.keys, buffer.values, 0, n, this.limits, leaves, depth, true))
    buffer.clear()
    this.replaceChild(parent, leaf, node)
    this.replaceLeaf(leaf, leaves)
    this.events.downwardSplits++
  }

  /**
   * Puts `replacement` where `old` was: in old's block of `parent`, or as the root (whose domain
   * counters then start afresh). The replacement takes over old's block size.
   */
  private replaceChild(parent: ModelNode | null, old: AlexNode, replacement: AlexNode): void {
    replacement.dupLog2 = old.dupLog2
    if (parent === null) {
      this.root = replacement
      this.keysAboveDomain = this.keysBelowDomain = 0
      this.sizeAtLastLeftExpansion = this.sizeAtLastRightExpansion = this.count
      return
    }
    for (let i = 0; i < parent.fanout; i++) if (parent.children[i] === old) parent.children[i] = replacement
  }

  /** Puts `leaves` (in key order) in the leaf list where `leaf` was, and keeps the old leaf's counters. */
  private replaceLeaf(leaf: DataNode, leaves: DataNode[]): void {
    assert(leaves.length > 0, 'a leaf replaced by nothing')
    const first = leaves[0]!
    const last = leaves[leaves.length - 1]!
    for (let i = 0; i + 1 < leaves.length; i++) {
      leaves[i]!.next = leaves[i + 1]!
      leaves[i + 1]!.prev = leaves[i]!
    }
    first.prev = leaf.prev
    last.next = leaf.next
    if (leaf.prev !== null) leaf.prev.next = first
    if (leaf.next !== null) leaf.next.prev = last
    leaf.prev = leaf.next = null
    this.retire(leaf)
  }

  /** `leaf` has left the index for good: its bytes are given back (its counts are in the tally). */
  private retire(leaf: DataNode): void {
    leaf.memory.release(leaf)
  }

  private retireSubtree(node: AlexNode): void {
    if (node.isLeaf) {
      this.retire(node)
      return
    }
    let previous: AlexNode | null = null
    for (const child of node.children) {
      if (child !== previous) this.retireSubtree(child)
      previous = child
    }
  }

  // ---- root expansion -----------------------------------------------------------------------

  /** Counts inserts outside the root's key domain and grows the root toward them when they persist. */
  private noteDomain(key: number): void {
    const root = this.root as ModelNode
    const raw = root.rawSlot(key)
    if (raw >= 0 && raw < root.fanout) return
    const right = raw >= root.fanout
    const outside = right ? ++this.keysAboveDomain : ++this.keysBelowDomain
    const sizeAtLast = right ? this.sizeAtLastRightExpansion : this.sizeAtLastLeftExpansion
    const tolerance = 2 * (this.count / Math.max(sizeAtLast, 1) - 1)
    if (!((outside >= OUT_OF_DOMAIN_MIN_KEYS && outside >= tolerance) || outside >= OUT_OF_DOMAIN_MAX_KEYS)) return
    this.tryExpandRoot(right, key)
  }

  /**
   * `key`, in `edge`, lies beyond the domain of the leaf's parent (`path` ends with it). Among the
   * ancestors on `path` that see it beyond their domain (the lowest ones), grows the lowest that can
   * grow in place to cover it; if none can and the root is among them, puts a new root above. False when
   * the key is within the parent's domain, or so far away (more than ROOT_EXPANSION_FACTOR_MAX times
   * the domain) that it is an outlier or the start of a new cluster: the caller splits the leaf as
   * usual, which fits a model to the keys.
   */
  private widenEdge(right: boolean, key: number, path: ModelNode[], edge: DataNode): boolean {
    if (this.expandingRoot || path.length === 0) return false
    let highest = -1
    let rootFactor = Infinity
    for (let i = path.length - 1; i >= 0; i--) {
      const node = path[i]!
      const raw = node.rawSlot(key)
      if (right ? raw < node.fanout : raw >= 0) break // in this node's domain: nothing above needs to grow
      highest = i
      const factor = expansionFactor(node.fanout, right ? raw + 1 : node.fanout - raw)
      if (factor > ROOT_EXPANSION_FACTOR_MAX) return false // far away: an outlier or a new cluster
      if (node.fanout * factor <= this.fanoutCap(node)) {
        this.expandInPlace(node, right, factor, edge)
        return true
      }
      rootFactor = factor
    }
    // No node can grow in place. At the root, a new root above it widens the whole domain, if one
    // new level is enough to reach the key; otherwise (and below the root) the leaf splits as usual.
    if (highest !== 0 || rootFactor > this.limits.maxFanout) return false
    if (path.length + 1 > this.depthLimit()) return false
    this.growAbove(path[0]!, null, right, edge, rootFactor)
    return true
  }

  /**
   * Grows the root's domain toward `key` (which lies outside it) unless that would take more than
   * ROOT_EXPANSION_FACTOR_MAX times the width: such a key is an outlier and stays in the edge leaf.
   */
  private tryExpandRoot(right: boolean, key: number): boolean {
    const root = this.root as ModelNode
    if (right) {
      this.keysAboveDomain = 0
      this.sizeAtLastRightExpansion = this.count
    } else {
      this.keysBelowDomain = 0
      this.sizeAtLastLeftExpansion = this.count
    }
    const fanout = root.fanout
    const raw = root.rawSlot(key)
    const factor = expansionFactor(fanout, right ? raw + 1 : fanout - raw)
    if (factor > ROOT_EXPANSION_FACTOR_MAX) return false
    return this.expandRoot(right, factor)
  }

  /**
   * Widens the root's key domain `factor` times toward one side. In place while the fanout allows
   * (the new slots get new empty data nodes, one per old-fanout-sized block), else under a new root
   * whose model is the old root's, scaled. Then the keys that now route outside the old root's
   * block (they sat in the edge data node, out of its domain) move to the new nodes.
   */
  /**
   * Grows the root `factor` times toward one side, in place or with a new root; false if neither fits
   * (a new root would make the tree deeper than the depth limit: keys growing exponentially).
   */
  private expandRoot(right: boolean, factor: number): boolean {
    const root = this.root as ModelNode
    const edge = right ? this.lastLeaf() : this.firstLeaf()
    if (root.fanout * factor <= this.fanoutCap(root)) this.expandInPlace(root, right, factor, edge)
    else if (factor <= this.limits.maxFanout && subtreeHeight(root) + 1 <= this.depthLimit()) {
      this.growAbove(root, null, right, edge, factor)
    } else return false
    return true
  }

  /**
   * Widens the key domain of `node`, a model node on the edge of the tree (every key beyond its domain
   * on that side routes to it), `factor` times toward one side: its child array grows, the old
   * children keep their slots and their routing (the model is untouched; growing left adds to the
   * integer offset), and the new slots get new empty leaves. Then the keys beyond the old domain,
   * which sat clamped in the edge leaf, move to the new leaves.
   */
  private expandInPlace(node: ModelNode, right: boolean, factor: number, edge: DataNode): void {
    assert(Number.isInteger(Math.log2(factor)) && factor >= 2, 'expansion factor must be a power of two')
    const fanout = node.fanout
    const children: AlexNode[] = new Array<AlexNode>(fanout * factor)
    const oldStart = right ? 0 : fanout * (factor - 1)
    const oldEnd = oldStart + fanout
    for (let i = 0; i < fanout; i++) children[oldStart + i] = node.children[i]!
    const newLeaves: DataNode[] = []
    this.fillWithEmptyLeaves(children, right ? fanout : 0, right ? fanout * factor : oldStart, right, newLeaves)
    node.children = children
    if (!right) node.offset += fanout * (factor - 1)
    this.finishExpansion(right, edge, newLeaves, (key) => {
      const s = node.slot(key)
      return s >= oldStart && s < oldEnd
    })
  }

  /**
   * Puts a new model node above `node` (the root when `parent` is null), in node's place; `node`
   * fills one slot of it. The new node's model is node's divided by
   * its fanout (exact: a power of two), with node's offset folded in, so node's domain is one slot
   * wide. The new node is as wide as the growth needs or the key count affords, whichever is more.
   */
  private growAbove(node: ModelNode, parent: ModelNode | null, right: boolean, edge: DataNode, factor: number): void {
    // As wide as the growth needs, or as the key count affords (one pointer per KEYS_PER_POINTER_MIN).
    let fanout = 2
    while (fanout < factor || fanout * 2 <= this.count / KEYS_PER_POINTER_MIN) fanout *= 2
    fanout = Math.min(fanout, this.limits.maxFanout)
    const above = new ModelNode(new Array<AlexNode>(fanout))
    above.m1 = node.m1
    above.c = node.c
    above.m2 = node.m2 / node.fanout
    above.b = (node.b + node.offset) / node.fanout
    const oldSlot = right ? 0 : fanout - 1
    above.offset = oldSlot
    above.dupLog2 = node.dupLog2
    node.dupLog2 = 0
    above.children[oldSlot] = node
    const newLeaves: DataNode[] = []
    this.fillWithEmptyLeaves(above.children, right ? 1 : 0, right ? fanout : oldSlot, right, newLeaves)
    if (parent === null) {
      this.root = above
    } else {
      for (let i = 0; i < parent.fanout; i++) if (parent.children[i] === node) parent.children[i] = above
    }
    this.finishExpansion(right, edge, newLeaves, (key) => above.slot(key) === oldSlot)
  }

  /**
   * Links the new leaves next to `edge` (the grown node's last leaf when growing right, its first
   * when growing left), then moves the keys that no longer route to the old part.
   */
  private finishExpansion(
    right: boolean,
    edge: DataNode,
    newLeaves: DataNode[],
    staysInOld: (key: number) => boolean,
  ): void {
    // New leaves are in key order and all on one side of the old ones.
    const first = newLeaves[0]!
    const last = newLeaves[newLeaves.length - 1]!
    for (let i = 0; i + 1 < newLeaves.length; i++) {
      newLeaves[i]!.next = newLeaves[i + 1]!
      newLeaves[i + 1]!.prev = newLeaves[i]!
    }
    if (right) {
      last.next = edge.next
      if (edge.next !== null) edge.next.prev = last
      edge.next = first
      first.prev = edge
    } else {
      first.prev = edge.prev
      if (edge.prev !== null) edge.prev.next = first
      edge.prev = last
      last.next = edge
    }
    this.events.rootExpansions++
    this.version++
    const wasExpanding = this.expandingRoot
    this.expandingRoot = true
    try {
      this.rehomeEdgeKeys(right, edge, staysInOld)
    } finally {
      this.expandingRoot = wasExpanding
    }
  }

  /** The widest `node` may grow in place: maxFanout, and one pointer per KEYS_PER_POINTER_MIN keys. */
  private fanoutCap(node: ModelNode): number {
    let cap = node.fanout * 2
    while (cap * 2 <= this.count / KEYS_PER_POINTER_MIN) cap *= 2
    return Math.min(this.limits.maxFanout, cap)
  }

  /**
   * Fills children[from..to) with new empty leaves in aligned power-of-two blocks that grow away from
   * the old part (which is next to `from` when growing right, next to `to` when growing left), so that
   * a domain grown k-fold costs log2(k) nodes. Appends the leaves to `out` in key order.
   */
  private fillWithEmptyLeaves(children: AlexNode[], from: number, to: number, right: boolean, out: DataNode[]): void {
    const blocks: Array<[number, number]> = []
    if (right) {
      for (let start = from; start < to; ) {
        const size = start === 0 ? to : start & -start // largest aligned block starting here
        const end = Math.min(start + size, to)
        blocks.push([start, end])
        start = end
      }
    } else {
      for (let end = to; end > from; ) {
        const size = end & -end
        const start = Math.max(end - size, from)
        blocks.unshift([start, end])
        end = start
      }
    }
    for (const [start, end] of blocks) {
      const leaf = new DataNode(16, false, this.limits.memory)
      leaf.dupLog2 = Math.log2(end - start)
      for (let i = start; i < end; i++) children[i] = leaf
      out.push(leaf)
    }
  }

  /**
   * After a domain grew: walks the old leaves from the edge inward and takes out every key that no
   * longer routes to the old part (keys beyond the old domain sit at the edge, in key order, possibly
   * over several leaves, some of them empty), then inserts them again, which routes them to the new
   * leaves.
   */
  private rehomeEdgeKeys(right: boolean, edge: DataNode, staysInOld: (key: number) => boolean): void {
    const moving = new KeyBuffer()
    const width = this.limits.memory.cellBytes ?? 0
    moving.useCells(width)
    const from: DataNode[] = []
    scan: for (let leaf: DataNode | null = edge; leaf !== null; leaf = right ? leaf.prev : leaf.next) {
      let slot = right ? leaf.lastSlot() : leaf.firstSlot()
      while (slot >= 0 && slot < leaf.capacity) {
        const key = leaf.keys[slot]!
        if (staysInOld(key)) break scan
        moving.reserve(moving.length + 1)
        moving.keys[moving.length] = key
        const value = leaf.values[slot]!
        moving.values[moving.length] = value
        if (value < 0 && width > 0) leaf.copyCell(slot, moving.cells, moving.length * width)
        moving.length++
        from.push(leaf)
        slot = right ? leaf.prevOccupied(slot - 1) : leaf.nextOccupied(slot + 1)
      }
    }
    for (let i = 0; i < moving.length; i++) {
      const removed = from[i]!.delete(moving.keys[i]!)
      assert(removed, 'rehomed key missing from its leaf')
    }
    this.count -= moving.length
    // The insert that caused this may have staged its cell: each moved key stages its own, and the
    // insert's is put back after.
    const staged = stagedCellSave()
    try {
      for (let i = 0; i < moving.length; i++) {
        const value = moving.values[i]!
        if (value < 0 && width > 0) stageCell(moving.cells, i * width, -value - 1)
        this.upsertRaw(moving.keys[i]!, value)
      }
    } finally {
      stageCell(staged.bytes, staged.at, staged.length)
    }
  }

  private firstLeaf(): DataNode {
    let node = this.root
    while (!node.isLeaf) node = node.children[0]!
    return node
  }

  private lastLeaf(): DataNode {
    let node = this.root
    while (!node.isLeaf) node = node.children[node.fanout - 1]!
    return node
  }

  // ---- values -------------------------------------------------------------------------------

  /** The slot value that stands for `value` (see `objects`). */
  private encode(value: V): number {
    let objects = this.objects
    if (objects === null) {
      if (typeof value === 'number') return value
      objects = this.boxValues()
    }
    const id = this.freeObjects.pop()
    if (id === undefined) {
      objects.push(value)
      return objects.length - 1
    }
    objects[id] = value
    return id
  }

  private decode(raw: number): V {
    return (this.objects === null ? raw : this.objects[raw]) as V
  }

  /** A slot value is gone from the index (overwritten, deleted): its object, if any, is freed. */
  private release(raw: number): void {
    if (this.objects === null) return
    this.objects[raw] = undefined
    this.freeObjects.push(raw)
  }

  /** Moves every value into `objects` (the first value that is not a number has come). */
  private boxValues(): unknown[] {
    const objects: unknown[] = []
    for (let leaf: DataNode | null = this.firstLeaf(); leaf !== null; leaf = leaf.next) {
      const values = leaf.values
      for (let slot = leaf.nextOccupied(0); slot < leaf.capacity; slot = leaf.nextOccupied(slot + 1)) {
        objects.push(values[slot])
        values[slot] = objects.length - 1
      }
      leaf.dirty = true
    }
    this.objects = objects
    return objects
  }

  /** @internal The value in `slot` of `leaf` (an occupied slot). */
  valueAt(leaf: DataNode, slot: number): V {
    return this.decode(leaf.values[slot]!)
  }

  // ---- iteration ----------------------------------------------------------------------------

  entries(range?: AlexRange): IndexIterator<[number, V]> {
    return new RangeIterator<V, [number, V]>(this, checkRange(range), 0)
  }

  keys(range?: AlexRange): IterableIterator<number> {
    return new RangeIterator<V, number>(this, checkRange(range), 1)
  }

  values(range?: AlexRange): IterableIterator<V> {
    return new RangeIterator<V, V>(this, checkRange(range), 2)
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries()
  }

  forEach(fn: (value: V, key: number, index: this) => void): void {
    for (const [key, value] of this.entries()) fn(value, key, this)
  }

  /** @internal Current version; iterators compare it to notice changes. */
  get modificationVersion(): number {
    return this.version
  }

  /** @internal First (leaf, slot) with key >= key (or > key); slot is capacity when none. */
  seekForward(key: number, inclusive: boolean, out: Cursor): void {
    let leaf: DataNode | null = key === -Infinity ? this.firstLeaf() : this.leafFor(key)
    let slot = key === -Infinity ? leaf.firstSlot() : leaf.lowerBoundSlot(key, this.countReads)
    if (!inclusive && slot < leaf.capacity && leaf.keys[slot] === key) slot = leaf.nextOccupied(slot + 1)
    while (slot >= leaf.capacity) {
      leaf = leaf.next
      if (leaf === null) break
      slot = leaf.firstSlot()
    }
    out.leaf = leaf
    out.slot = leaf === null ? 0 : slot
  }

  /** @internal Last (leaf, slot) with key <= key (or < key). */
  seekBackward(key: number, inclusive: boolean, out: Cursor): void {
    let leaf: DataNode | null = key === Infinity ? this.lastLeaf() : this.leafFor(key)
    let slot = key === Infinity ? leaf.lastSlot() : leaf.floorSlot(key, this.countReads)
    if (!inclusive && slot >= 0 && leaf.keys[slot] === key) slot = leaf.prevOccupied(slot - 1)
    while (slot < 0) {
      leaf = leaf.prev
      if (leaf === null) break
      slot = leaf.lastSlot()
    }
    out.leaf = leaf
    out.slot = leaf === null ? 0 : slot
  }

  // ---- statistics and checks ----------------------------------------------------------------

  stats(): AlexStats {
    const s = {
      dataNodes: 0, modelNodes: 0, maxDepth: 0, depthKeySum: 0, indexBytes: 0, dataBytes: 0, dataSlots: 0,
    }
    const visit = (node: AlexNode, depth: number): void => {
      if (node.isLeaf) {
        s.dataNodes++
        s.maxDepth = Math.max(s.maxDepth, depth)
        s.depthKeySum += depth * node.numKeys
        s.indexBytes += DATA_NODE_HEADER_BYTES
        // From the capacity, not the arrays: stats never reads an evicted leaf back.
        s.dataBytes += node.capacity * 16 + 4 * ((node.capacity + 31) >>> 5)
        s.dataSlots += node.capacity
        return
      }
      s.modelNodes++
      s.indexBytes += MODEL_NODE_HEADER_BYTES + 8 * node.fanout
      let previous: AlexNode | null = null
      for (const child of node.children) {
        if (child !== previous) visit(child, depth + 1)
        previous = child
      }
    }
    visit(this.root, 0)
    // Every search and insert the index's nodes have counted, those since gone included.
    const tally = this.limits.memory.tally
    const searches = tally[Tally.SEARCHES]!
    const inserts = tally[Tally.INSERTS]!
    return {
      size: this.count,
      dataNodes: s.dataNodes,
      modelNodes: s.modelNodes,
      maxDepth: s.maxDepth,
      avgDepth: this.count > 0 ? s.depthKeySum / this.count : 0,
      indexBytes: s.indexBytes,
      dataBytes: s.dataBytes,
      dataSlots: s.dataSlots,
      avgSearchIterations: searches > 0 ? tally[Tally.SEARCH_ITERATIONS]! / searches : 0,
      avgShiftsPerInsert: inserts > 0 ? tally[Tally.SHIFTS]! / inserts : 0,
      searches,
      inserts,
      ...this.events,
    }
  }

  /**
   * Verifies every invariant: each data node's own (data-node.ts), each model node's (model-node.ts),
   * that every key routes from the root to the data node holding it, that the leaf list is the
   * in-order sequence of data nodes, that keys increase across leaves, and the key count.
   * Throws a StoreError with code CORRUPTION naming the first violation.
   */
  check(): void {
    const fail = (what: string): never => {
      throw new StoreError(ErrorCode.CORRUPTION, `ALEX index: ${what}`)
    }
    const inOrder: DataNode[] = []
    const visit = (node: AlexNode, depth: number, path: string): void => {
      if (depth > MAX_DEPTH) fail(`deeper than ${MAX_DEPTH} at ${path}`)
      if (node.isLeaf) {
        node.check(this.limits.maxDataNodeSlots, path)
        inOrder.push(node)
        return
      }
      const fanout = node.fanout
      if (fanout < 2 || (fanout & (fanout - 1)) !== 0 || fanout > this.limits.maxFanout) fail(`model node ${path} has fanout ${fanout}`)
      if (!(node.m1 > 0 && node.m2 > 0 && Number.isFinite(node.m2) && Number.isFinite(node.b))) fail(`model node ${path} has a bad model`)
      for (let s = 0; s < fanout; ) {
        const child = node.children[s]
        if (child === undefined) return fail(`model node ${path} slot ${s} is empty`)
        const size = 1 << child.dupLog2
        if (s % size !== 0 || s + size > fanout) fail(`child at ${path}/${s} is not an aligned block of ${size}`)
        for (let i = s; i < s + size; i++) if (node.children[i] !== child) fail(`child at ${path}/${s} does not fill its block`)
        visit(child, depth + 1, `${path}/${s}`)
        s += size
      }
    }
    visit(this.root, 0, 'root')
    let total = 0
    let previousKey = -Infinity
    for (let i = 0; i < inOrder.length; i++) {
      const leaf = inOrder[i]!
      if (leaf.prev !== (i > 0 ? inOrder[i - 1]! : null)) fail(`leaf ${i} has a wrong prev link`)
      if (leaf.next !== (i + 1 < inOrder.length ? inOrder[i + 1]! : null)) fail(`leaf ${i} has a wrong next link`)
      for (let slot = leaf.firstSlot(); slot < leaf.capacity; slot = leaf.nextOccupied(slot + 1)) {
        const key = leaf.keys[slot]!
        if (!(key > previousKey)) fail(`keys out of order across leaves: ${previousKey} then ${key}`)
        previousKey = key
        if (this.leafFor(key) !== leaf) fail(`key ${key} is not reachable from the root`)
        total++
      }
    }
    if (total !== this.count) fail(`size is ${this.count} but ${total} keys are stored`)
  }
}

function subtreeHeight(node: AlexNode): number {
  if (node.isLeaf) return 0
  let height = 0
  let previous: AlexNode | null = null
  for (const child of node.children) {
    if (child !== previous) height = Math.max(height, subtreeHeight(child))
    previous = child
  }
  return height + 1
}

/**
 * How many times wider (a power of two, at least 2) a domain of `fanout` slots must grow to hold
 * `needed` slots; more than ROOT_EXPANSION_FACTOR_MAX means "too far" (it may be Infinity).
 */
function expansionFactor(fanout: number, needed: number): number {
  let factor = 2
  while (factor * fanout < needed && factor <= ROOT_EXPANSION_FACTOR_MAX) factor *= 2
  return factor
}

/** An iterator over an index's entries that can also read the last entry's cell (`cellCopy`). */
export interface IndexIterator<T> extends IterableIterator<T> {
  cellCopy(): Uint8Array
}

const EMPTY_BYTES = new Uint8Array(0)

/** @internal A position in the leaf list. */
export interface Cursor {
  leaf: DataNode | null
  slot: number
}

/** Ordered iteration between bounds, resilient to changes (see AlexIndex header). */
class RangeIterator<V, T> implements IterableIterator<T> {
  private readonly cursor: Cursor = { leaf: null, slot: 0 }
  private version: number
  private started = false
  private done = false
  private lastKey = 0

  constructor(
    private readonly index: AlexIndex<V>,
    private readonly bounds: Bounds,
    /** 0: [key, value] entries, 1: keys, 2: values. */
    private readonly mode: 0 | 1 | 2,
  ) {
    this.version = index.modificationVersion
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this
  }

  next(): IteratorResult<T> {
    if (this.done) return { done: true, value: undefined }
    const { bounds, cursor, index } = this
    if (!this.started || this.version !== index.modificationVersion) {
      if (!this.started) {
        if (bounds.reverse) index.seekBackward(bounds.upper, bounds.upperInclusive, cursor)
        else index.seekForward(bounds.lower, bounds.lowerInclusive, cursor)
      } else if (bounds.reverse) {
        index.seekBackward(this.lastKey, false, cursor)
      } else {
        index.seekForward(this.lastKey, false, cursor)
      }
      this.started = true
      this.version = index.modificationVersion
    } else {
      this.advance()
    }
    const leaf = cursor.leaf
    if (leaf === null) return this.finish()
    const key = leaf.keys[cursor.slot]!
    if (bounds.reverse) {
      if (key < bounds.lower || (key === bounds.lower && !bounds.lowerInclusive)) return this.finish()
    } else if (key > bounds.upper || (key === bounds.upper && !bounds.upperInclusive)) {
      return this.finish()
    }
    this.lastKey = key
    const value = index.valueAt(leaf, cursor.slot)
    this.lastLeaf = leaf
    this.lastSlot = cursor.slot
    if (this.mode === 0) return { done: false, value: [key, value] as T }
    return { done: false, value: (this.mode === 1 ? key : value) as T }
  }

  private lastLeaf: DataNode | null = null
  private lastSlot = -1

  /**
   * The value in the cell of the entry `next` just returned (its value was a cell value, < 0), as a
   * copy. Nothing may have run in between.
   */
  cellCopy(): Uint8Array {
    return this.lastLeaf!.cellCopy(this.lastSlot)
  }

  private advance(): void {
    const cursor = this.cursor
    let leaf = cursor.leaf
    if (leaf === null) return
    if (this.bounds.reverse) {
      let slot = leaf.prevOccupied(cursor.slot - 1)
      while (slot < 0) {
        leaf = leaf.prev
        if (leaf === null) break
        slot = leaf.lastSlot()
      }
      cursor.leaf = leaf
      cursor.slot = slot
    } else {
      let slot = leaf.nextOccupied(cursor.slot + 1)
      while (slot >= leaf.capacity) {
        leaf = leaf.next
        if (leaf === null) break
        slot = leaf.firstSlot()
      }
      cursor.leaf = leaf
      cursor.slot = slot
    }
  }

  private finish(): IteratorResult<T> {
    this.done = true
    this.cursor.leaf = null
    return { done: true, value: undefined }
  }

  return(): IteratorResult<T> {
    return this.finish()
  }
}
