/**
 * Leaf (DATA) pages: one ALEX data node per page, laid out so that its arrays are typed-array views
 * over the page bytes. Little-endian; offsets from the start of the page (docs/FORMAT.md):
 *
 *   @0   32  common page header (type DATA)
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
 *   @K+8C    value slots: capacity x (u32 value page id, u32 ref), NO_PAGE / 0 in a gap
 *   then zeros to the end of the page.
 *
 * A value slot is a value handle (value-page.ts) split in two u32 words.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import type { LeafImage } from '../alex/leaf-store.js'
import { NO_PAGE } from './page-format.js'
import { HANDLE_PAGE_FACTOR, VALUE_RECORDS_OFFSET, VALUE_RECORD_SHORT_HEADER_BYTES } from './value-page.js'

export const LeafOffset = {
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

const COUNTER_COUNT = 6

function bitmapWords(capacity: number): number {
  return (capacity + 31) >>> 5
}

function keysOffset(capacity: number): number {
  return (LeafOffset.BITMAP + 4 * bitmapWords(capacity) + 7) & ~7
}

/** Bytes a leaf of `capacity` slots needs. */
export function leafBytes(capacity: number): number {
  return keysOffset(capacity) + 16 * capacity
}

/** The most slots a leaf page of `pageSizeBytes` holds. */
export function leafCapacityMax(pageSizeBytes: number): number {
  let capacity = Math.floor((pageSizeBytes - LeafOffset.BITMAP) / 16)
  while (leafBytes(capacity) > pageSizeBytes) capacity--
  return capacity
}

/**
 * Writes `leaf` into `page` after the header (the caller seals the page): every byte past the
 * header, each once (the bitmap's padding and the tail past the value slots zeroed, rather than the
 * whole page first; 10M keys: 0.06 s less per bulk load).
 */
export function encodeLeafPage(page: Uint8Array, leaf: LeafImage<number>): void {
  const capacity = leaf.capacity
  assert(leafBytes(capacity) <= page.byteLength, `leaf of ${capacity} slots does not fit a ${page.byteLength}-byte page`)
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  view.setFloat64(LeafOffset.M1, leaf.m1, true)
  view.setFloat64(LeafOffset.C, leaf.c, true)
  view.setFloat64(LeafOffset.M2, leaf.m2, true)
  view.setFloat64(LeafOffset.B, leaf.b, true)
  view.setUint32(LeafOffset.CAPACITY, capacity, true)
  view.setUint32(LeafOffset.NUM_KEYS, leaf.numKeys, true)
  view.setFloat64(LeafOffset.EXPECTED_ITERATIONS, leaf.expectedIterations, true)
  view.setFloat64(LeafOffset.EXPECTED_SHIFTS, leaf.expectedShifts, true)
  const counters = [leaf.adaptSearches, leaf.adaptSearchIterations, leaf.adaptInserts, leaf.adaptShifts, leaf.adaptRightAppends, leaf.adaptLeftAppends]
  for (let i = 0; i < COUNTER_COUNT; i++) view.setFloat64(LeafOffset.COUNTERS + 8 * i, counters[i]!, true)
  const words = bitmapWords(capacity)
  const bitmap = leaf.bitmap
  new Uint32Array(page.buffer, page.byteOffset + LeafOffset.BITMAP, words).set(bitmap.subarray(0, words))
  const k = keysOffset(capacity)
  page.fill(0, LeafOffset.BITMAP + 4 * words, k)
  new Float64Array(page.buffer, page.byteOffset + k, capacity).set(leaf.keys.subarray(0, capacity))
  // Value slots: every one a gap (NO_PAGE, 0: one little-endian u64) first, then the occupied ones,
  // found through the bitmap: only numKeys handles are read, none of them a hole.
  const slotsAt = k + 8 * capacity
  new BigUint64Array(page.buffer, page.byteOffset + slotsAt, capacity).fill(GAP_SLOT)
  page.fill(0, slotsAt + 8 * capacity)
  const slots = new Uint32Array(page.buffer, page.byteOffset + slotsAt, 2 * capacity)
  const values = leaf.values
  for (let w = 0; w < words; w++) {
    let bits = bitmap[w]!
    while (bits !== 0) {
      const lowest = bits & -bits
      const s = (w << 5) + 31 - Math.clz32(lowest)
      const handle = values[s]
      if (handle === undefined) assert(false, `leaf slot ${s} is occupied but holds no value`)
      const pageId = Math.floor(handle / HANDLE_PAGE_FACTOR)
      slots[2 * s] = pageId
      slots[2 * s + 1] = handle - pageId * HANDLE_PAGE_FACTOR
      bits ^= lowest
    }
  }
}

