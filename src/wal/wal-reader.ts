/**
 * The WAL reader: walks the segments in LSN order and hands every valid record to a visitor, and
 * decides where the log ends.
 *
 * Validity of a fragment: its CRC matches; it lies inside its block and the file; its type continues
 * the record being assembled (FULL or FIRST to start one, MIDDLE or LAST to go on); its LSN is the
 * next one (LSNs have no gaps); its group LSN is at most its LSN.
 *
 * The end of the log. At the first invalid fragment (a "bad spot") reading stops, and everything
 * after it, in this segment and the later ones, is searched for valid fragments (every byte offset
 * is tried until one parses, then parsing goes on fragment by fragment).
 *   - Zeros from the bad spot to the end of the segment: space the writer filled ahead; the segment
 *     ends there.
 *   - No valid fragment follows: a torn or zero-filled tail; the log ends at the last good record.
 *   - Every valid fragment that follows belongs to the bad record's own write group (group LSN
 *     between the last good record's group and the bad record's LSN), in the same segment: the bad
 *     spot is inside the last group, which was never synced before the crash (the writer syncs group
 *     k before writing group k + 1); also a torn tail, and that group is dropped.
 *   - An intact record under the wrong LSN (a gap or a repeat: the writer never makes one, a tear
 *     never does) is not a torn tail, wherever it is.
 *   - Anything else is a damaged record followed by good ones: CORRUPTION naming the segment and
 *     offset, unless `salvage` is set, which ends the log at the bad spot and reports the bytes it
 *     dropped.
 */

import path from 'node:path'
import { ErrorCode, StoreError } from '../errors.js'
import { crc32Range } from '../io/checksum.js'
import type { FileSystem } from '../io/file.js'
import {
  FRAGMENT_HEADER_BYTES,
  FragmentOffset,
  FragmentType,
  RecordType,
  WAL_BLOCK_BYTES,
  parseSegmentName,
} from './wal-format.js'

export interface WalSegmentInfo {
  name: string
  firstLsn: number
}

export interface WalReadResult {
  /** Segments found, oldest first. */
  segments: WalSegmentInfo[]
  /** LSN of the last valid record (0 when the log holds none). */
  lastLsn: number
  /** Where the valid log ends: a segment and the byte offset just past its last good record. */
  end: { segment: string; offset: number } | null
  /** Bytes after the end that were dropped (a torn tail, or more with `salvage`). */
  droppedBytes: number
  /** Why reading stopped before the end of the files, if it did. */
  stoppedBecause: string | null
}

const RECORD_TYPES = new Set<number>(Object.values(RecordType))

interface Header {
  length: number
  fragmentType: number
  recordType: number
  recordBytes: number
  lsn: number
  groupLsn: number
}

/** One header object reused by every parse (the reader copies what it keeps). */
const parsed: Header = { length: 0, fragmentType: 0, recordType: 0, recordBytes: 0, lsn: 0, groupLsn: 0 }

/**
 * The header at `pos` if the fragment there is intact (CRC, bounds), else null. The returned object
 * is shared: valid until the next call.
 */
function parseFragment(data: Uint8Array, view: DataView, pos: number): Header | null {
  const blockLeft = WAL_BLOCK_BYTES - (pos % WAL_BLOCK_BYTES)
  if (blockLeft < FRAGMENT_HEADER_BYTES || pos + FRAGMENT_HEADER_BYTES > data.length) return null
  const length = view.getUint32(pos + FragmentOffset.LENGTH, true)
  if (length > blockLeft - FRAGMENT_HEADER_BYTES || pos + FRAGMENT_HEADER_BYTES + length > data.length) return null
  const crc = crc32Range(data, pos + 4, pos + FRAGMENT_HEADER_BYTES + length)
  if (crc !== view.getUint32(pos + FragmentOffset.CRC, true)) return null
  parsed.length = length
  parsed.fragmentType = view.getUint8(pos + FragmentOffset.FRAGMENT_TYPE)
  parsed.recordType = view.getUint8(pos + FragmentOffset.RECORD_TYPE)
  parsed.recordBytes = view.getUint32(pos + FragmentOffset.RECORD_BYTES, true)
  parsed.lsn = view.getFloat64(pos + FragmentOffset.LSN, true)
  parsed.groupLsn = view.getFloat64(pos + FragmentOffset.GROUP_LSN, true)
  return parsed
}

export function listSegments(fs: FileSystem, dir: string): WalSegmentInfo[] {
  if (!fs.exists(dir)) return []
  const segments: WalSegmentInfo[] = []
  for (const name of fs.list(dir)) {
    const firstLsn = parseSegmentName(name)
    if (firstLsn !== undefined) segments.push({ name, firstLsn })
  }
  return segments.sort((a, b) => a.firstLsn - b.firstLsn)
}

