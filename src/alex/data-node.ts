/**
 * An ALEX data node: a gapped array of keys and values with a linear model that predicts each key's
 * slot.
 *
 * Layout (capacity slots):
 *   keys:   Float64Array. An occupied slot holds its key; a gap holds a copy of the next occupied
 *           key to its right, or +Infinity when there is none; the gaps in front of the first key
 *           hold -Infinity. So `keys` is non-decreasing and a run of equal finite values always ends
 *           with the occupied slot: a search never reads the bitmap. (The leading gaps hold -Infinity
 *           rather than the first key so that a new minimum costs only the gaps between it and the
 *           old minimum, not every gap in front: descending inserts stay O(1) per insert.)
 *   values: a value per occupied slot (a hole in gaps, reading as undefined, so nothing is kept alive
 *           by a gap).
 *   bitmap: bit i of word i >>> 5 is set when slot i is occupied.
 *
 * Invariants (checked by `check`):
 *   1. occupied keys are finite and strictly increasing; numKeys equals the number of set bits;
 *   2. each gap holds the next occupied key to its right, or +Infinity if there is none, or
 *      -Infinity if there is no occupied slot to its left (an empty node is all +Infinity);
 *   3. capacity <= the index's maxDataNodeSlots; no bit is set at or beyond capacity;
 *   4. the model is monotone with m1, m2 > 0 (see linear-model.ts).
 *
 * Keys are finite, so +Infinity never collides with a key.
 */

import { StoreError, ErrorCode } from '../errors.js'
import {
  APPEND_DENSITY,
  APPEND_MOSTLY_FRACTION,
  APPEND_MOSTLY_MIN_INSERTS,
  CATASTROPHIC_SHIFTS_PER_INSERT,
  CONTRACT_DENSITY,
  COST_DEVIATION_FACTOR,
  COST_DEVIATION_FLOOR,
  INIT_DENSITY,
  MAX_DENSITY,
  MIN_DATA_NODE_SLOTS,
  MIN_DENSITY,
  MIN_KEYS_FOR_COST_CHECK,
  dataNodeCost,
  log2Ceil1p,
} from './cost.js'
import { HEAP_MEMORY, Tally, type LeafImage, type LeafMemory } from './leaf-store.js'
import { fitModelRobust, predictSlot, type LinearModel } from './linear-model.js'
import { HeaderSlot, NodeOffset, bitmapWords, bufferF64, bufferU32, cellLength, cellsOffset, keysOffset, valuesOffset, writeNodeHeader } from './node-layout.js'

/** Outcomes of `DataNode.insert`. Non-negative: done. Negative: the node must change first. */
export const InsertResult = {
  INSERTED: 0,
  UPDATED: 1,
  /** Full, and its empirical cost is far above the expected cost: decide expand-retrain or split. */
  /** Inserted, after the node expanded (and retrained its model) to make room. */
  EXPANDED: 2,
  FAIL_COST_DEVIATION: -1,
  /** Inserts are shifting too many keys: split. */
  FAIL_CATASTROPHIC: -2,
  /** Full, and it cannot grow past the maximum size: split. */
  FAIL_MAX_SIZE: -3,
} as const

/** Where the keys go in a rebuilt node: spread over all of it, or packed to leave room at one end. */
export const Placement = { SPREAD: 0, ROOM_RIGHT: 1, ROOM_LEFT: 2 } as const
export type Placement = (typeof Placement)[keyof typeof Placement]

/** Keys and values being moved between nodes (resize, split): grown as needed, reused. */
export class KeyBuffer {
  keys = new Float64Array(1024)
  values = new Float64Array(1024)
  /** Entry i's cell at [i * cellBytes, (i + 1) * cellBytes), where the nodes have cells. */
  cells = NO_BYTES
  cellBytes = 0
  length = 0

  /** Makes room for n keys, keeping the first `length`. */
  reserve(n: number): void {
    if (this.keys.length < n) {
      let size = this.keys.length
      while (size < n) size *= 2
      const keys = new Float64Array(size)
      keys.set(this.keys.subarray(0, this.length))
      this.keys = keys
      const values = new Float64Array(size)
      values.set(this.values.subarray(0, this.length))
      this.values = values
    }
    if (this.cells.length < this.keys.length * this.cellBytes) {
      const cells = new Uint8Array(this.keys.length * this.cellBytes)
      cells.set(this.cells.subarray(0, this.length * this.cellBytes))
      this.cells = cells
    }
  }

  /** Takes entries with cells of `cellBytes` (the buffer must be empty to change it). */
  useCells(cellBytes: number): void {
    if (cellBytes === this.cellBytes) return
    if (this.length !== 0) throw new Error(`assertion failed: a key buffer holding entries with ${this.cellBytes}-byte cells given ${cellBytes}-byte ones`)
    this.cellBytes = cellBytes
    this.cells = NO_BYTES
    this.reserve(this.keys.length)
  }

  clear(): void {
    this.length = 0
  }
}

export class DataNode implements LinearModel {
  /** True (on the prototype: a field would cost every leaf's descriptor 8 bytes). */
  declare readonly isLeaf: true
  /** log2 of the number of consecutive parent slots that point at this node. */
  dupLog2 = 0
  capacity: number
  numKeys = 0
  /** Where the node's bytes live (leaf-store.ts): the heap, or the store's buffer pool frames. */
  readonly memory: LeafMemory
  // The node's slots, laid out as its leaf page (node-layout.ts), and views of them; null and empty
  // while the node is evicted (the getters below read them back first).
  private slotBytes: Uint8Array | null = null
  private views: NodeViews | null = null
  /**
   * The hot reads' path to the slots: one f64 view of the node's whole buffer, shared by every node
   * whose bytes live in that buffer (a buffer-pool chunk holds many frames), and where the keys start
   * in it (the values follow at keyBase + capacity). A lookup reads through these rather than
   * `views`, which are objects of the node's own: one memory access fewer per get where the leaves
   * are many.
   */
  private f64: Float64Array = NO_F64
  private keyBase = 0
  /**
   * Where byte 32 of the node's bytes is in `f64`: the model, expected costs and cost counters are
   * read and written there (node-layout.ts HeaderSlot), never kept in properties, so that an evicted
   * node holds none of them.
   */
  private hdr = 0

