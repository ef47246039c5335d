/**
 * Value (VALUE) pages and overflow (OVERFLOW) runs: where the bytes of values live. A leaf's value
 * slot holds a handle to a record in a value page; a value too large for a value page's record area
 * lives in a run of consecutive overflow pages, and its record is a small stub pointing there.
 *
 * Value page, little-endian (docs/FORMAT.md):
 *   @0   32  common page header (type VALUE)
 *   @32   4  end: byte offset just past the last record (VALUE_RECORDS_OFFSET when empty)
 *   @36   4  records in the page
 *   @40      records, back to back: u32 word (bit 31: overflow stub; bits 0-30: payload bytes),
 *            u32 check, payload. The check is CRC-32 over (u32 page id, u32 record offset, u32 word)
 *            and then the payload: a record read on its own, without its page, is still verified
 *            (and one found at another page or offset fails).
 *   An overflow stub's payload (12 bytes): u32 first overflow page, u32 page count, u32 value bytes.
 *
 * Overflow page: @0 32-byte header (type OVERFLOW), @32 value bytes to the end of the page; the last
 * page of a run is zero-filled past the value's end.
 *
 * A handle is one safe integer: pageId * 2^21 + recordOffset * 2 + overflowBit. Record offsets are
 * below 2^20 (pages are at most 1 MiB), and page ids below 2^32, so handles stay below 2^53.
 */

import { ErrorCode, StoreError } from '../errors.js'
import { crc32Range } from '../io/checksum.js'
import { PAGE_HEADER_BYTES } from './page-format.js'

export const HANDLE_PAGE_FACTOR = 2 ** 21
export const ValueOffset = { END: 32, RECORDS: 36 } as const
export const VALUE_RECORDS_OFFSET = 40
export const VALUE_RECORD_HEADER_BYTES = 8
/** Offset of the check within a record. */
export const VALUE_RECORD_CHECK = 4
export const OVERFLOW_STUB_BYTES = 12
export const OVERFLOW_FLAG = 0x80000000
/** Largest value, in bytes. */
export const VALUE_MAX_BYTES = 64 << 20

/** Values longer than this go to overflow pages: a quarter of a value page's record area. */
export function inlineValueMaxBytes(pageSizeBytes: number): number {
  return Math.floor((pageSizeBytes - VALUE_RECORDS_OFFSET) / 4) - VALUE_RECORD_HEADER_BYTES
}

export function overflowPagesFor(valueBytes: number, pageSizeBytes: number): number {
  return Math.max(1, Math.ceil(valueBytes / (pageSizeBytes - PAGE_HEADER_BYTES)))
}

export function makeHandle(pageId: number, offset: number, overflow: boolean): number {
  return pageId * HANDLE_PAGE_FACTOR + offset * 2 + (overflow ? 1 : 0)
}

export function handlePage(handle: number): number {
  return Math.floor(handle / HANDLE_PAGE_FACTOR)
}

export function handleOffset(handle: number): number {
  return (handle % HANDLE_PAGE_FACTOR) >>> 1
}

export function handleIsOverflow(handle: number): boolean {
  return (handle & 1) === 1
}

export function readU32(page: Uint8Array, at: number): number {
  return (page[at]! | (page[at + 1]! << 8) | (page[at + 2]! << 16) | (page[at + 3]! << 24)) >>> 0
}

export function writeU32(page: Uint8Array, at: number, value: number): void {
  page[at] = value & 0xff
  page[at + 1] = (value >>> 8) & 0xff
  page[at + 2] = (value >>> 16) & 0xff
  page[at + 3] = value >>> 24
}

/** Starts an empty value page in a zeroed frame. */
export function initValuePage(page: Uint8Array): void {
  writeU32(page, ValueOffset.END, VALUE_RECORDS_OFFSET)
  writeU32(page, ValueOffset.RECORDS, 0)
}

/** Bytes still free for records in a value page. */
export function valuePageRoom(page: Uint8Array): number {
  return page.byteLength - readU32(page, ValueOffset.END)
}

const checkScratch = new Uint8Array(12)

/** The check of a record (word, bytes[start, end)) at `offset` of page `pageId`. */
export function recordCheck(pageId: number, offset: number, word: number, bytes: Uint8Array, start: number, end: number): number {
  writeU32(checkScratch, 0, pageId)
  writeU32(checkScratch, 4, offset)
  writeU32(checkScratch, 8, word)
  return crc32Range(bytes, start, end, crc32Range(checkScratch, 0, 12))
}

/**
 * Appends a record (word, payload) to value page `pageId` and returns its offset. The caller checked
 * the room.
 */
export function appendRecord(page: Uint8Array, pageId: number, word: number, payload: Uint8Array): number {
  const at = readU32(page, ValueOffset.END)
  writeU32(page, at, word)
  writeU32(page, at + VALUE_RECORD_CHECK, recordCheck(pageId, at, word, payload, 0, payload.byteLength))
  page.set(payload, at + VALUE_RECORD_HEADER_BYTES)
  writeU32(page, ValueOffset.END, at + VALUE_RECORD_HEADER_BYTES + payload.byteLength)
  writeU32(page, ValueOffset.RECORDS, readU32(page, ValueOffset.RECORDS) + 1)
  return at
}

/**
 * The word of the record at `offset` of a checked value page. Throws CORRUPTION (naming `where`,
 * a string or a function that builds one, called only on failure) if the record does not lie inside
 * the page's used part.
 */
export function recordAt(page: Uint8Array, offset: number, where: string | (() => string)): number {
  const end = readU32(page, ValueOffset.END)
  if (offset < VALUE_RECORDS_OFFSET || offset + VALUE_RECORD_HEADER_BYTES > end || end > page.byteLength) {
    throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: no value record at byte ${offset} (records end at ${end})`)
  }
  const word = readU32(page, offset)
  if (offset + VALUE_RECORD_HEADER_BYTES + (word & ~OVERFLOW_FLAG) > end) {
    throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: value record at byte ${offset} runs past the records' end`)
  }
  return word
}

function describe(where: string | (() => string)): string {
  return typeof where === 'string' ? where : where()
}

export interface OverflowStub {
  firstPageId: number
  pageCount: number
  valueBytes: number
}

export function encodeStub(stub: OverflowStub): Uint8Array {
  const bytes = new Uint8Array(OVERFLOW_STUB_BYTES)
  writeU32(bytes, 0, stub.firstPageId)
  writeU32(bytes, 4, stub.pageCount)
  writeU32(bytes, 8, stub.valueBytes)
  return bytes
}

export function decodeStub(page: Uint8Array, payloadAt: number): OverflowStub {
  return { firstPageId: readU32(page, payloadAt), pageCount: readU32(page, payloadAt + 4), valueBytes: readU32(page, payloadAt + 8) }
}
