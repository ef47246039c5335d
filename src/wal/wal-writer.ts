/**
 * The WAL writer: frames records into block-aligned fragments (wal-format.ts) and writes them with
 * group commit.
 *
 * `append` encodes a record into the group being formed and returns its LSN at once; `durable(lsn)`
 * resolves once that record is as durable as the level asks. Every record appended before the group
 * starts flushing goes out in one write and one fdatasync, so N writers in flight cost about one sync.
 *
 * Invariants:
 *   1. LSNs are consecutive; records reach the file in LSN order; a group is one positioned write.
 *   2. At level 'fsync', group k + 1 is not written before group k's fdatasync returned, so after a
 *      power loss only the last group can be torn or partly present (the reader relies on it).
 *   3. A record never spans segments; a new segment file is created and its directory synced before
 *      its first write.
 *   4. After a failed write or sync the writer is failed: every queued and later record is rejected
 *      (with code IO, or NO_SPACE) and nothing more is written, since a retried fsync can falsely
 *      succeed. The failed group's bytes are cut off the segment if the file allows it.
 *   5. An append is all or nothing: a record takes its LSN only once it is wholly in the group, so a
 *      failed append leaves no gap and no fragment behind (the reader ends the log at a gap).
 */

import path from 'node:path'
import { ErrorCode, StoreError, assert } from '../errors.js'
import { crc32Range } from '../io/checksum.js'
import { FAULT_POINTS, faultPoint } from '../io/fault-point.js'
import { KILL_POINTS, kill, killPoint, killPointReached } from '../io/kill-point.js'
import type { FileSystem, StorageFile } from '../io/file.js'
import {
  FRAGMENT_HEADER_BYTES,
  FragmentOffset,
  FragmentType,
  RECORD_MAX_BYTES,
  WAL_BLOCK_BYTES,
  recordFits,
  segmentName,
  type RecordType,
} from './wal-format.js'

export type WalDurability = 'fsync' | 'os' | 'none'

export interface WalWriterOptions {
  /** Called when records up to `lsn` became durable, before their writers are told. */
  onDurable?: (lsn: number) => void
  /** Called once when the writer fails, before any writer is told. */
  onFailure?: (error: StoreError) => void
  dir: string
  fs: FileSystem
  durability: WalDurability
  /** A new segment starts once the current one holds this many bytes. */
  segmentBytes: number
  /** LSN of the next record. */
  nextLsn: number
}

interface Segment {
  firstLsn: number
  file: StorageFile
  /** Bytes of log written to the file. */
  size: number
  /** The file's length: zeros past `size`, written ahead so that appends do not grow the file. */
  allocated: number
}

/**
 * Segments are zero-filled this far ahead of the log's end. An append into zero-filled space is an
 * overwrite, and fdatasync need not commit a new file size: measured on this machine, write +
 * fdatasync of 15 KB took 102 us into preallocated space against 311 us as an append (60 B: 96 us
 * against 148 us). The reader treats zeros up to the end of a segment as its end.
 */
const PREALLOCATE_BYTES = 4 << 20
const ZEROS = new Uint8Array(1 << 20)
/** A group buffer grown past this is dropped after its write instead of being reused. */
const SPARE_BUFFER_BYTES_MAX = 1 << 20

/** A growable byte buffer for the group being formed. */
class GroupBuffer {
  bytes = new Uint8Array(64 * 1024)
  view = new DataView(this.bytes.buffer)
  length = 0
  reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return
    let size = this.bytes.length * 2
    while (size < this.length + extra) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.bytes.subarray(0, this.length))
    this.bytes = grown
    this.view = new DataView(grown.buffer)
  }
}

/**
 * The one promise every record of a group shares (a promise per record cost a closure, a waiter and
 * a resolution each), and how to settle it.
 */