  // The model (slot = ((key * m1) - c) * m2 + b) and the costs, in the node's bytes: reading or
  // setting one of an evicted node reads its page back first.
  get m1(): number {
    return this.header(HeaderSlot.M1)
  }
  set m1(value: number) {
    this.setHeader(HeaderSlot.M1, value)
  }
  get c(): number {
    return this.header(HeaderSlot.C)
  }
  set c(value: number) {
    this.setHeader(HeaderSlot.C, value)
  }
  get m2(): number {
    return this.header(HeaderSlot.M2)
  }
  set m2(value: number) {
    this.setHeader(HeaderSlot.M2, value)
  }
  get b(): number {
    return this.header(HeaderSlot.B)
  }
  set b(value: number) {
    this.setHeader(HeaderSlot.B, value)
  }
  /** Search iterations and shifts per insert predicted at the last rebuild. */
  get expectedIterations(): number {
    return this.header(HeaderSlot.EXPECTED_ITERATIONS)
  }
  get expectedShifts(): number {
    return this.header(HeaderSlot.EXPECTED_SHIFTS)
  }

  private header(slot: number): number {
    if (this.slotBytes === null) this.fault()
    return this.f64[this.hdr + slot]!
  }

  private setHeader(slot: number, value: number): void {
    if (this.slotBytes === null) this.fault()
    this.f64[this.hdr + slot] = value
  }
  /** Bytes of each slot's cell (node-layout.ts; 0: none): the memory's. */
  get cellBytes(): number {
    return this.memory.cellBytes ?? 0
  }

  /** Where the cells start in `bytes`. */
  private get cellsAt(): number {
    return cellsOffset(this.capacity)
  }

  /** Keys at which an insert expands the node first, and below which a delete contracts it. */
  get expansionThreshold(): number {
    return Math.min(Math.floor(this.capacity * MAX_DENSITY), this.capacity - 1)
  }

  get contractionThreshold(): number {
    return this.capacity > MIN_DATA_NODE_SLOTS ? Math.floor(this.capacity * CONTRACT_DENSITY) : 0
  }
  prev: DataNode | null = null
  next: DataNode | null = null
  /** Id the leaf store gave this node's stored image (-1: never stored). Opaque to the index. */
  leafId = -1
  /** Flags.DIRTY, Flags.REFERENCED, Flags.UNVERIFIED (one field: a field each cost every descriptor 8 bytes). */
  private flags: number = Flags.DIRTY

  /** Keys, values or model changed since the leaf store last took the image. */
  get dirty(): boolean {
    return (this.flags & Flags.DIRTY) !== 0
  }
  set dirty(value: boolean) {
    this.flags = value ? this.flags | Flags.DIRTY : this.flags & ~Flags.DIRTY
  }
  /**
   * The value the last UPDATED insert overwrote or the last delete removed, of any node, for the
   * index to hand back right after the call (static: a field would cost every leaf's descriptor).
   */
  static replaced = 0

  /** The node's slots, laid out as its leaf page (node-layout.ts). */
  get bytes(): Uint8Array {
    if (this.slotBytes === null) this.fault()
    return this.slotBytes!
  }

  /**
   * Set whenever the keys are read (every search and scan step), cleared by the memory when it
   * considers evicting the node: a used node gets a second chance (the pool's recency list sees no
   * access that goes straight to a node's bytes).
   */
  get referenced(): boolean {
    return (this.flags & Flags.REFERENCED) !== 0
  }
  set referenced(value: boolean) {
    this.flags = value ? this.flags | Flags.REFERENCED : this.flags & ~Flags.REFERENCED
  }

  /** `capacity` keys; a gap holds the next key to its right (see the header). */
  get keys(): Float64Array {
    if (this.slotBytes === null) this.fault()
    this.flags |= Flags.REFERENCED
    return (this.views ?? this.makeViews()).keys
  }

  /** The slots' cells (a view of the node's bytes; empty when the node has none). */
  get cells(): Uint8Array {
    const bytes = this.bytes
    return bytes.subarray(this.cellsAt, this.cellsAt + this.capacity * this.cellBytes)
  }

  /**
   * Copies the value in `slot`'s cell (its value slot is cellValue(length) < 0) to target[at..] if it
   * fits, and returns its length either way. Allocates nothing.
   */
  copyCell(slot: number, target: Uint8Array, at: number): number {
    const bytes = this.bytes
    const length = cellLength(this.values[slot]!)
    if (length > target.byteLength - at) return length
    const from = this.cellsAt + slot * this.cellBytes
    for (let i = 0; i < length; i++) target[at + i] = bytes[from + i]!
    return length
  }

  /** The value in `slot`'s cell, as a copy. */
  cellCopy(slot: number): Uint8Array {
    const bytes = this.bytes
    const length = cellLength(this.values[slot]!)
    const from = this.cellsAt + slot * this.cellBytes
    return bytes.slice(from, from + length)
  }

