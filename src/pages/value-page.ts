/**
 * Value (VALUE) pages and overflow (OVERFLOW) runs: where the bytes of values live. A leaf's value
 * slot holds a handle to a record in a value page; a value too large for a value page's record area
 * lives in a run of consecutive overflow pages, and its record is a small stub pointing there.
 *
 * Value page, little-endian (docs/FORMAT.md):
 *   @0   32  common page header (type VALUE)
 *   @32   4  end: byte offset just past the last record (VALUE_RECORDS_OFFSET when empty)
 *   @36   4  records in the page
 *   @40      records, back to back: a header, then the payload. The header is short (5 bytes) for
 *            an inline payload of at most 127 bytes: u8 length, u32 check; otherwise long (8 bytes):
 *            u8 form (0x80 inline, 0x81 overflow stub), u24 payload length, u32 check. The record's
 *            word is the payload length, with bit 31 set for a stub. The check is CRC-32 over
 *            (u32 page id, u32 record offset, u32 word) and then the payload: a record read on its
 *            own, without its page, is still verified (and one found at another page or offset
 *            fails). Records are not aligned.
 *   An overflow stub's payload (12 bytes): u32 first overflow page, u32 page count, u32 value bytes.
 *
 * Overflow page: @0 32-byte header (type OVERFLOW), @32 value bytes to the end of the page; the last
 * page of a run is zero-filled past the value's end.
 *
 * A handle is one safe integer: pageId * 2^21 + recordOffset * 2 + overflowBit. Record offsets are
 * below 2^20 (pages are at most 1 MiB), and page ids below 2^32, so handles stay below 2^53.
 */

import { ErrorCode, StoreError } from '../errors.js'
import { crc32Range, crc32Words3 } from '../io/checksum.js'
import { PAGE_HEADER_BYTES } from './page-format.js'

export const HANDLE_PAGE_FACTOR = 2 ** 21
export const ValueOffset = { END: 32, RECORDS: 36 } as const
export const VALUE_RECORDS_OFFSET = 40
/** A record's header when long (a payload of 128 bytes or more, or an overflow stub). */
export const VALUE_RECORD_HEADER_BYTES = 8
/** A record's header when short: u8 length, u32 check. */
export const VALUE_RECORD_SHORT_HEADER_BYTES = 5
/** The longest inline payload a short header describes. */
export const VALUE_RECORD_SHORT_MAX = 0x7f
/** The long form's first byte: inline, or an overflow stub. */
const LONG_INLINE = 0x80
const LONG_STUB = 0x81
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

/** Header bytes of a record with this word: 5 for an inline payload of at most 127 bytes, else 8. */
export function recordHeaderBytes(word: number): number {
  return word <= VALUE_RECORD_SHORT_MAX ? VALUE_RECORD_SHORT_HEADER_BYTES : VALUE_RECORD_HEADER_BYTES
}

/** Bytes a record with this word and payload length takes in a page. */
export function recordBytes(word: number, payloadBytes: number): number {
  return recordHeaderBytes(word) + payloadBytes
}

/**
 * The word of the record whose header starts at bytes[at] (at least 5 bytes must be there), or -1
 * if the header is not one a writer makes (an unknown form byte, or a long form that should have
 * been short). The check follows at `at + recordHeaderBytes(word) - 4`.
 */
export function readRecordWord(bytes: Uint8Array, at: number): number {
  const form = bytes[at]!
  if (form <= VALUE_RECORD_SHORT_MAX) return form
  const length = bytes[at + 1]! | (bytes[at + 2]! << 8) | (bytes[at + 3]! << 16)
  if (form === LONG_INLINE) return length > VALUE_RECORD_SHORT_MAX ? length : -1
  if (form === LONG_STUB) return (OVERFLOW_FLAG | length) >>> 0
  return -1
}

/** The check of a record (word, bytes[start, end)) at `offset` of page `pageId`. */
export function recordCheck(pageId: number, offset: number, word: number, bytes: Uint8Array, start: number, end: number): number {
  return crc32Range(bytes, start, end, crc32Words3(pageId, offset, word))
}

/**
 * Writes the record (word, payload) at byte `at` of value page `pageId` and returns the byte just
 * past it. The caller checked the room and keeps the page's end and record count. With `check`
 * false the check is left zero, for `fillRecordChecks` to compute later (a bulk load's writer).
 */
export function writeRecord(page: Uint8Array, pageId: number, at: number, word: number, payload: Uint8Array, check = true): number {
  const length = payload.byteLength
  let start: number
  if (word <= VALUE_RECORD_SHORT_MAX) {
    page[at] = word
    start = at + VALUE_RECORD_SHORT_HEADER_BYTES
  } else {
    page[at] = word >= OVERFLOW_FLAG ? LONG_STUB : LONG_INLINE
    page[at + 1] = length & 0xff
    page[at + 2] = (length >>> 8) & 0xff
    page[at + 3] = (length >>> 16) & 0xff
    start = at + VALUE_RECORD_HEADER_BYTES
  }
  writeU32(page, start - 4, check ? recordCheck(pageId, at, word, payload, 0, length) : 0)
  // A short value is copied byte by byte: cheaper than set() below a few dozen bytes.
  if (length <= 32) {
    for (let i = 0; i < length; i++) page[start + i] = payload[i]!
  } else {
    page.set(payload, start)
  }
  return start + length
}