interface GroupDone {
  promise: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

function newGroupDone(): GroupDone {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** What `append` returns at durability 'none': nothing to wait for. */
const RESOLVED: Promise<void> = Promise.resolve()

export class WalWriter {
  private readonly dir: string
  private readonly fs: FileSystem
  private readonly durability: WalDurability
  private readonly segmentBytes: number
  private segment: Segment | null = null
  /** Closed segments, oldest first, still on disk. */
  readonly segments: { firstLsn: number; name: string }[] = []
  private nextLsn: number
  private group = new GroupBuffer()
  private spare: GroupBuffer | null = null
  private groupFirstLsn = 0
  /** Segment offset the group being formed starts at (its block alignment depends on it). */
  private groupStart = 0
  private groupNewSegment = false
  /** The promise of the group being formed (null until its first record at 'os' / 'fsync'). */
  private groupDone: GroupDone | null = null
  private flushing: Promise<void> | null = null
  private scheduled = false
  private lastDurableLsn: number
  private failure: StoreError | null = null
  /** Bytes written since the last `resetWrittenBytes` (the checkpoint trigger reads it). */
  writtenBytes = 0
  groups = 0
  syncs = 0

  private readonly onDurable: (lsn: number) => void
  private readonly onFailure: (error: StoreError) => void

  constructor(options: WalWriterOptions, existing: { firstLsn: number; name: string }[]) {
    this.onDurable = options.onDurable ?? (() => {})
    this.onFailure = options.onFailure ?? (() => {})
    this.dir = options.dir
    this.fs = options.fs
    this.durability = options.durability
    this.segmentBytes = options.segmentBytes
    this.nextLsn = options.nextLsn
    this.lastDurableLsn = options.nextLsn - 1
    this.segments.push(...existing)
    // Recovery leaves the old segments as they are (a torn tail cut off); writing starts a new one.
    this.groupNewSegment = true
  }

  get lastLsn(): number {
    return this.nextLsn - 1
  }

  /** The last LSN known durable at the writer's level. */
  get durableLsn(): number {
    return this.lastDurableLsn
  }

  get failed(): StoreError | null {
    return this.failure
  }

  /**
   * Encodes a record (payload[0, length)) into the group being formed. Returns its LSN and a promise
   * that resolves when the record is durable at the writer's level (at once for 'none'), or rejects if
   * its group failed; the records of one group share that promise.
   *
   * All or nothing: the LSN is taken (nextLsn moves) only once the record is wholly in the group. If
   * anything throws before (the group buffer cannot grow, an allocation fails), the group is cut back
   * to where it was and the LSN stays free, so the log never has a gap (the reader stops at one, and
   * every later record would be lost); the append throws IO and the writer goes on.
   * Throws, encoding nothing: the writer's failure if it has failed; VALUE_TOO_LARGE for a record over
   * RECORD_MAX_BYTES; IO if the record could not be encoded.
   */
  append(type: RecordType, payload: Uint8Array, length = payload.byteLength): { lsn: number; done: Promise<void> } {
    if (this.failure !== null) throw this.failure
    if (!recordFits(length)) {
      throw new StoreError(ErrorCode.VALUE_TOO_LARGE, `a log record of ${length} bytes; the largest is ${RECORD_MAX_BYTES} bytes`)
    }
    assert(length <= payload.byteLength, `record length ${length} past its payload of ${payload.byteLength} bytes`)
    const lsn = this.nextLsn
    const groupBytes = this.group.length
    const hadDone = this.groupDone !== null
    try {
      // What allocates comes first (a flush scheduled for an empty group writes nothing).
      if (this.durability !== 'none') this.groupDone ??= newGroupDone()
      this.schedule()
      if (groupBytes === 0) {
        this.groupFirstLsn = lsn
        if (!this.groupNewSegment && this.segment !== null && this.segment.size >= this.segmentBytes) this.groupNewSegment = true
        this.groupStart = this.groupNewSegment || this.segment === null ? 0 : this.segment.size
      }
      this.encode(type, lsn, payload, length)
    } catch (error) {
      // A group left empty is formed anew by the next append (groupFirstLsn, groupStart), so cutting
      // its bytes back and dropping a promise made for it here (nobody holds it; rejected when the
      // log fails, it would be an unhandled rejection) is the whole undo.
      this.group.length = groupBytes
      if (!hadDone) this.groupDone = null
      throw new StoreError(ErrorCode.IO, `the write-ahead log could not take a record of ${length} bytes (${String(error)}); nothing was logged`, { cause: error })
    }
    this.nextLsn = lsn + 1
    return { lsn, done: this.durability === 'none' ? RESOLVED : this.groupDone!.promise }
  }

  private encode(type: RecordType, lsn: number, payload: Uint8Array, payloadBytes: number): void {
    const group = this.group
    let offset = 0
    let first = true
    // Worst case: one header per block the payload touches, plus the padding of each block.
    group.reserve(payloadBytes + (Math.ceil(payloadBytes / (WAL_BLOCK_BYTES - FRAGMENT_HEADER_BYTES)) + 2) * (FRAGMENT_HEADER_BYTES * 2))
    for (;;) {
      const position = this.groupStart + group.length
      const left = WAL_BLOCK_BYTES - (position % WAL_BLOCK_BYTES)
      if (left < FRAGMENT_HEADER_BYTES) {
        group.bytes.fill(0, group.length, group.length + left)
        group.length += left
        continue
      }
      const room = left - FRAGMENT_HEADER_BYTES
      const length = Math.min(room, payloadBytes - offset)
      const last = offset + length === payloadBytes
      const fragmentType = first ? (last ? FragmentType.FULL : FragmentType.FIRST) : last ? FragmentType.LAST : FragmentType.MIDDLE
      const at = group.length
      const bytes = group.bytes
      const view = group.view
      view.setUint32(at + FragmentOffset.LENGTH, length, true)
      view.setUint8(at + FragmentOffset.FRAGMENT_TYPE, fragmentType)
      view.setUint8(at + FragmentOffset.RECORD_TYPE, type)
      view.setUint16(at + FragmentOffset.RESERVED, 0, true)
      view.setUint32(at + FragmentOffset.RECORD_BYTES, first ? payloadBytes : 0, true)
      view.setFloat64(at + FragmentOffset.LSN, lsn, true)
      view.setFloat64(at + FragmentOffset.GROUP_LSN, this.groupFirstLsn, true)
      if (length <= 64) {
        const to = at + FRAGMENT_HEADER_BYTES - offset
        for (let i = offset; i < offset + length; i++) bytes[to + i] = payload[i]!
      } else {
        bytes.set(offset === 0 && length === payload.byteLength ? payload : payload.subarray(offset, offset + length), at + FRAGMENT_HEADER_BYTES)
      }
      const crc = crc32Range(bytes, at + 4, at + FRAGMENT_HEADER_BYTES + length)
      view.setUint32(at + FragmentOffset.CRC, crc, true)
      group.length += FRAGMENT_HEADER_BYTES + length
      offset += length
      if (first) faultPoint(FAULT_POINTS.WAL_APPEND_AFTER_LSN)
      first = false
      if (last) return
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing !== null) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      // An append that failed may have left the group empty. flushLoop must not start then: over an
      // empty group it ends at once, clearing `flushing` before this assignment sets it for good,
      // and no flush would ever be scheduled again.
      if (this.flushing === null && this.group.length > 0) this.flushing = this.flushLoop()
    })
  }