/** A gap's value slot, (NO_PAGE, 0), as one little-endian u64. */
const GAP_SLOT = BigInt(NO_PAGE)

/**
 * Reads the leaf in a checked page. `keys` and `bitmap` are views over the page (no copy); values
 * are decoded to handles. Throws CORRUPTION (naming `where` and the field) when the sizes do not fit
 * the page, a value slot disagrees with the bitmap, or a value slot names a page outside
 * [2, pageCount) or a record offset outside a page's record area (value pages are the size of this
 * one); the index checks the node's own invariants afterwards.
 */
export function decodeLeafPage(page: Uint8Array, where: string, pageCount: number = NO_PAGE): LeafImage<number> {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  const capacity = view.getUint32(LeafOffset.CAPACITY, true)
  const numKeys = view.getUint32(LeafOffset.NUM_KEYS, true)
  if (capacity < 1 || leafBytes(capacity) > page.byteLength || numKeys > capacity) {
    throw new StoreError(ErrorCode.CORRUPTION, `${where}: capacity field ${capacity} and numKeys field ${numKeys}: the leaf does not fit its page`)
  }
  // A record offset o is stored as ref = 2 o + overflow bit; a record needs at least a short header.
  const refMin = 2 * VALUE_RECORDS_OFFSET
  const refMax = 2 * (page.byteLength - VALUE_RECORD_SHORT_HEADER_BYTES) + 1
  const words = bitmapWords(capacity)
  const bitmap = new Uint32Array(page.buffer, page.byteOffset + LeafOffset.BITMAP, words)
  const k = keysOffset(capacity)
  const keys = new Float64Array(page.buffer, page.byteOffset + k, capacity)
  const slots = new Uint32Array(page.buffer, page.byteOffset + k + 8 * capacity, 2 * capacity)
  const values: (number | undefined)[] = new Array<number | undefined>(capacity)
  for (let s = 0; s < capacity; s++) {
    const occupied = (bitmap[s >>> 5]! & (1 << (s & 31))) !== 0
    const pageId = slots[2 * s]!
    if (occupied !== (pageId !== NO_PAGE)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where}: value slot ${s} disagrees with the bitmap`)
    }
    if (!occupied) {
      values[s] = undefined
      continue
    }
    const ref = slots[2 * s + 1]!
    if (pageId < 2 || pageId >= pageCount || ref < refMin || ref > refMax) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where}: value slot ${s} names page ${pageId}, ref ${ref}: outside the ${pageCount} pages in use or a page's record area`)
    }
    values[s] = pageId * HANDLE_PAGE_FACTOR + ref
  }
  const counter = (i: number): number => {
    const value = view.getFloat64(LeafOffset.COUNTERS + 8 * i, true)
    if (!Number.isSafeInteger(value) || value < 0) throw new StoreError(ErrorCode.CORRUPTION, `${where}: cost counter ${i} is ${value}`)
    return value
  }
  return {
    m1: view.getFloat64(LeafOffset.M1, true),
    c: view.getFloat64(LeafOffset.C, true),
    m2: view.getFloat64(LeafOffset.M2, true),
    b: view.getFloat64(LeafOffset.B, true),
    capacity,
    numKeys,
    keys,
    bitmap,
    values,
    expectedIterations: view.getFloat64(LeafOffset.EXPECTED_ITERATIONS, true),
    expectedShifts: view.getFloat64(LeafOffset.EXPECTED_SHIFTS, true),
    adaptSearches: counter(0),
    adaptSearchIterations: counter(1),
    adaptInserts: counter(2),
    adaptShifts: counter(3),
    adaptRightAppends: counter(4),
    adaptLeftAppends: counter(5),
  }
}
