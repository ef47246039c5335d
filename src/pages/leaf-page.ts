/**
 * Leaf (DATA) pages: one ALEX data node per page. A data node keeps its slots in bytes laid out as
 * its page (src/alex/node-layout.ts has the table; docs/FORMAT.md "Leaf page"): the page is the
 * common header (type DATA) followed by the node's bytes from @32, then zeros to the end of the page.
 * A value slot is a value handle (value-page.ts) as an f64; 0 in a gap (a handle is never 0: value
 * pages start at page 2); or, in a store whose leaves have cells (its meta page says how wide), a
 * negative cell value: the value's bytes are in the slot's cell (node-layout.ts cellValue).
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import type { LeafImage } from '../alex/leaf-store.js'
import { DataNode } from '../alex/data-node.js'
import { NODE_COUNTERS, NodeOffset, bitmapWords, bufferF64, bufferU32, cellLength, cellsOffset, keysOffset, nodeBytes, nodeCapacityMax, readNodeHeaderAt, valuesOffset, writeNodeHeader } from '../alex/node-layout.js'
import { HANDLE_PAGE_FACTOR, VALUE_RECORDS_OFFSET, VALUE_RECORD_SHORT_HEADER_BYTES, readU32 } from './value-page.js'
import { NO_PAGE } from './page-format.js'

export const LeafOffset = NodeOffset

/** Bytes a leaf of `capacity` slots with cells of `cellBytes` needs. */
export function leafBytes(capacity: number, cellBytes = 0): number {
  return nodeBytes(capacity, cellBytes)
}

/** The most slots a leaf page of `pageSizeBytes` with cells of `cellBytes` holds. */
export function leafCapacityMax(pageSizeBytes: number, cellBytes = 0): number {
  return nodeCapacityMax(pageSizeBytes, cellBytes)
}

/**
 * Writes `leaf` into `page` after the header (the caller seals the page): every byte past the
 * header, each once. A data node's bytes are its page, so for one (the store's case) this is its
 * header fields and one copy; another image is written field by field.
 */
export function encodeLeafPage(page: Uint8Array, leaf: LeafImage<number>, cellBytes = 0): void {
  const capacity = leaf.capacity
  const end = leafBytes(capacity, cellBytes)
  assert(end <= page.byteLength, `leaf of ${capacity} slots does not fit a ${page.byteLength}-byte page`)
  if (leaf instanceof DataNode) {
    assert(leaf.cellBytes === cellBytes, `a leaf with ${leaf.cellBytes}-byte cells stored as one with ${cellBytes}`)
    leaf.writeHeader()
    page.set(leaf.bytes.subarray(NodeOffset.M1, end), NodeOffset.M1)
    page.fill(0, end)
    return
  }
  writeNodeHeader(page, leaf)
  const words = bitmapWords(capacity)
  const bitmap = leaf.bitmap
  new Uint32Array(page.buffer, page.byteOffset + LeafOffset.BITMAP, words).set(bitmap.subarray(0, words))
  const k = keysOffset(capacity)
  page.fill(0, LeafOffset.BITMAP + 4 * words, k)
  new Float64Array(page.buffer, page.byteOffset + k, capacity).set(leaf.keys.subarray(0, capacity))
  const slots = new Float64Array(page.buffer, page.byteOffset + valuesOffset(capacity), capacity)
  slots.fill(0)
  page.fill(0, valuesOffset(capacity) + 8 * capacity)
  if (cellBytes > 0) {
    assert(leaf.cells !== undefined && leaf.cells.length >= capacity * cellBytes, 'a leaf image without its cells')
    page.set(leaf.cells.subarray(0, capacity * cellBytes), cellsOffset(capacity))
  }
  const values = leaf.values
  for (let s = 0; s < capacity; s++) {
    if ((bitmap[s >>> 5]! & (1 << (s & 31))) === 0) continue
    const handle = values[s]
    if (handle === undefined) assert(false, `leaf slot ${s} is occupied but holds no value`)
    slots[s] = handle
  }
}

/**
 * Reads the leaf in a checked page. `keys`, `bitmap` and `values` are views over the page (no copy).
 * Checks it first (`checkLeafPage`): CORRUPTION naming `where` and the field.
 */
export function decodeLeafPage(page: Uint8Array, where: string, pageCount: number = NO_PAGE, cellBytes = 0): LeafImage<number> {
  checkLeafPage(page, () => where, pageCount, cellBytes)
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  const header = readNodeHeaderAt(view, LeafOffset.M1)
  const capacity = header.capacity
  const bitmap = new Uint32Array(page.buffer, page.byteOffset + LeafOffset.BITMAP, bitmapWords(capacity))
  const keys = new Float64Array(page.buffer, page.byteOffset + keysOffset(capacity), capacity)
  const values = new Float64Array(page.buffer, page.byteOffset + valuesOffset(capacity), capacity)
  const cells = page.subarray(cellsOffset(capacity), cellsOffset(capacity) + capacity * cellBytes)
  return { ...header, keys, bitmap, values, cells }
}

/**
 * Checks the leaf in a checked page without reading it out: throws CORRUPTION (naming `where()`,
 * called only then, and the field) when the sizes do not fit the page, a value slot disagrees with
 * the bitmap, a value slot names a page outside [2, pageCount) or a record offset outside a page's
 * record area (value pages are the size of this one), a cell value is longer than its cell (or the
 * leaves have no cells) or its cell holds bytes past its length, the model is not an increasing
 * finite line, an expected cost is negative or not finite, or a cost counter is not a count; the index
 * checks the node's own invariants afterwards. Allocates nothing when the page is sound (every leaf
 * read from the file comes here: a cold read of a 4 KiB leaf paid ~2.6 KB of garbage when the check
 * built the page's image).
 */