  /**
   * Writes the cell of `slot`, whose value slot was just set to `value`: for a cell value, the bytes
   * staged by `stageCell`; zeros otherwise.
   */
  private writeCell(slot: number, value: number): void {
    const width = this.cellBytes
    if (width === 0) return
    const bytes = this.slotBytes!
    const at = this.cellsAt + slot * width
    if (value < 0) {
      const length = cellLength(value)
      if (!(length <= width && stagedCell.length >= length)) throw new Error(`assertion failed: cell value of ${length} bytes (cells hold ${width}; ${stagedCell.length} staged)`)
      bytes.set(stagedCell.bytes.subarray(stagedCell.at, stagedCell.at + length), at)
      bytes.fill(0, at + length, at + width)
    } else {
      bytes.fill(0, at, at + width)
    }
  }

  /** A value per occupied slot, 0 in a gap. */
  get values(): Float64Array {
    if (this.slotBytes === null) this.fault()
    return (this.views ?? this.makeViews()).values
  }

  get bitmap(): Uint32Array {
    if (this.slotBytes === null) this.fault()
    return (this.views ?? this.makeViews()).bitmap
  }

  /**
   * The node's own views of its slots, made when first asked for after its bytes were set, not at
   * every load: a lookup reads through `f64` and needs none, and views made at each load of a leaf
   * that stays a while in the pool outlive V8's young generation, so a cold-read workload piled
   * them up as old-generation garbage (heap use swinging by 100 MB between collections at 10M keys).
   */
  private makeViews(): NodeViews {
    const bytes = this.slotBytes!
    const buffer = bytes.buffer
    const at = bytes.byteOffset
    const capacity = this.capacity
    return (this.views = {
      bitmap: new Uint32Array(buffer, at + NodeOffset.BITMAP, bitmapWords(capacity)),
      keys: new Float64Array(buffer, at + keysOffset(capacity), capacity),
      values: new Float64Array(buffer, at + valuesOffset(capacity), capacity),
    })
  }


  /** Whether the node's bytes are in memory (a node is evicted only by its memory). */
  get resident(): boolean {
    return this.slotBytes !== null
  }

  /**
   * Drops the node's bytes (its memory has written them to its page, or they are unchanged since):
   * the next read of its slots loads them back. Model, sizes and counters stay.
   */
  evict(): void {
    this.slotBytes = null
    this.views = null
    this.f64 = NO_F64
  }

  /**
   * Flags.UNVERIFIED: set on a node described by the tree image whose page has not been read since
   * (an open reads no leaves): the first read of its bytes checks them against the node's invariants
   * (`check`).
   */
  private fault(): void {
    const bytes = this.memory.load(this)
    this.setBytes(bytes, this.capacity)
    if ((this.flags & Flags.UNVERIFIED) === 0) return
    try {
      this.check(this.capacity, `leaf ${this.leafId} (first read since open)`)
    } catch (error) {
      // Out of memory again, so that every later read checks (and refuses) it too.
      this.memory.unload(this)
      this.evict()
      throw error
    }
    this.flags &= ~Flags.UNVERIFIED
  }

  // What the cost checks have counted since the last rebuild (searches, their iterations, inserts,
  // the keys those shifted, inserts past the largest and below the smallest key), as a stored leaf
  // image carries them (leaf-store.ts). Their lifetime sums are the memory's tally (stats).
  get adaptSearches(): number {
    return this.header(HeaderSlot.SEARCHES)
  }
  get adaptSearchIterations(): number {
    return this.header(HeaderSlot.SEARCH_ITERATIONS)
  }
  get adaptInserts(): number {
    return this.header(HeaderSlot.INSERTS)
  }
  get adaptShifts(): number {
    return this.header(HeaderSlot.SHIFTS)
  }
  get adaptRightAppends(): number {
    return this.header(HeaderSlot.RIGHT_APPENDS)
  }
  get adaptLeftAppends(): number {
    return this.header(HeaderSlot.LEFT_APPENDS)
  }

  /**
   * An empty node of `capacity` slots. `forBuild`: `build` follows, which writes every key slot, so
   * the slots are left zero rather than filled with Infinity first.
   */
  constructor(capacity: number, forBuild = false, memory: LeafMemory = HEAP_MEMORY, bytes: Uint8Array | null = null) {
    this.memory = memory
    this.capacity = capacity
    if (bytes === NO_BYTES) return // evicted from the start (`described`)
    if (bytes !== null) {
      this.setBytes(bytes, capacity)
      return
    }
    this.allocate(capacity)
    // A model that sends every key to slot 0 (monotone, as check() wants) until the node is trained.
    this.f64[this.hdr + HeaderSlot.M1] = 1
    this.f64[this.hdr + HeaderSlot.M2] = Number.MIN_VALUE
    if (!forBuild) this.keys.fill(Infinity)
  }

  /**
   * A node whose bytes are a stored leaf page's (`bytes`, checked by the page layer): the model,
   * sizes and counters are theirs, and the node starts clean under `leafId`. The bytes are used in
   * place (no copy): a buffer pool frame, for a store.
   */
  static adopt(bytes: Uint8Array, leafId: number, memory: LeafMemory): DataNode {
    const view = new DataView(bytes.buffer, bytes.byteOffset, NodeOffset.BITMAP)
    const node = new DataNode(view.getUint32(NodeOffset.CAPACITY, true), true, memory, bytes)
    node.numKeys = view.getUint32(NodeOffset.NUM_KEYS, true)
    node.leafId = leafId
    node.dirty = false
    return node
  }

