/**
 * The bytes of a data node. A data node keeps its slots in one byte array laid out exactly as its
 * leaf page (docs/FORMAT.md, "Leaf page"), so that storing a node is writing its bytes and loading
 * one is reading them: no encoding step between the index and the page. Little-endian; offsets from
 * the start of the node's bytes, which are the start of its page:
 *
 *   @0   32  reserved for the page layer's common header (type, id, checksum, ...)
 *   @32   8  m1 (f64)          the node's model: slot = ((key * m1) - c) * m2 + b
 *   @40   8  c  (f64)
 *   @48   8  m2 (f64)
 *   @56   8  b  (f64)
 *   @64   4  capacity (u32)    slots, keys plus gaps
 *   @68   4  numKeys (u32)
 *   @72   8  expected search iterations (f64), from training
 *   @80   8  expected shifts per insert (f64), from training
 *   @88  48  cost counters since the node was last trained (6 f64): searches, search iterations,
 *            inserts, shifts, inserts past the last key, inserts before the first key
 *   @136     bitmap: ceil(capacity / 32) u32 words, bit s set when slot s holds a key
 *   @K       keys: capacity f64, K = 136 + 4 * words rounded up to a multiple of 8
 *   @K+8C    values: capacity f64; 0 in a gap
 *   @K+16C   cells: capacity x W bytes, W = the index's cell width (0: no cells). A value of at most W
 *            bytes may sit in its slot's cell, beside its key; its value slot then holds
 *            -(length + 1) (cellValue), and the cell's bytes past the length are zero. A gap's cell
 *            is zero. W is fixed for an index (a store keeps it in its meta page).
 *
 * The model, the expected costs and the cost counters (@32..@64, @72..@136) live only in these bytes:
 * a node reads and writes them in place (HeaderSlot), so an evicted node keeps none of them in the
 * heap and its page is their one copy. Capacity and numKeys are also kept in the node's properties
 * (an evicted node still needs them) and written into the bytes when the node is stored (`writeHeader`).
 */

export const NodeOffset = {
  M1: 32,
  C: 40,
  M2: 48,
  B: 56,
  CAPACITY: 64,
  NUM_KEYS: 68,
  EXPECTED_ITERATIONS: 72,
  EXPECTED_SHIFTS: 80,
  COUNTERS: 88,
  BITMAP: 136,
} as const

/** Cost counters stored at NodeOffset.COUNTERS, one f64 each. */
export const NODE_COUNTERS = 6

/**
 * The header's f64 fields as indexes into an f64 view, counted from byte 32 (NodeOffset.M1): where a
 * resident node reads and writes its model, expected costs and cost counters.
 */
export const HeaderSlot = {
  M1: 0,
  C: 1,
  M2: 2,
  B: 3,
  EXPECTED_ITERATIONS: 5,
  EXPECTED_SHIFTS: 6,
  SEARCHES: 7,
  SEARCH_ITERATIONS: 8,
  INSERTS: 9,
  SHIFTS: 10,
  RIGHT_APPENDS: 11,
  LEFT_APPENDS: 12,
} as const

/** The fields at @32..@136: a node's model, sizes and cost counters (a LeafImage has them). */
export interface NodeHeader {
  m1: number
  c: number
  m2: number
  b: number
  capacity: number
  numKeys: number
  expectedIterations: number
  expectedShifts: number
  adaptSearches: number
  adaptSearchIterations: number
  adaptInserts: number
  adaptShifts: number
  adaptRightAppends: number
  adaptLeftAppends: number
}

/** Bytes of the node header (@32..@136): the same bytes lead a leaf's record in the tree image. */
export const NODE_HEADER_BYTES = NodeOffset.BITMAP - NodeOffset.M1

/** Writes `header` into bytes @32..@136 of `bytes` (a node's bytes, or its page). */
export function writeNodeHeader(bytes: Uint8Array, header: NodeHeader): void {
  writeNodeHeaderAt(new DataView(bytes.buffer, bytes.byteOffset, NodeOffset.BITMAP), NodeOffset.M1, header)
}