/** The longest segment file read: the most one read takes (2 GiB - 1 bytes). */
const SEGMENT_READ_MAX_BYTES = 0x7fffffff

function readWhole(fs: FileSystem, file: string): Uint8Array {
  const handle = fs.openFile(file, { readOnly: true })
  try {
    const size = handle.size()
    // No segment this engine writes comes near it (walSegmentBytes <= 512 MiB, plus one group); a
    // longer file is not read into memory (one read takes at most 2 GiB - 1 bytes).
    if (size > SEGMENT_READ_MAX_BYTES) {
      throw new StoreError(ErrorCode.CORRUPTION, `${file}: log segment of ${size} bytes, more than the ${SEGMENT_READ_MAX_BYTES} a segment can hold`)
    }
    const data = new Uint8Array(size)
    const got = handle.read(data, 0, size, 0)
    return data.subarray(0, got)
  } finally {
    handle.close()
  }
}

/**
 * Reads the log in `dir`, calling `visit` for every valid record in LSN order (the payload view is
 * valid only during the call).
 */
export function readWal(
  fs: FileSystem,
  dir: string,
  salvage: boolean,
  visit: (lsn: number, type: number, payload: Uint8Array) => void,
): WalReadResult {
  const segments = listSegments(fs, dir)
  const result: WalReadResult = { segments, lastLsn: 0, end: null, droppedBytes: 0, stoppedBecause: null }
  let expectedLsn = segments.length > 0 ? segments[0]!.firstLsn : 1
  let lastGroupLsn = 0
  for (let s = 0; s < segments.length; s++) {
    const segment = segments[s]!
    const file = path.join(dir, segment.name)
    const data = readWhole(fs, file)
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
    if (segment.firstLsn !== expectedLsn && data.length > 0) {
      const what = `segment ${segment.name} starts at LSN ${segment.firstLsn}, but the log before it ends at ${expectedLsn - 1}`
      if (!salvage) throw new StoreError(ErrorCode.CORRUPTION, `${file}: ${what}`)
    }
    let pos = 0
    let recordStart = 0
    let assembling: { type: number; lsn: number; bytes: number; parts: Uint8Array[]; got: number } | null = null
    let bad: string | null = null
    let misnumbered = false
    while (pos < data.length) {
      const blockLeft = WAL_BLOCK_BYTES - (pos % WAL_BLOCK_BYTES)
      if (blockLeft < FRAGMENT_HEADER_BYTES) {
        pos += blockLeft
        continue
      }
      const header = parseFragment(data, view, pos)
      if (header === null) {
        bad = allZero(data, pos, pos + FRAGMENT_HEADER_BYTES) ? 'zero-filled tail' : `bad fragment (checksum or length) at offset ${pos}`
        break
      }
      const starts = header.fragmentType === FragmentType.FULL || header.fragmentType === FragmentType.FIRST
      if (assembling === null ? !starts : starts || header.lsn !== assembling.lsn) {
        bad = `fragment type ${header.fragmentType} out of sequence at offset ${pos}`
        break
      }
      if (assembling === null && (header.lsn !== expectedLsn || !(header.groupLsn <= header.lsn) || !RECORD_TYPES.has(header.recordType))) {
        bad = `record at offset ${pos} has LSN ${header.lsn} (group ${header.groupLsn}, type ${header.recordType}); expected LSN ${expectedLsn}`
        // An intact fragment (its CRC matched) right after a good record but under another LSN is a
        // gap or a repeat in the numbering, which no torn write makes (a tear leaves bytes that fail
        // their CRC, or zeros): never taken for a torn last group and dropped.
        misnumbered = header.lsn !== expectedLsn
        break
      }
      const payload = data.subarray(pos + FRAGMENT_HEADER_BYTES, pos + FRAGMENT_HEADER_BYTES + header.length)
      if (assembling === null) recordStart = pos
      pos += FRAGMENT_HEADER_BYTES + header.length
      if (header.fragmentType === FragmentType.FULL) {
        if (header.recordBytes !== header.length) {
          bad = `record at offset ${recordStart} declares ${header.recordBytes} bytes, holds ${header.length}`
          pos = recordStart
          break
        }
        visit(header.lsn, header.recordType, payload)
      } else if (header.fragmentType === FragmentType.FIRST) {
        assembling = { type: header.recordType, lsn: header.lsn, bytes: header.recordBytes, parts: [payload], got: header.length }
        continue
      } else {
        assembling!.parts.push(payload)
        assembling!.got += header.length
        if (header.fragmentType === FragmentType.MIDDLE) continue
        const record = assembling!
        assembling = null
        if (record.got !== record.bytes) {
          bad = `record at offset ${recordStart} declares ${record.bytes} bytes, holds ${record.got}`
          pos = recordStart
          break
        }
        const whole = new Uint8Array(record.bytes)
        let at = 0
        for (const part of record.parts) {
          whole.set(part, at)
          at += part.byteLength
        }
        visit(record.lsn, record.type, whole)
      }
      result.lastLsn = header.lsn
      lastGroupLsn = header.groupLsn
      expectedLsn = header.lsn + 1
      // One object per segment, moved along (not one per record: replay reads millions).
      if (result.end !== null && result.end.segment === segment.name) result.end.offset = pos
      else result.end = { segment: segment.name, offset: pos }
      recordStart = pos
    }
    if (bad === null && assembling !== null) bad = `record at offset ${recordStart} is cut off by the end of the segment`
    if (bad === null) {
      if (result.end === null || result.end.segment !== segment.name) result.end = { segment: segment.name, offset: 0 }
      continue
    }
    // A bad spot at recordStart. Zeros from there to the end of the file are space the writer
    // filled ahead of the log: the segment simply ends there.
    const badAt = recordStart
    if (allZero(data, badAt, data.length)) {
      if (result.end === null || result.end.segment !== segment.name) result.end = { segment: segment.name, offset: badAt }
      continue
    }
    // Torn tail, or corruption? Valid fragments after the bad spot may only belong to the write
    // group the bad record belongs to (one that started at or before it: group LSN <= its LSN), in
    // this segment: that group is the last one, never synced. A fragment of a later group means the
    // damaged group had been synced before it was written.
    const later = laterFragments(fs, dir, segments, s, data, badAt)
    const torn = !misnumbered && later.every((f) => f.groupLsn <= expectedLsn && f.groupLsn >= lastGroupLsn && f.segment === segment.name)
    result.end = { segment: segment.name, offset: badAt }
    result.droppedBytes = lastNonZero(data) + 1 - badAt + laterBytes(fs, dir, segments, s)
    result.stoppedBecause = `${segment.name}: ${bad}`
    if (!torn && !salvage) {
      // A misnumbered record may be the last thing in the log (nothing valid after it).
      const first = later[0]
      const followed = first === undefined ? '' : `, followed by ${later.length} valid fragment(s) (first in ${first.segment} at offset ${first.offset})`
      const what = misnumbered ? 'an intact record out of sequence' : 'a damaged record in the middle of the log'
      throw new StoreError(ErrorCode.CORRUPTION, `${file}: ${bad}${followed}: ${what}`)
    }
    return result
  }
  return result
}