  /**
   * A node known by its size only (a leaf record of the tree image): evicted from the start, its page
   * `leafId` (which holds its model and counters) is read, and checked, when it is first used. The
   * caller has bounded the sizes (tree-image.ts).
   */
  static described(capacity: number, numKeys: number, leafId: number, memory: LeafMemory): DataNode {
    const node = new DataNode(capacity, true, memory, NO_BYTES)
    node.numKeys = numKeys
    node.leafId = leafId
    node.flags = Flags.UNVERIFIED
    return node
  }

  /**
   * A node holding a copy of a stored image (see leaf-store.ts); it starts clean under `leafId`. A
   * gap's value is not read (it is 0 in the node whatever the image holds there).
   */
  static fromImage(image: LeafImage<number>, leafId: number, memory: LeafMemory = HEAP_MEMORY): DataNode {
    const node = new DataNode(image.capacity, false, memory)
    node.keys.set(image.keys.subarray(0, image.capacity))
    node.bitmap.set(image.bitmap.subarray(0, node.bitmap.length))
    const values = node.values
    if (image.values instanceof Float64Array) {
      values.set(image.values.subarray(0, image.capacity))
      for (let slot = node.nextGap(0); slot < image.capacity; slot = node.nextGap(slot + 1)) values[slot] = 0
    } else {
      for (let slot = node.nextOccupied(0); slot < image.capacity; slot = node.nextOccupied(slot + 1)) {
        values[slot] = image.values[slot]!
      }
    }
    if (node.cellBytes > 0) {
      const cells = image.cells
      if (cells === undefined || cells.length < node.capacity * node.cellBytes) throw new Error('assertion failed: a leaf image without the cells its index has')
      node.cells.set(cells.subarray(0, node.capacity * node.cellBytes))
    }
    node.numKeys = image.numKeys
    writeNodeHeader(node.bytes, image)
    node.leafId = leafId
    node.dirty = false
    return node
  }

  // ---- search ---------------------------------------------------------------------------------

  predict(key: number): number {
    if (this.slotBytes === null) this.fault()
    const f = this.f64
    const h = this.hdr
    const p = (key * f[h]! - f[h + HeaderSlot.C]!) * f[h + HeaderSlot.M2]! + f[h + HeaderSlot.B]!
    if (!(p > 0)) return 0
    const last = this.capacity - 1
    if (p >= last) return last
    return p | 0
  }

  /**
   * Smallest slot whose key is > key (capacity if none), by exponential search from the prediction.
   * `counted`: the search feeds the node's cost counters (false for lookups of an index that does not
   * adapt to reads).
   */
  upperBound(key: number, counted = true): number {
    if (this.slotBytes === null) this.fault()
    this.flags |= Flags.REFERENCED
    const f = this.f64
    const base = this.keyBase
    if (counted) {
      f[this.hdr + HeaderSlot.SEARCHES]!++
      this.memory.tally[Tally.SEARCHES]!++
    }
    // Below every key: without this, a key below the minimum would search the whole gap run in front
    // of it (gaps there hold the minimum), which is what every insert of a descending sequence does.
    if (key < f[base]!) return 0
    const capacity = this.capacity
    // The prediction (as `predict`), from the view already in hand.
    const h = this.hdr
    const p = (key * f[h]! - f[h + HeaderSlot.C]!) * f[h + HeaderSlot.M2]! + f[h + HeaderSlot.B]!
    const start = p > 0 ? (p >= capacity - 1 ? capacity - 1 : p | 0) : 0
    let lo: number
    let hi: number
    let iterations = 0
    if (f[base + start]! > key) {
      hi = start
      let step = 1
      lo = start - 1
      while (lo >= 0 && f[base + lo]! > key) {
        hi = lo
        step <<= 1
        lo = start - step
        iterations++
      }
      if (lo < -1) lo = -1
    } else {
      lo = start
      let step = 1
      hi = start + 1
      while (hi < capacity && f[base + hi]! <= key) {
        lo = hi
        step <<= 1
        hi = start + step
        iterations++
      }
      if (hi > capacity) hi = capacity
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1
      if (f[base + mid]! > key) hi = mid
      else lo = mid
    }
    if (counted) {
      f[this.hdr + HeaderSlot.SEARCH_ITERATIONS]! += iterations
      this.memory.tally[Tally.SEARCH_ITERATIONS]! += iterations
    }
    return hi
  }

  /** The value in occupied `slot` of `key`'s search just done (the node is resident). */
  valueAt(slot: number): number {
    return this.f64[this.keyBase + this.capacity + slot]!
  }

  /** Slot of `key`, or -1. */
  find(key: number, counted = true): number {
    const u = this.upperBound(key, counted)
    // keys[u - 1] <= key < keys[u]; slot u - 1 is always occupied (a gap there would hold a key > key).
    return u > 0 && this.f64[this.keyBase + u - 1] === key ? u - 1 : -1
  }

  /** First occupied slot with key >= key, or capacity. */
  lowerBoundSlot(key: number, counted = true): number {
    const u = this.upperBound(key, counted)
    if (u > 0 && this.keys[u - 1] === key) return u - 1
    return this.nextOccupied(u)
  }

  /** Last occupied slot with key <= key, or -1. */
  floorSlot(key: number, counted = true): number {
    const slot = this.upperBound(key, counted) - 1
    return slot >= 0 && this.keys[slot] !== -Infinity ? slot : -1
  }

  // ---- bitmap ---------------------------------------------------------------------------------

  isOccupied(slot: number): boolean {
    return (this.bitmap[slot >>> 5]! & (1 << (slot & 31))) !== 0
  }

  /** First occupied slot >= from, or capacity. */
  nextOccupied(from: number): number {
    if (from >= this.capacity) return this.capacity
    const bitmap = this.bitmap
    let word = from >>> 5
    let bits = bitmap[word]! & (-1 << (from & 31))
    while (bits === 0) {
      word++
      if (word >= bitmap.length) return this.capacity
      bits = bitmap[word]!
    }
    return (word << 5) + 31 - Math.clz32(bits & -bits)
  }