export function checkLeafPage(page: Uint8Array, where: () => string, pageCount: number = NO_PAGE, cellBytes = 0): void {
  if ((page.byteOffset & 7) !== 0) {
    // Not on an 8-byte boundary (never a pool frame): checked from an aligned copy.
    const copy = new Uint8Array(page.byteLength)
    copy.set(page)
    return checkLeafPage(copy, where, pageCount, cellBytes)
  }
  const u32 = bufferU32(page.buffer)
  const f64 = bufferF64(page.buffer)
  const base32 = page.byteOffset >>> 2
  const capacity = u32[base32 + (LeafOffset.CAPACITY >>> 2)]!
  const numKeys = u32[base32 + (LeafOffset.NUM_KEYS >>> 2)]!
  if (capacity < 1 || leafBytes(capacity, cellBytes) > page.byteLength || numKeys > capacity) {
    throw new StoreError(ErrorCode.CORRUPTION, `${where()}: capacity field ${capacity} and numKeys field ${numKeys}: the leaf does not fit its page`)
  }
  // A record offset o is stored as ref = 2 o + overflow bit; a record needs at least a short header.
  const refMin = 2 * VALUE_RECORDS_OFFSET
  const refMax = 2 * (page.byteLength - VALUE_RECORD_SHORT_HEADER_BYTES) + 1
  const bitmapAt = base32 + (LeafOffset.BITMAP >>> 2)
  const valuesAt = (page.byteOffset + valuesOffset(capacity)) / 8
  for (let s = 0; s < capacity; s++) {
    const occupied = (u32[bitmapAt + (s >>> 5)]! & (1 << (s & 31))) !== 0
    const handle = f64[valuesAt + s]!
    if (occupied !== (handle !== 0)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where()}: value slot ${s} disagrees with the bitmap`)
    }
    if (!occupied) continue
    if (handle < 0) {
      const length = cellLength(handle)
      if (!(Number.isInteger(handle) && length <= cellBytes)) {
        throw new StoreError(ErrorCode.CORRUPTION, `${where()}: value slot ${s} holds ${handle}: ${cellBytes === 0 ? 'the leaves have no cells' : `a value of ${length} bytes in a ${cellBytes}-byte cell`}`)
      }
      const at = cellsOffset(capacity) + s * cellBytes
      for (let i = length; i < cellBytes; i++) {
        if (page[at + i] !== 0) throw new StoreError(ErrorCode.CORRUPTION, `${where()}: the cell of slot ${s} holds bytes past its ${length}-byte value`)
      }
      continue
    }
    const pageId = Math.floor(handle / HANDLE_PAGE_FACTOR)
    const ref = handle - pageId * HANDLE_PAGE_FACTOR
    if (!Number.isInteger(handle) || pageId < 2 || pageId >= pageCount || ref < refMin || ref > refMax) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where()}: value slot ${s} holds ${handle} (page ${pageId}, ref ${ref}): not a handle to a page among the ${pageCount} in use and a record in its record area`)
    }
  }
  // The model and costs: the page is their only copy (the tree image holds a leaf's sizes only).
  const modelAt = (page.byteOffset + LeafOffset.M1) / 8
  const m1 = f64[modelAt]!
  const c = f64[modelAt + 1]!
  const m2 = f64[modelAt + 2]!
  const b = f64[modelAt + 3]!
  if (!(m1 > 0 && m2 > 0 && Number.isFinite(m1) && Number.isFinite(m2) && Number.isFinite(c) && Number.isFinite(b))) {
    throw new StoreError(ErrorCode.CORRUPTION, `${where()}: model fields m1 ${m1}, c ${c}, m2 ${m2}, b ${b}: not an increasing finite line`)
  }
  const iterations = f64[(page.byteOffset + LeafOffset.EXPECTED_ITERATIONS) / 8]!
  const shifts = f64[(page.byteOffset + LeafOffset.EXPECTED_SHIFTS) / 8]!
  if (!(Number.isFinite(iterations) && iterations >= 0)) throw new StoreError(ErrorCode.CORRUPTION, `${where()}: expected cost field at byte ${LeafOffset.EXPECTED_ITERATIONS} is ${iterations}`)
  if (!(Number.isFinite(shifts) && shifts >= 0)) throw new StoreError(ErrorCode.CORRUPTION, `${where()}: expected cost field at byte ${LeafOffset.EXPECTED_SHIFTS} is ${shifts}`)
  const countersAt = (page.byteOffset + LeafOffset.COUNTERS) / 8
  for (let i = 0; i < NODE_COUNTERS; i++) {
    const value = f64[countersAt + i]!
    if (!Number.isSafeInteger(value) || value < 0) throw new StoreError(ErrorCode.CORRUPTION, `${where()}: cost counter ${i} is ${value}`)
  }
}

/** The capacity and key count fields of a leaf page (little-endian u32s at 64 and 68). */
export function leafCapacityOf(page: Uint8Array): number {
  return readU32(page, LeafOffset.CAPACITY)
}

export function leafNumKeysOf(page: Uint8Array): number {
  return readU32(page, LeafOffset.NUM_KEYS)
}
