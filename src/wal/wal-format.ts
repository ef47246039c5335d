/**
 * Constants of the write-ahead log format, shared by the writer (wal-writer.ts) and the reader
 * (wal-reader.ts). docs/WAL.md is the byte table with a worked example.
 *
 * The log is a sequence of segment files `wal/<first LSN as 16 hex digits>.wal`. A segment is a
 * sequence of 32 KiB blocks; a record is cut into fragments that never cross a block boundary (a
 * block's last bytes, too few for a header, are zeros). Each fragment, little-endian:
 *
 *   @0   4  CRC-32 of bytes 4..31 of this header and the fragment's payload
 *   @4   4  payload bytes in this fragment
 *   @8   1  fragment type: FULL 1, FIRST 2, MIDDLE 3, LAST 4
 *   @9   1  record type (RecordType)
 *   @10  2  reserved, 0
 *   @12  4  the whole record's payload bytes (on FULL and FIRST; 0 on MIDDLE and LAST)
 *   @16  8  LSN of the record (f64 holding an integer): 1, 2, 3, ... with no gaps
 *   @24  8  group LSN (f64): the LSN of the first record of the write (group commit) it went out in
 *   @32     payload
 *
 * A record never spans segments: a write that starts when the segment is full goes to a new one.
 */

export const WAL_BLOCK_BYTES = 32 * 1024
export const FRAGMENT_HEADER_BYTES = 32
export const WAL_DIR_NAME = 'wal'
export const WAL_ARCHIVE_DIR_NAME = 'archive'
export const SEGMENT_SUFFIX = '.wal'

export const FragmentOffset = {
  CRC: 0,
  LENGTH: 4,
  FRAGMENT_TYPE: 8,
  RECORD_TYPE: 9,
  RESERVED: 10,
  RECORD_BYTES: 12,
  LSN: 16,
  GROUP_LSN: 24,
} as const

export const FragmentType = { FULL: 1, FIRST: 2, MIDDLE: 3, LAST: 4 } as const
export type FragmentType = (typeof FragmentType)[keyof typeof FragmentType]

export const RecordType = {
  /** A batch of puts and deletes, applied atomically (batch-record.ts). */
  BATCH: 1,
} as const
export type RecordType = (typeof RecordType)[keyof typeof RecordType]

/**
 * Largest record payload, 1 GiB. Not the 4 GiB the u32 length fields could say: the writer builds a
 * group in one buffer that grows by doubling (2 GiB for a 1 GiB record) and the reader holds a whole
 * segment in memory and reads it with one read, which Node caps at 2 GiB; a record near 4 GiB could be
 * logged by neither and one near 2 GiB read by neither. A write whose record would be larger is
 * refused with VALUE_TOO_LARGE before anything is written. It holds the largest single value
 * (the store asserts so at load).
 */
export const RECORD_MAX_BYTES = 1 << 30

/** Whether a record of `payloadBytes` may be logged: the one comparison the writer and the store make. */
export function recordFits(payloadBytes: number): boolean {
  return payloadBytes <= RECORD_MAX_BYTES
}

export function segmentName(firstLsn: number): string {
  return firstLsn.toString(16).padStart(16, '0') + SEGMENT_SUFFIX
}

/** The first LSN a segment file name encodes, or undefined if the name is not a segment's. */
export function parseSegmentName(name: string): number | undefined {
  if (!/^[0-9a-f]{16}\.wal$/.test(name)) return undefined
  const lsn = Number.parseInt(name.slice(0, 16), 16)
  return Number.isSafeInteger(lsn) && lsn >= 1 ? lsn : undefined
}

if (FragmentOffset.GROUP_LSN + 8 !== FRAGMENT_HEADER_BYTES) throw new Error('fragment header layout and size disagree')
if (WAL_BLOCK_BYTES % 8 !== 0 || WAL_BLOCK_BYTES <= FRAGMENT_HEADER_BYTES) throw new Error('bad WAL block size')