  /** Last occupied slot <= from, or -1. */
  prevOccupied(from: number): number {
    if (from < 0) return -1
    const bitmap = this.bitmap
    let word = from >>> 5
    let bits = bitmap[word]! & (0xffffffff >>> (31 - (from & 31)))
    while (bits === 0) {
      word--
      if (word < 0) return -1
      bits = bitmap[word]!
    }
    return (word << 5) + 31 - Math.clz32(bits)
  }

  /** First gap >= from, or capacity. */
  private nextGap(from: number): number {
    const bitmap = this.bitmap
    let word = from >>> 5
    if (word >= bitmap.length) return this.capacity
    let bits = ~bitmap[word]! & (-1 << (from & 31))
    while (bits === 0) {
      word++
      if (word >= bitmap.length) return this.capacity
      bits = ~bitmap[word]!
    }
    const slot = (word << 5) + 31 - Math.clz32(bits & -bits)
    return slot < this.capacity ? slot : this.capacity
  }

  /** Last gap <= from, or -1. */
  private prevGap(from: number): number {
    if (from < 0) return -1
    const bitmap = this.bitmap
    let word = from >>> 5
    let bits = ~bitmap[word]! & (0xffffffff >>> (31 - (from & 31)))
    while (bits === 0) {
      word--
      if (word < 0) return -1
      bits = ~bitmap[word]!
    }
    return (word << 5) + 31 - Math.clz32(bits)
  }

  firstSlot(): number {
    return this.nextOccupied(0)
  }

  lastSlot(): number {
    return this.prevOccupied(this.capacity - 1)
  }

  minKey(): number {
    const slot = this.firstSlot()
    return slot < this.capacity ? this.keys[slot]! : Infinity
  }

  maxKey(): number {
    const slot = this.lastSlot()
    return slot >= 0 ? this.keys[slot]! : -Infinity
  }

  // ---- insert and delete ----------------------------------------------------------------------

  /**
   * Inserts or overwrites. Returns an InsertResult; on a FAIL_* result nothing changed and the
   * caller must expand-retrain or split the node, then insert again.
   */
  insert(key: number, value: number, maxSlots: number): number {
    this.flags |= Flags.DIRTY
    let u = this.upperBound(key)
    if (u > 0 && this.keys[u - 1] === key) {
      DataNode.replaced = this.values[u - 1]!
      this.values[u - 1] = value
      this.writeCell(u - 1, value)
      return InsertResult.UPDATED
    }
    if ((this.f64[this.hdr + HeaderSlot.INSERTS]! & 63) === 63 && this.isCatastrophic()) return InsertResult.FAIL_CATASTROPHIC
    if (this.numKeys >= this.expansionThreshold) {
      if (this.numKeys >= MIN_KEYS_FOR_COST_CHECK && this.hasCostDeviation()) {
        return InsertResult.FAIL_COST_DEVIATION
      }
      if (this.isCatastrophic()) return InsertResult.FAIL_CATASTROPHIC
      const grown = capacityFor(this.numKeys, MIN_DENSITY)
      if (grown > maxSlots) return InsertResult.FAIL_MAX_SIZE
      this.resize(grown, this.appendPlacement())
      this.insertAt(key, value, this.upperBound(key))
      return InsertResult.EXPANDED
    }
    this.insertAt(key, value, u)
    return InsertResult.INSERTED
  }

  /** Inserts a key known to be absent; u = upperBound(key). Requires at least one gap. */
  private insertAt(key: number, value: number, u: number): void {
    const keys = this.keys
    const capacity = this.capacity
    const leading = u > 0 && keys[u - 1] === -Infinity
    const f = this.f64
    const h = this.hdr
    if (u === capacity || keys[u] === Infinity) f[h + HeaderSlot.RIGHT_APPENDS]!++
    else if (u === 0 || leading) f[h + HeaderSlot.LEFT_APPENDS]!++
    f[h + HeaderSlot.INSERTS]!++
    this.memory.tally[Tally.INSERTS]!++
    this.numKeys++
    if (leading) {
      // A new minimum, with free slots [0, u) in front of the old one at u: take the predicted slot;
      // the gaps between it and u now lead to the old minimum.
      const predicted = this.predict(key)
      const pos = predicted < u ? predicted : u - 1
      const next = keys[u]!
      for (let i = pos + 1; i < u; i++) keys[i] = next
      keys[pos] = key
      this.values[pos] = value
      this.writeCell(pos, value)
      this.bitmap[pos >>> 5]! |= 1 << (pos & 31)
      return
    }
    if (u < capacity && !this.isOccupied(u)) {
      // Gap at u: any slot in [u, next occupied) keeps the order; take the predicted one if inside.
      const predicted = this.predict(key)
      let pos = u
      if (predicted > u) {
        const end = this.nextOccupied(u) - 1
        pos = predicted < end ? predicted : end
      }
      // u === 0 here only in an empty node: the gaps in front of the (new) first key hold -Infinity.
      const before = u === 0 ? -Infinity : key
      for (let i = u; i < pos; i++) keys[i] = before
      keys[pos] = key
      this.values[pos] = value
      this.writeCell(pos, value)
      this.bitmap[pos >>> 5]! |= 1 << (pos & 31)
      return
    }
    // Slot u is occupied (or u is past the end): shift toward the nearest gap.
    const right = u < capacity ? this.nextGap(u) : capacity
    const left = this.prevGap(u - 1)
    const values = this.values
    if (right < capacity && (left < 0 || right - u <= u - 1 - left)) {
      keys.copyWithin(u + 1, u, right)
      values.copyWithin(u + 1, u, right)
      this.moveCells(u + 1, u, right)
      keys[u] = key
      values[u] = value
      this.writeCell(u, value)
      this.bitmap[right >>> 5]! |= 1 << (right & 31)
      this.countShifts(right - u)
    } else {
      // left >= 0: the node is never completely full when an insert reaches here.
      keys.copyWithin(left, left + 1, u)
      values.copyWithin(left, left + 1, u)
      this.moveCells(left, left + 1, u)
      keys[u - 1] = key
      values[u - 1] = value
      this.writeCell(u - 1, value)
      this.bitmap[left >>> 5]! |= 1 << (left & 31)
      this.countShifts(u - 1 - left)
    }
  }