  /** Writes groups until none is waiting. One runs at a time. */
  private async flushLoop(): Promise<void> {
    try {
      while (this.group.length > 0 && this.failure === null) await this.flushGroup()
    } finally {
      this.flushing = null
    }
  }

  private async flushGroup(): Promise<void> {
    const bytes = this.group.bytes.subarray(0, this.group.length)
    const lastLsn = this.nextLsn - 1
    const newSegment = this.groupNewSegment
    const firstLsn = this.groupFirstLsn
    const done = this.groupDone
    // The next group forms in the spare buffer while this one is written.
    const written = this.group
    this.group = this.spare ?? new GroupBuffer()
    this.group.length = 0
    this.spare = null
    this.groupDone = null
    this.groupNewSegment = false
    let segment = this.segment
    let start = 0
    try {
      if (newSegment || segment === null) segment = this.startSegment(firstLsn)
      start = segment.size
      assert(start === this.groupStart || newSegment, 'group encoded for another offset')
      if (killPointReached(KILL_POINTS.WAL_WRITE_TORN)) {
        segment.file.write(bytes, 0, bytes.byteLength >>> 1, start)
        kill()
      }
      if (start + bytes.byteLength > segment.allocated) this.preallocate(segment, start + bytes.byteLength)
      segment.file.write(bytes, 0, bytes.byteLength, start)
      // The bytes are in the file: the buffer can take the group after next (unless a huge record grew it).
      if (written.bytes.byteLength <= SPARE_BUFFER_BYTES_MAX) this.spare = written
      segment.size += bytes.byteLength
      this.writtenBytes += bytes.byteLength
      this.groups++
      killPoint(KILL_POINTS.WAL_AFTER_WRITE)
      if (this.durability === 'fsync') {
        await segment.file.datasyncAsync()
        this.syncs++
      }
      killPoint(KILL_POINTS.WAL_AFTER_SYNC)
    } catch (error) {
      this.fail(error, segment, start, done)
      return
    }
    this.lastDurableLsn = lastLsn
    try {
      this.onDurable(lastLsn)
    } catch (error) {
      // The records are in the log, but the owner could not take them: fail rather than leave the
      // writers hanging (the group stays in the log; a reopen replays it).
      this.fail(error, null, 0, done)
      return
    }
    done?.resolve()
  }