function allZero(data: Uint8Array, from: number, to: number): boolean {
  const end = Math.min(data.length, to)
  for (let i = from; i < end; i++) if (data[i] !== 0) return false
  return true
}

function lastNonZero(data: Uint8Array): number {
  let i = data.length - 1
  while (i >= 0 && data[i] === 0) i--
  return i
}

interface LaterFragment {
  segment: string
  offset: number
  groupLsn: number
}

/**
 * Valid fragments after `badAt` in segment `s` and in every later segment. Every byte offset is
 * tried until a valid fragment is found, then parsing goes on fragment by fragment (and back to
 * trying every offset after an invalid one), so fragments in the middle of a block are found too.
 */
function laterFragments(fs: FileSystem, dir: string, segments: WalSegmentInfo[], s: number, data: Uint8Array, badAt: number): LaterFragment[] {
  const found: LaterFragment[] = []
  const scan = (bytes: Uint8Array, from: number, name: string): void => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let pos = from
    while (pos + FRAGMENT_HEADER_BYTES <= bytes.length) {
      // A zero CRC and zero length is never a valid header (zero-filled space): skip it cheaply.
      if (view.getUint32(pos, true) === 0 && view.getUint32(pos + 4, true) === 0) {
        pos += 4
        continue
      }
      const header = parseFragment(bytes, view, pos)
      if (header === null) {
        pos++
        continue
      }
      found.push({ segment: name, offset: pos, groupLsn: header.groupLsn })
      pos += FRAGMENT_HEADER_BYTES + header.length
      const left = WAL_BLOCK_BYTES - (pos % WAL_BLOCK_BYTES)
      if (left < FRAGMENT_HEADER_BYTES) pos += left
    }
  }
  scan(data, badAt + 1, segments[s]!.name)
  for (let t = s + 1; t < segments.length; t++) scan(readWhole(fs, path.join(dir, segments[t]!.name)), 0, segments[t]!.name)
  return found
}

function laterBytes(fs: FileSystem, dir: string, segments: WalSegmentInfo[], s: number): number {
  let bytes = 0
  for (let t = s + 1; t < segments.length; t++) {
    const file = fs.openFile(path.join(dir, segments[t]!.name), { readOnly: true })
    try {
      bytes += file.size()
    } finally {
      file.close()
    }
  }
  return bytes
}