  private countShifts(shifted: number): void {
    this.f64[this.hdr + HeaderSlot.SHIFTS]! += shifted
    this.memory.tally[Tally.SHIFTS]! += shifted
  }

  /** The cells of slots [start, end) move to slots from `target` (as values.copyWithin). */
  private moveCells(target: number, start: number, end: number): void {
    const width = this.cellBytes
    if (width === 0) return
    const at = this.cellsAt
    this.slotBytes!.copyWithin(at + target * width, at + start * width, at + end * width)
  }

  /** Removes `key`; returns false when it is absent. Contracts the node when it gets sparse. */
  delete(key: number): boolean {
    const slot = this.find(key)
    if (slot < 0) return false
    this.removeAt(slot)
    if (this.numKeys < this.contractionThreshold) {
      const shrunk = capacityFor(this.numKeys, INIT_DENSITY)
      if (shrunk < this.capacity) this.resize(shrunk, Placement.SPREAD)
    }
    return true
  }

  private removeAt(slot: number): void {
    this.dirty = true
    const keys = this.keys
    const key = keys[slot]!
    DataNode.replaced = this.values[slot]!
    this.values[slot] = 0
    this.writeCell(slot, 0)
    this.bitmap[slot >>> 5]! &= ~(1 << (slot & 31))
    this.numKeys--
    if (this.numKeys === 0) {
      keys.fill(Infinity)
    } else if (slot === 0 || keys[slot - 1] === -Infinity) {
      // The first key goes: the slot and the gaps up to the new first key lead nothing now.
      const next = this.nextOccupied(slot + 1)
      for (let i = slot; i < next; i++) keys[i] = -Infinity
    } else {
      // The slot and the gaps before it held `key`; they now hold the next key to the right.
      const fill = slot + 1 < this.capacity ? keys[slot + 1]! : Infinity
      for (let i = slot; i >= 0 && keys[i] === key; i--) keys[i] = fill
    }
  }

  // ---- adaptation -----------------------------------------------------------------------------

  private isCatastrophic(): boolean {
    const inserts = this.adaptInserts
    return inserts > 0 && this.adaptShifts / inserts > CATASTROPHIC_SHIFTS_PER_INSERT
  }

  /** Fraction of searches since the last rebuild that were inserts (1 when there were none). */
  insertFraction(): number {
    const searches = this.adaptSearches
    return searches > 0 ? Math.min(1, this.adaptInserts / searches) : 1
  }

  private hasCostDeviation(): boolean {
    const searches = this.adaptSearches
    if (searches === 0) return false
    const inserts = this.adaptInserts
    const iterations = this.adaptSearchIterations / searches
    const shiftsPerInsert = inserts > 0 ? this.adaptShifts / inserts : 0
    const insertFraction = inserts / searches
    const empirical = dataNodeCost(iterations, shiftsPerInsert, insertFraction)
    const expected = dataNodeCost(this.expectedIterations, this.expectedShifts, insertFraction)
    return empirical > COST_DEVIATION_FLOOR && empirical > COST_DEVIATION_FACTOR * expected
  }

  /** Placement for a resize: leave room on the side most inserts went to, if they were one-sided. */
  appendPlacement(): Placement {
    const inserts = this.adaptInserts
    if (inserts < APPEND_MOSTLY_MIN_INSERTS) return Placement.SPREAD
    if (this.adaptRightAppends >= APPEND_MOSTLY_FRACTION * inserts) return Placement.ROOM_RIGHT
    if (this.adaptLeftAppends >= APPEND_MOSTLY_FRACTION * inserts) return Placement.ROOM_LEFT
    return Placement.SPREAD
  }

  /** Rebuilds this node in place with a new capacity and a retrained model. */
  resize(capacity: number, placement: Placement): void {
    const buffer = resizeBuffer
    buffer.clear()
    this.copyTo(buffer)
    this.allocate(capacity)
    const outer = buildCells
    buildCells = buffer.cells
    try {
      this.build(buffer.keys, buffer.values, 0, buffer.length, placement)
    } finally {
      buildCells = outer
    }
    buffer.clear()
  }

  /** Appends this node's keys and values, in order, to `out`. */
  copyTo(out: KeyBuffer): void {
    out.useCells(this.cellBytes)
    out.reserve(out.length + this.numKeys)
    const width = this.cellBytes
    if (width > 0) {
      // The cells of occupied slots, in order (gaps' cells are zero and skipped).
      const bytes = this.bytes
      const cells = out.cells
      const values = this.values
      let n = out.length
      for (let slot = this.nextOccupied(0); slot < this.capacity; slot = this.nextOccupied(slot + 1)) {
        if (values[slot]! < 0) cells.set(bytes.subarray(this.cellsAt + slot * width, this.cellsAt + (slot + 1) * width), n * width)
        else cells.fill(0, n * width, (n + 1) * width)
        n++
      }
    }
    const keys = this.keys
    const values = this.values
    const bitmap = this.bitmap
    const outKeys = out.keys
    const outValues = out.values
    let n = out.length
    for (let word = 0; word < bitmap.length; word++) {
      let bits = bitmap[word]!
      while (bits !== 0) {
        const lowest = bits & -bits
        const slot = (word << 5) + 31 - Math.clz32(lowest)
        outKeys[n] = keys[slot]!
        outValues[n] = values[slot]!
        n++
        bits ^= lowest
      }
    }
    out.length = n
  }