  private startSegment(firstLsn: number): Segment {
    if (this.segment !== null) {
      this.segments.push({ firstLsn: this.segment.firstLsn, name: segmentName(this.segment.firstLsn) })
      this.segment.file.close()
      this.segment = null
    }
    const name = segmentName(firstLsn)
    const file = this.fs.openFile(path.join(this.dir, name), { create: true })
    try {
      file.truncate(0)
      if (this.durability === 'fsync') this.fs.syncDirectory(this.dir)
    } catch (error) {
      file.close()
      throw error
    }
    this.segment = { firstLsn, file, size: 0, allocated: 0 }
    killPoint(KILL_POINTS.WAL_SEGMENT_CREATED)
    return this.segment
  }

  /** Zero-fills the segment up to at least `end`, a chunk ahead (synced with the next group). */
  private preallocate(segment: Segment, end: number): void {
    const target = Math.max(end, segment.allocated + Math.min(PREALLOCATE_BYTES, this.segmentBytes))
    let at = segment.allocated
    while (at < target) {
      const length = Math.min(ZEROS.byteLength, target - at)
      segment.file.write(ZEROS, 0, length, at)
      at += length
    }
    segment.allocated = target
  }

  private fail(error: unknown, segment: Segment | null, start: number, done: GroupDone | null): void {
    const cause = error instanceof StoreError ? error : new StoreError(ErrorCode.IO, `WAL write: ${String(error)}`, { cause: error })
    this.failure = new StoreError(
      cause.code === ErrorCode.NO_SPACE ? ErrorCode.NO_SPACE : ErrorCode.IO,
      `the write-ahead log failed (${cause.message}); writes are refused until the store is reopened`,
      { cause },
    )
    // Cut the failed group off, so that a record whose write was rejected is not replayed.
    if (segment !== null) {
      try {
        segment.file.truncate(start)
        segment.size = start
        if (this.durability === 'fsync') segment.file.datasync()
      } catch {
        // The file refuses even that: replay may find the rejected records (docs/RECOVERY.md).
      }
    }
    this.onFailure(this.failure)
    done?.reject(this.failure)
    this.groupDone?.reject(this.failure)
    this.groupDone = null
    this.group = new GroupBuffer()
  }

  /**
   * Waits until every record up to `lsn` is written (and synced, at level 'fsync'); later records
   * may still be forming. Rejects if the writer fails first.
   */
  async waitDurable(lsn: number): Promise<void> {
    assert(lsn < this.nextLsn, `waiting for LSN ${lsn}, never appended`)
    while (this.lastDurableLsn < lsn) {
      if (this.failure !== null) throw this.failure
      if (this.flushing === null && this.group.length > 0 && !this.scheduled) this.flushing = this.flushLoop()
      if (this.flushing !== null) await this.flushing
      else await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  /** Waits for every appended record to be written (and synced, at level 'fsync'). */
  async drain(): Promise<void> {
    while (this.flushing !== null || this.group.length > 0 || this.scheduled) {
      if (this.flushing === null && this.group.length > 0 && !this.scheduled) this.flushing = this.flushLoop()
      if (this.flushing !== null) await this.flushing
      else await new Promise<void>((resolve) => setImmediate(resolve))
      if (this.failure !== null) throw this.failure
    }
  }

  /**
   * Removes (or archives) the closed segments that hold only records below `redoLsn`: those the
   * durable checkpoint no longer needs. Returns the names removed.
   */
  release(redoLsn: number, archiveDir: string | null): string[] {
    const removed: string[] = []
    while (this.segments.length > 0) {
      const next = this.segments.length > 1 ? this.segments[1]!.firstLsn : this.segment?.firstLsn ?? Infinity
      if (next > redoLsn) break
      const { name } = this.segments.shift()!
      const from = path.join(this.dir, name)
      if (archiveDir !== null) {
        this.fs.mkdir(archiveDir)
        this.fs.rename(from, path.join(archiveDir, name))
      } else {
        this.fs.remove(from)
      }
      removed.push(name)
    }
    if (removed.length > 0 && this.durability === 'fsync') this.fs.syncDirectory(this.dir)
    return removed
  }

  close(): void {
    this.segment?.file.close()
    this.segment = null
  }
}