/**
 * Computes the check of every record of value page `pageId` (written by `writeRecord` with `check`
 * false) in place (a bulk load's writer thread, bulk-writer-slots.ts `sealSlot`).
 */
export function fillRecordChecks(page: Uint8Array, pageId: number): void {
  const end = readU32(page, ValueOffset.END)
  let at = VALUE_RECORDS_OFFSET
  while (at < end) {
    const word = readRecordWord(page, at)
    if (word < 0) throw new StoreError(ErrorCode.CORRUPTION, `value page ${pageId}: bad record header at offset ${at}`)
    const start = at + recordHeaderBytes(word)
    const stop = start + (word & ~OVERFLOW_FLAG)
    // recordCheck's two calls, made here: this loop then compiles as one function (recordCheck is not
    // inlined into it), so no check, a uint32 too large for a small integer, is boxed on its way back.
    writeU32(page, start - 4, crc32Range(page, start, stop, crc32Words3(pageId, at, word)))
    at = stop
  }
}

/**
 * Appends a record (word, payload) to value page `pageId` and returns its offset. The caller checked
 * the room.
 */
export function appendRecord(page: Uint8Array, pageId: number, word: number, payload: Uint8Array): number {
  const at = readU32(page, ValueOffset.END)
  writeU32(page, ValueOffset.END, writeRecord(page, pageId, at, word, payload))
  writeU32(page, ValueOffset.RECORDS, readU32(page, ValueOffset.RECORDS) + 1)
  return at
}

/**
 * The word of the record at `offset` of a checked value page. Throws CORRUPTION (naming `where`,
 * a string or a function that builds one, called only on failure) if the record does not lie inside
 * the page's used part or its header is malformed.
 */
export function recordAt(page: Uint8Array, offset: number, where: string | (() => string)): number {
  const end = readU32(page, ValueOffset.END)
  if (offset < VALUE_RECORDS_OFFSET || offset + VALUE_RECORD_SHORT_HEADER_BYTES > end || end > page.byteLength) {
    throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: no value record at byte ${offset} (records end at ${end})`)
  }
  const word = readRecordWord(page, offset)
  if (word < 0) throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: value record at byte ${offset} has a malformed header`)
  if (offset + recordHeaderBytes(word) + (word & ~OVERFLOW_FLAG) > end) {
    throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: value record at byte ${offset} runs past the records' end`)
  }
  return word
}

/**
 * Checks a value page read whole from disk (after its page checksum): its end and record count
 * fields, and the chain of records from the first to the end: a header a writer makes, a payload
 * inside the records' end, a stub of exactly 12 bytes, as many records as the count field says.
 * The page checksum alone would pass a page whose fields were rewritten and re-sealed. The walk
 * does not compute each record's own check; every read verifies the record it serves instead
 * (value-store.ts `locate`, `readAlone`, `stub`), because a walk alone is fooled (the crafted-file
 * fuzzer, seed 20261204 trial 13409: a short record's length cut from 4 to 0, the records after it
 * lined up again, and a get returned 0 bytes), and checking every record here cost too much: a page
 * of 16-byte values holds thousands of records and a read serves one (1M keys, 8 MiB pool: cold
 * gets 2x slower, a full scan 4x: 11.9-13.2k keys/s against 41.6-55.9k/s). Throws CORRUPTION naming
 * `where`, the field and the offset.
 */
export function verifyValuePage(page: Uint8Array, where: string | (() => string)): void {
  const end = readU32(page, ValueOffset.END)
  const count = readU32(page, ValueOffset.RECORDS)
  const fail = (what: string): never => {
    throw new StoreError(ErrorCode.CORRUPTION, `${describe(where)}: value page: ${what}`)
  }
  if (end < VALUE_RECORDS_OFFSET || end > page.byteLength) fail(`end field ${end} outside [${VALUE_RECORDS_OFFSET}, ${page.byteLength}]`)
  let at = VALUE_RECORDS_OFFSET
  let records = 0
  while (at < end) {
    if (at + VALUE_RECORD_SHORT_HEADER_BYTES > end) fail(`record at byte ${at}: its header runs past the end field ${end}`)
    const word = readRecordWord(page, at)
    if (word < 0) fail(`record at byte ${at}: malformed header (form byte ${page[at]})`)
    const start = at + recordHeaderBytes(word)
    const length = (word & ~OVERFLOW_FLAG) >>> 0
    if (start + length > end) fail(`record at byte ${at}: length field ${length} runs past the end field ${end}`)
    if (word >= OVERFLOW_FLAG && length !== OVERFLOW_STUB_BYTES) fail(`record at byte ${at}: an overflow stub of ${length} bytes`)
    at = start + length
    records++
  }
  if (records !== count) fail(`records field ${count}, but ${records} records lie before the end field ${end}`)
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