  /** New, zeroed slots for `capacity` (the old ones are dropped). */
  private allocate(capacity: number): void {
    this.setBytes(this.memory.allocate(this, capacity), capacity)
  }

  /** Makes `bytes` (nodeBytes(capacity) or more, laid out as node-layout.ts says) the node's slots. */
  private setBytes(bytes: Uint8Array, capacity: number): void {
    const buffer = bytes.buffer
    const at = bytes.byteOffset
    this.capacity = capacity
    this.slotBytes = bytes
    // The views are made when first asked for (makeViews).
    this.views = null
    this.f64 = bufferF64(buffer)
    this.keyBase = (at + keysOffset(capacity)) / 8
    this.hdr = (at + NodeOffset.M1) / 8
  }

  /**
   * Writes the node's sizes into its bytes (@64, @68; the rest of the header lives there already),
   * so that `bytes` is the whole node: what a leaf page stores.
   */
  writeHeader(): void {
    const bytes = this.bytes
    const u32 = bufferU32(bytes.buffer)
    const at = bytes.byteOffset >>> 2
    u32[at + (NodeOffset.CAPACITY >>> 2)] = this.capacity
    u32[at + (NodeOffset.NUM_KEYS >>> 2)] = this.numKeys
  }

  /**
   * Fills this empty node (its arrays are allocated) with keys[lo..hi), strictly increasing: trains
   * the model, places every key at its predicted slot or the first free one after it (keeping room
   * for the keys still to come), fills the gaps, and records the expected cost.
   */
  build(keys: ArrayLike<number>, values: ArrayLike<number>, lo: number, hi: number, placement: Placement): void {
    const n = hi - lo
    const capacity = this.capacity
    this.dirty = true
    trainForPlacement(this, keys, lo, hi, capacity, placement)
    const slots = this.keys
    const slotValues = this.values
    const bitmap = this.bitmap
    const width = this.cellBytes
    const cellBytes = this.slotBytes!
    let last = -1
    let iterationSum = 0
    let runLength = 0
    let runSquares = 0
    for (let i = 0; i < n; i++) {
      const key = keys[lo + i]!
      const predicted = this.predict(key)
      let pos = predicted > last ? predicted : last + 1
      const latest = capacity - (n - i)
      if (pos > latest) pos = latest
      iterationSum += log2Ceil1p(pos > predicted ? pos - predicted : predicted - pos)
      if (pos === last + 1) runLength++
      else {
        runSquares += runLength * runLength
        runLength = 1
      }
      slots[pos] = key
      const value = values[lo + i]!
      slotValues[pos] = value
      if (value < 0 && width > 0) {
        const from = (lo + i) * width
        if (buildCells.length < from + width) throw new Error('assertion failed: a cell value built without its cell')
        cellBytes.set(buildCells.subarray(from, from + width), this.cellsAt + pos * width)
      }
      bitmap[pos >>> 5]! |= 1 << (pos & 31)
      last = pos
    }
    runSquares += runLength * runLength
    let fill = Infinity
    for (let slot = capacity - 1; slot >= 0; slot--) {
      if ((bitmap[slot >>> 5]! & (1 << (slot & 31))) !== 0) fill = slots[slot]!
      else slots[slot] = fill
    }
    if (n > 0) {
      const first = this.nextOccupied(0)
      for (let slot = 0; slot < first; slot++) slots[slot] = -Infinity
    }
    this.numKeys = n
    this.setHeader(HeaderSlot.EXPECTED_ITERATIONS, n > 0 ? iterationSum / n : 0)
    this.setHeader(HeaderSlot.EXPECTED_SHIFTS, n > 0 ? runSquares / (4 * n) : 0)
    this.startEpoch()
  }

  /** Starts judging the node afresh (after a rebuild): its cost counters restart from zero. */
  startEpoch(): void {
    this.f64.fill(0, this.hdr + HeaderSlot.SEARCHES, this.hdr + HeaderSlot.LEFT_APPENDS + 1)
  }

  // ---- checks ---------------------------------------------------------------------------------