/** Writes `header` at byte `at` of `view`, laid out as @32..@136 of a node (at = 32 in a node). */
export function writeNodeHeaderAt(view: DataView, at: number, header: NodeHeader): void {
  const base = at - NodeOffset.M1
  view.setFloat64(base + NodeOffset.M1, header.m1, true)
  view.setFloat64(base + NodeOffset.C, header.c, true)
  view.setFloat64(base + NodeOffset.M2, header.m2, true)
  view.setFloat64(base + NodeOffset.B, header.b, true)
  view.setUint32(base + NodeOffset.CAPACITY, header.capacity, true)
  view.setUint32(base + NodeOffset.NUM_KEYS, header.numKeys, true)
  view.setFloat64(base + NodeOffset.EXPECTED_ITERATIONS, header.expectedIterations, true)
  view.setFloat64(base + NodeOffset.EXPECTED_SHIFTS, header.expectedShifts, true)
  const counters = [header.adaptSearches, header.adaptSearchIterations, header.adaptInserts, header.adaptShifts, header.adaptRightAppends, header.adaptLeftAppends]
  for (let i = 0; i < NODE_COUNTERS; i++) view.setFloat64(base + NodeOffset.COUNTERS + 8 * i, counters[i]!, true)
}

/** Reads the header written by `writeNodeHeaderAt(view, at, ...)`. Unchecked: the caller bounds it. */
export function readNodeHeaderAt(view: DataView, at: number): NodeHeader {
  const base = at - NodeOffset.M1
  const counter = (i: number): number => view.getFloat64(base + NodeOffset.COUNTERS + 8 * i, true)
  return {
    m1: view.getFloat64(base + NodeOffset.M1, true),
    c: view.getFloat64(base + NodeOffset.C, true),
    m2: view.getFloat64(base + NodeOffset.M2, true),
    b: view.getFloat64(base + NodeOffset.B, true),
    capacity: view.getUint32(base + NodeOffset.CAPACITY, true),
    numKeys: view.getUint32(base + NodeOffset.NUM_KEYS, true),
    expectedIterations: view.getFloat64(base + NodeOffset.EXPECTED_ITERATIONS, true),
    expectedShifts: view.getFloat64(base + NodeOffset.EXPECTED_SHIFTS, true),
    adaptSearches: counter(0),
    adaptSearchIterations: counter(1),
    adaptInserts: counter(2),
    adaptShifts: counter(3),
    adaptRightAppends: counter(4),
    adaptLeftAppends: counter(5),
  }
}

export function bitmapWords(capacity: number): number {
  return (capacity + 31) >>> 5
}

export function keysOffset(capacity: number): number {
  return (NodeOffset.BITMAP + 4 * bitmapWords(capacity) + 7) & ~7
}

export function valuesOffset(capacity: number): number {
  return keysOffset(capacity) + 8 * capacity
}

export function cellsOffset(capacity: number): number {
  return keysOffset(capacity) + 16 * capacity
}

/** Bytes a node of `capacity` slots with cells of `cellBytes` needs (and its leaf page holds, before the tail). */
export function nodeBytes(capacity: number, cellBytes = 0): number {
  return keysOffset(capacity) + (16 + cellBytes) * capacity
}

/** The most slots a node in `bytes` bytes can have. */
export function nodeCapacityMax(bytes: number, cellBytes = 0): number {
  let capacity = Math.floor((bytes - NodeOffset.BITMAP) / (16 + cellBytes))
  while (capacity > 0 && nodeBytes(capacity, cellBytes) > bytes) capacity--
  return capacity
}

/** The widest cell an index may have (a cell holds a value of at most this many bytes). */
export const CELL_BYTES_MAX = 256

/** The value slot of a value of `length` bytes kept in its cell: negative, never 0. */
export function cellValue(length: number): number {
  return -(length + 1)
}

/** The length of the value in a cell whose value slot is `value` (< 0). */
export function cellLength(value: number): number {
  return -value - 1
}

/**
 * One f64 and one u32 view of a whole buffer, shared by every node or page whose bytes live in it (a
 * buffer-pool chunk holds many frames): reading a node's slots through these and an offset makes no
 * object per node or per read.
 */
const f64Views = new WeakMap<ArrayBufferLike, Float64Array>()
const u32Views = new WeakMap<ArrayBufferLike, Uint32Array>()

export function bufferF64(buffer: ArrayBufferLike): Float64Array {
  let view = f64Views.get(buffer)
  if (view === undefined) f64Views.set(buffer, (view = new Float64Array(buffer, 0, Math.floor(buffer.byteLength / 8))))
  return view
}

export function bufferU32(buffer: ArrayBufferLike): Uint32Array {
  let view = u32Views.get(buffer)
  if (view === undefined) u32Views.set(buffer, (view = new Uint32Array(buffer, 0, Math.floor(buffer.byteLength / 4))))
  return view
}