  /** Verifies the invariants in the header; throws CORRUPTION naming the broken one. */
  check(maxSlots: number, where: string): void {
    const fail = (what: string): never => {
      throw new StoreError(ErrorCode.CORRUPTION, `ALEX data node ${where}: ${what}`)
    }
    if (this.capacity > maxSlots || this.capacity < 1) fail(`capacity ${this.capacity} outside [1, ${maxSlots}]`)
    if (this.keys.length !== this.capacity || this.values.length !== this.capacity) fail('slot array length differs from capacity')
    if (!(this.m1 > 0 && this.m2 > 0 && Number.isFinite(this.m2) && Number.isFinite(this.b))) fail('bad model')
    let count = 0
    let previous = -Infinity
    let fill = Infinity
    const first = this.nextOccupied(0)
    for (let slot = this.capacity - 1; slot >= 0; slot--) {
      if (this.isOccupied(slot)) {
        fill = this.keys[slot]!
        if (!Number.isFinite(fill)) fail(`slot ${slot} holds a non-finite key`)
      } else {
        const expected = slot < first && first < this.capacity ? -Infinity : fill
        if (!Object.is(this.keys[slot], expected)) fail(`gap at slot ${slot} holds ${this.keys[slot]}, expected ${expected}`)
      }
    }
    for (let slot = 0; slot < this.capacity; slot++) {
      if (!this.isOccupied(slot)) {
        if (this.values[slot] !== 0) fail(`gap at slot ${slot} keeps a value`)
        continue
      }
      const key = this.keys[slot]!
      if (!(key > previous)) fail(`keys out of order at slot ${slot}: ${previous} then ${key}`)
      previous = key
      count++
      const value = this.values[slot]!
      if (this.cellBytes > 0 && value < 0 && !(Number.isInteger(value) && cellLength(value) <= this.cellBytes)) {
        fail(`slot ${slot} holds ${value}: not a value of at most ${this.cellBytes} bytes in its cell`)
      }
    }
    for (let bit = this.capacity; bit < this.bitmap.length * 32; bit++) {
      if ((this.bitmap[bit >>> 5]! & (1 << (bit & 31))) !== 0) fail(`bit ${bit} set beyond capacity`)
    }
    if (count !== this.numKeys) fail(`numKeys ${this.numKeys} but ${count} occupied slots`)
  }
}

Object.defineProperty(DataNode.prototype, 'isLeaf', { value: true })

/** A node's own views of its slots (made on first use after its bytes were set). */
interface NodeViews {
  keys: Float64Array
  values: Float64Array
  bitmap: Uint32Array
}

/** DataNode.flags bits. */
const Flags = { DIRTY: 1, REFERENCED: 2, UNVERIFIED: 4 } as const

const NO_F64 = new Float64Array(0)
const NO_BYTES = new Uint8Array(0)

/** Scratch space for `resize`; it is empty between calls. */
const resizeBuffer = new KeyBuffer()

/**
 * The cells of the entries `build` places (entry i's at [i * cellBytes, ...)), for nodes with cells:
 * set around a build from a KeyBuffer or a bulk load (`withBuildCells`); the values it holds that are
 * cell values (< 0) take their cell from here.
 */
let buildCells: Uint8Array = NO_BYTES

/** Runs `build` (any number of node builds) with entries' cells in `cells`. */
export function withBuildCells<T>(cells: Uint8Array, build: () => T): T {
  const outer = buildCells
  buildCells = cells
  try {
    return build()
  } finally {
    buildCells = outer
  }
}

/**
 * The bytes the next insert of a cell value (value slot < 0) writes into its cell: set by the index
 * just before the insert (`stageCell`). Staged rather than passed, because an insert may first
 * rebuild its node (expand, split) and only then place the key.
 */
const stagedCell: { bytes: Uint8Array; at: number; length: number } = { bytes: NO_BYTES, at: 0, length: 0 }

export function stageCell(bytes: Uint8Array, at: number, length: number): void {
  stagedCell.bytes = bytes
  stagedCell.at = at
  stagedCell.length = length
}

export function stagedCellSave(): { bytes: Uint8Array; at: number; length: number } {
  return { ...stagedCell }
}

export function capacityFor(numKeys: number, density: number): number {
  const capacity = Math.ceil(numKeys / density)
  return capacity > MIN_DATA_NODE_SLOTS ? capacity : MIN_DATA_NODE_SLOTS
}



/**
 * Trains `model` so that keys[lo..hi) spread over a capacity-slot node: over all of it, or, for
 * append-mostly nodes, packed at APPEND_DENSITY against one end, leaving the rest for appends.
 */
export function trainForPlacement(
  model: LinearModel,
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  capacity: number,
  placement: Placement,
): void {
  const n = hi - lo
  if (placement === Placement.SPREAD || n === 0) {
    fitModelRobust(model, keys, lo, hi, 0, capacity / Math.max(n, 1))
    return
  }
  const used = Math.min(capacity, Math.ceil(n / APPEND_DENSITY))
  const first = placement === Placement.ROOM_RIGHT ? 0 : capacity - used
  fitModelRobust(model, keys, lo, hi, first, used / n)
}

/**
 * The expected cost of a node holding keys[lo..hi) at `capacity` slots, without building it: the same
 * placement walk as `build`, counting instead of writing. When the keys are a sample of every
 * `errorScale`-th key of a larger node, slot errors and run lengths are multiplied by it (an error of
 * e sample slots is about e * errorScale slots of the full node).
 */
export function expectedCost(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  capacity: number,
  insertFraction: number,
  errorScale = 1,
): number {
  const n = hi - lo
  if (n === 0) return 0
  const model = scratchModel
  trainForPlacement(model, keys, lo, hi, capacity, Placement.SPREAD)
  let last = -1
  let iterationSum = 0
  let runLength = 0
  let runSquares = 0
  for (let i = 0; i < n; i++) {
    const predicted = predictSlot(model, keys[lo + i]!, capacity)
    let pos = predicted > last ? predicted : last + 1
    const latest = capacity - (n - i)
    if (pos > latest) pos = latest
    const error = (pos > predicted ? pos - predicted : predicted - pos) * errorScale
    iterationSum += log2Ceil1p(error < 0x40000000 ? error : 0x40000000)
    if (pos === last + 1) runLength++
    else {
      runSquares += runLength * runLength
      runLength = 1
    }
    last = pos
  }
  runSquares += runLength * runLength
  // Runs in a sample are errorScale times shorter than in the node, and shifts grow with run length.
  return dataNodeCost(iterationSum / n, (runSquares * errorScale) / (4 * n), insertFraction)
}

const scratchModel: LinearModel = { m1: 1, c: 0, m2: Number.MIN_VALUE, b: 0 }
