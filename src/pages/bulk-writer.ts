/**
 * The page writes of a bulk load on a second thread. A bulk load fills pages faster than one thread
 * can also checksum and write them (10M keys: 480 MB of pages; writing them into the page cache took
 * about 0.5 s of the main thread on the build machine, checksums another 0.07 s, value record
 * checks 0.15 s), so the main thread only fills pages and writes their headers, and a worker thread
 * computes each value page's record checks (value-page.ts `fillRecordChecks`) and each page's
 * checksum, and writes runs of adjacent pages with one positioned write each.
 *
 * Pages are filled in place in slots of a SharedArrayBuffer (SLOT_COUNT slots of up to `slotBytes`):
 * the main thread fills slot s, hands it over, and fills slot s + 1 while the worker writes slot s.
 * The two threads share a small control array (no messages): SUBMITTED counts slots handed over,
 * COMPLETED slots written; the main thread waits (`Atomics.wait`) only when every slot is still being
 * written, so a disk slower than the load holds it back with SLOT_COUNT slots of memory at most.
 *
 * A load that never fills its first slot starts no thread: `finish` writes that slot itself. If the
 * thread has not started within `startTimeoutMs` of the main thread waiting for it, the main thread
 * claims the start state (compare-and-swap, so the thread exits if it starts later), writes what was
 * handed over, and writes every later slot itself; likewise if the thread ends without being stopped
 * (an uncaught exception: its exit handler says so), from the first slot it had not counted as written. A write error (ENOSPC, EIO) is kept by the thread,
 * which writes nothing after it; `finish` throws it, typed as the synchronous path would (NO_SPACE or
 * IO), naming the file. `close` stops the thread and waits for a write in progress, so no page is
 * written after the caller frees it.
 *
 * Where the file system takes them, the thread writes through a second descriptor opened with
 * O_DIRECT (the slots start at an offset whose address the device accepts, found by a probe write to
 * a scratch file): the pages go from the slots to the device without being copied into the page cache,
 * which on the build machine was the slow part of a load (10M keys, 470 MB of pages: 0.1 s to write
 * through the page cache when its memory had been used before, 0.4-0.9 s when it had not, and each
 * page written back again by the syncs), and no writeback is left for the checkpoint. Elsewhere
 * (tmpfs, other platforms) it writes through the store's descriptor. Either way nothing is durable
 * until the checkpoint's sync (O_DIRECT does not flush the device's cache or commit metadata).
 *
 * Every 32 MiB written, the thread starts a sync (`fdatasync` on libuv's pool, so the writes go on
 * meanwhile): the work the checkpoint after the load would otherwise wait for happens while the load
 * goes on. A failed sync fails the load like a failed write.
 */

import fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import zlib from 'node:zlib'
import { assert } from '../errors.js'
import { ioError } from '../io/file.js'
import type { PageFile, PageWrite } from './page-file.js'
import { HeaderOffset, PageType } from './page-format.js'
import { pageChecksum } from './page-header.js'
import { LONG_STUB_FORM, OVERFLOW_FLAG, VALUE_RECORDS_OFFSET, VALUE_RECORD_HEADER_BYTES, VALUE_RECORD_SHORT_HEADER_BYTES, VALUE_RECORD_SHORT_MAX, ValueOffset, fillRecordChecks } from './value-page.js'
import { CRC32_TABLES } from '../io/checksum.js'

/** Slots in flight: one being filled while the others are written. */
const SLOT_COUNT = 4
/** Default slot size: 8 MiB (128 pages of 64 KiB). */
export const BULK_SLOT_BYTES = 8 << 20

// Control words (Int32Array indexes), shared with the thread.
const STATE = 0
const SUBMITTED = 1
const COMPLETED = 2
const STOP = 3
const FAILED = 4
const CONTROL_WORDS = 8

// STATE values: the thread moves STARTING -> RUNNING -> DONE (2); the main thread may claim STARTING -> ABANDONED.
const STARTING = 0
const RUNNING = 1
const ABANDONED = 3

/** The thread starts a sync (beside its writes) once this many bytes are written and not yet synced. */
const SYNC_EVERY_BYTES = 32 << 20

/**
 * Direct I/O (O_DIRECT) wants the buffer's address aligned to the device's logical block (512 or 4096
 * bytes); JavaScript cannot see an address, so the slots start at the first offset, in steps of
 * DIRECT_PROBE_STEP below DIRECT_ALIGN_MAX, from which an O_DIRECT write succeeds (`openDirect`).
 */
const DIRECT_ALIGN_MAX = 4096
const DIRECT_PROBE_STEP = 16

/** Bytes of the shared area the thread reports a write error in ("CODE\nmessage", UTF-8). */
const MESSAGE_BYTES = 1024

export interface BulkWriterOptions {
  /** Bytes per slot (a whole number of pages, at least one); default BULK_SLOT_BYTES. */
  slotBytes?: number
  /** How long the main thread waits for the thread to start before writing itself; default 10 s. */
  startTimeoutMs?: number
  /** Tests only: never start the thread (exercises the start timeout). */
  startThread?: boolean
  /** Tests only: the thread exits (as if it crashed) after writing this many slots, before counting the last. */
  exitThreadAfterSlots?: number
  /** Whether the thread writes through an O_DIRECT descriptor where the file system allows one; default true. */
  directIo?: boolean
}

export class BulkWriter {
  readonly pagesPerSlot: number
  private readonly pageSize: number
  private readonly slots: Uint8Array
  /** Per slot: the page count, then that many page ids. */
  private readonly ids: Uint32Array
  private readonly control: Int32Array
  private readonly message: Uint8Array
  private readonly startTimeoutMs: number
  private readonly startThread: boolean
  private readonly exitThreadAfterSlots: number
  private thread: Worker | null = null
  /** The main thread writes every slot itself (no thread started, or it never came up). */
  private inline = false
  /** Sequence number of the slot being filled, and pages in it so far. */
  private sequence = 0
  private filled = 0
  private highest = -1
  private closed = false

  /** The descriptor the thread writes through, or null: every slot is written here, synchronously. */
  private readonly fd: number | null
  /** A second descriptor of the page file opened with O_DIRECT, which the thread writes through, or null. */
  private directFd: number | null = null

  constructor(
    private readonly file: PageFile,
    options: BulkWriterOptions = {},
  ) {
    this.pageSize = file.pageSizeBytes
    const slotBytes = options.slotBytes ?? BULK_SLOT_BYTES
    this.pagesPerSlot = Math.max(1, Math.floor(slotBytes / this.pageSize))
    // A thread needs the file's descriptor (not the fault-injecting file of test/crash, not a
    // read-only store's overlay) and the built-in CRC-32; without them this writes synchronously.
    this.fd = typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? file.descriptor() : null
    this.inline = this.fd === null
    const slotsBytes = SLOT_COUNT * this.pagesPerSlot * this.pageSize
    const shared = new SharedArrayBuffer(slotsBytes + DIRECT_ALIGN_MAX)
    const direct = this.fd !== null && file.file.writable === true && (options.directIo ?? true) ? openDirect(file.path, new Uint8Array(shared)) : null
    this.directFd = direct?.fd ?? null
    this.slots = new Uint8Array(shared, direct?.offset ?? 0, slotsBytes)
    this.ids = new Uint32Array(new SharedArrayBuffer(4 * SLOT_COUNT * (this.pagesPerSlot + 1)))
    this.control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS))
    this.message = new Uint8Array(new SharedArrayBuffer(MESSAGE_BYTES))
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000
    this.startThread = options.startThread ?? true
    this.exitThreadAfterSlots = options.exitThreadAfterSlots ?? -1
  }

  /** Whether a thread was started for this load, and whether this thread took its work over (tests). */
  get threaded(): boolean {
    return this.thread !== null
  }

  /** Whether the thread writes through an O_DIRECT descriptor (tests). */
  get direct(): boolean {
    return this.directFd !== null
  }

  get tookOver(): boolean {
    return this.thread !== null && this.inline
  }

  /**
   * The next page to fill, as page `pageId` (zeroed only where the caller zeroes it). The caller
   * writes the whole page and its header (`writePageHeader`: checksum left zero) before asking for
   * the next one; `finish` or the next call hands it over.
   */
  nextPage(pageId: number): Uint8Array {
    assert(!this.closed, 'bulk writer used after close')
    if (this.filled === this.pagesPerSlot) this.submit()
    if (this.filled === 0) this.waitForSlot(this.sequence)
    const slot = this.sequence % SLOT_COUNT
    const base = slot * (this.pagesPerSlot + 1)
    this.ids[base + 1 + this.filled] = pageId
    if (pageId > this.highest) this.highest = pageId
    const at = (slot * this.pagesPerSlot + this.filled) * this.pageSize
    this.filled++
    return this.slots.subarray(at, at + this.pageSize)
  }

  /**
   * Hands over the last slot, waits until every page is written, and stops the thread. Throws the
   * first write error (NO_SPACE or IO). The pages are not synced: the caller's checkpoint syncs them.
   */
  finish(): void {
    assert(!this.closed, 'bulk writer finished after close')
    // The first slot never filled: no thread for so little.
    if (this.thread === null) this.inline = true
    this.submit()
    while (Atomics.load(this.control, COMPLETED) < this.sequence) this.waitOnce()
    this.throwIfFailed()
    this.close()
  }

  /** Stops the thread (after the write it is in, if any) without writing what is left. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.thread !== null) {
      Atomics.store(this.control, STOP, 1)
      Atomics.notify(this.control, SUBMITTED)
      // A thread that never started exits when it does, without touching either descriptor.
      if (Atomics.compareExchange(this.control, STATE, STARTING, ABANDONED) !== STARTING) {
        while (Atomics.load(this.control, STATE) === RUNNING) Atomics.wait(this.control, STATE, RUNNING, 100)
      }
      this.thread.unref()
    }
    if (this.directFd !== null) {
      const fd = this.directFd
      this.directFd = null
      try {
        fs.closeSync(fd)
      } catch {
        // Nothing was written through it that is not already written (the writes were direct).
      }
    }
  }

  private submit(): void {
    if (this.filled === 0) return
    const slot = this.sequence % SLOT_COUNT
    this.ids[slot * (this.pagesPerSlot + 1)] = this.filled
    this.filled = 0
    this.sequence++
    if (this.inline) {
      this.writeSlot(slot)
      Atomics.store(this.control, COMPLETED, this.sequence)
      return
    }
    this.file.noteBulkWrite(this.ids[slot * (this.pagesPerSlot + 1)]!, this.highest)
    if (this.thread === null) this.start()
    Atomics.store(this.control, SUBMITTED, this.sequence)
    Atomics.notify(this.control, SUBMITTED)
  }

  /** Waits until slot `sequence` (mod SLOT_COUNT) is free: its previous use written. */
  private waitForSlot(sequence: number): void {
    while (Atomics.load(this.control, COMPLETED) < sequence - SLOT_COUNT + 1) this.waitOnce()
    this.throwIfFailed()
  }

  private waitOnce(): void {
    const completed = Atomics.load(this.control, COMPLETED)
    const state = Atomics.load(this.control, STATE)
    if (state === RUNNING) {
      Atomics.wait(this.control, COMPLETED, completed, 1000)
      return
    }
    if (state === STARTING) {
      if (Atomics.wait(this.control, STATE, STARTING, this.startTimeoutMs) !== 'timed-out') return
      // The thread has not started: claim the start (it exits if it starts now) and write what it holds.
      if (Atomics.compareExchange(this.control, STATE, STARTING, ABANDONED) !== STARTING) return
    }
    // The thread never started, or ended without being stopped: write the rest here.
    this.inline = true
    for (let s = Atomics.load(this.control, COMPLETED); s < Atomics.load(this.control, SUBMITTED); s++) {
      this.rewriteSlot(s % SLOT_COUNT)
      Atomics.store(this.control, COMPLETED, s + 1)
    }
  }

  private throwIfFailed(): void {
    if (Atomics.load(this.control, FAILED) === 0) return
    // "CODE\noperation\nmessage", from the thread's `report`.
    const [code = '', operation = 'write', ...rest] = new TextDecoder().decode(this.message).replace(/\0+$/, '').split('\n')
    throw ioError(Object.assign(new Error(rest.join('\n')), { code }), this.file.path, operation)
  }

  /** The main thread's own write of one slot, through the page file (which grows and counts). */
  private writeSlot(slot: number): void {
    const writes: PageWrite[] = []
    this.forEachPage(slot, (pageId, page) => {
      sealWithHeader(page, pageId)
      writes.push({ pageId, page })
    })
    this.file.writePages(writes)
  }

  /** A slot the thread was handed but did not write (it never started, or ended early). */
  private rewriteSlot(slot: number): void {
    this.forEachPage(slot, (pageId, page) => {
      sealWithHeader(page, pageId)
      this.file.file.write(page, 0, page.byteLength, pageId * this.pageSize)
    })
  }

  private forEachPage(slot: number, visit: (pageId: number, page: Uint8Array) => void): void {
    const base = slot * (this.pagesPerSlot + 1)
    const count = this.ids[base]!
    const first = slot * this.pagesPerSlot * this.pageSize
    for (let i = 0; i < count; i++) visit(this.ids[base + 1 + i]!, this.slots.subarray(first + i * this.pageSize, first + (i + 1) * this.pageSize))
  }

  private start(): void {
    if (!this.startThread) {
      // Tests: a thread that never comes up; the control state stays STARTING.
      this.thread = new Worker('', { eval: true })
      return
    }
    this.thread = new Worker(`(${bulkWriterThread.toString()})()`, {
      eval: true,
      workerData: {
        fd: this.fd!,
        directFd: this.directFd ?? -1,
        slots: this.slots,
        ids: this.ids,
        control: this.control,
        message: this.message,
        pageSize: this.pageSize,
        pagesPerSlot: this.pagesPerSlot,
        slotCount: SLOT_COUNT,
        checksumAt: HeaderOffset.CHECKSUM,
        syncEveryBytes: SYNC_EVERY_BYTES,
        exitAfterSlots: this.exitThreadAfterSlots,
        valuePage: {
          typeAt: HeaderOffset.TYPE,
          type: PageType.VALUE,
          endAt: ValueOffset.END,
          recordsAt: VALUE_RECORDS_OFFSET,
          shortMax: VALUE_RECORD_SHORT_MAX,
          shortHeader: VALUE_RECORD_SHORT_HEADER_BYTES,
          longHeader: VALUE_RECORD_HEADER_BYTES,
          stubForm: LONG_STUB_FORM,
          overflowFlag: OVERFLOW_FLAG,
        },
        crcTables: CRC32_TABLES,
      },
    })
    // Errors are reported through the control array; an 'error' event would only repeat one.
    this.thread.on('error', () => {})
  }
}

/**
 * Completes a page whose header is written: a value page's record checks (`fillRecordChecks`), then
 * the page checksum, as `sealPage` would.
 */
function sealWithHeader(page: Uint8Array, pageId: number): void {
  if (page[HeaderOffset.TYPE] === PageType.VALUE) fillRecordChecks(page, pageId)
  new DataView(page.buffer, page.byteOffset, page.byteLength).setUint32(HeaderOffset.CHECKSUM, pageChecksum(page), true)
}

/**
 * The thread's body, run from its source text (`eval`): it must not refer to anything outside
 * itself. It writes each handed-over slot: the checksum of each page (the CRC-32 of the page with the
 * checksum field zero, which is how the main thread leaves it: page-header.ts `pageChecksum`), then
 * each run of adjacent page ids with one positioned write.
 */
function bulkWriterThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { workerData } = require('node:worker_threads') as typeof import('node:worker_threads')
  const fs = require('node:fs') as typeof import('node:fs')
  const zlib = require('node:zlib') as { crc32: (data: Uint8Array, value?: number) => number }
  const data = workerData as {
    fd: number
    directFd: number
    slots: Uint8Array
    ids: Uint32Array
    control: Int32Array
    message: Uint8Array
    pageSize: number
    pagesPerSlot: number
    slotCount: number
    checksumAt: number
    syncEveryBytes: number
    exitAfterSlots: number
    valuePage: { typeAt: number; type: number; endAt: number; recordsAt: number; shortMax: number; shortHeader: number; longHeader: number; stubForm: number; overflowFlag: number }
    crcTables: Int32Array[]
  }
  const { fd, directFd, slots, ids, control, message, pageSize, pagesPerSlot, slotCount, checksumAt, syncEveryBytes, valuePage: v } = data
  const [T0, T1, T2, T3, T4, T5, T6, T7] = data.crcTables as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array]
  // checksum.ts's crc32Range and crc32Words3, and value-page.ts's fillRecordChecks, over the slots.
  const crcRange = (start: number, end: number, seed: number): number => {
    if (end - start >= 256) return zlib.crc32(slots.subarray(start, end), seed) >>> 0
    let c = ~seed
    let i = start
    for (; i + 8 <= end; i += 8) {
      const a = c ^ (slots[i]! | (slots[i + 1]! << 8) | (slots[i + 2]! << 16) | (slots[i + 3]! << 24))
      c = T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^ T3[slots[i + 4]!]! ^ T2[slots[i + 5]!]! ^ T1[slots[i + 6]!]! ^ T0[slots[i + 7]!]!
    }
    for (; i < end; i++) c = T0[(c ^ slots[i]!) & 0xff]! ^ (c >>> 8)
    return (c ^ -1) >>> 0
  }
  const crcWords3 = (a: number, b: number, c: number): number => {
    let x = ~0 ^ a
    x = T3[x & 0xff]! ^ T2[(x >>> 8) & 0xff]! ^ T1[(x >>> 16) & 0xff]! ^ T0[x >>> 24]!
    x ^= b
    x = T3[x & 0xff]! ^ T2[(x >>> 8) & 0xff]! ^ T1[(x >>> 16) & 0xff]! ^ T0[x >>> 24]!
    x ^= c
    x = T3[x & 0xff]! ^ T2[(x >>> 8) & 0xff]! ^ T1[(x >>> 16) & 0xff]! ^ T0[x >>> 24]!
    return (x ^ -1) >>> 0
  }
  const writeU32 = (at: number, value: number): void => {
    slots[at] = value & 0xff
    slots[at + 1] = (value >>> 8) & 0xff
    slots[at + 2] = (value >>> 16) & 0xff
    slots[at + 3] = value >>> 24
  }
  const fillRecordChecks = (page: number, pageId: number): void => {
    const end = page + (slots[page + v.endAt]! | (slots[page + v.endAt + 1]! << 8) | (slots[page + v.endAt + 2]! << 16) | (slots[page + v.endAt + 3]! << 24))
    let at = page + v.recordsAt
    while (at < end) {
      const form = slots[at]!
      let start: number
      let length: number
      let word: number
      if (form <= v.shortMax) {
        length = form
        word = form
        start = at + v.shortHeader
      } else {
        length = slots[at + 1]! | (slots[at + 2]! << 8) | (slots[at + 3]! << 16)
        word = form === v.stubForm ? (v.overflowFlag | length) >>> 0 : length
        start = at + v.longHeader
      }
      writeU32(start - 4, crcRange(start, start + length, crcWords3(pageId, at - page, word)))
      at = start + length
    }
  }
  const [STATE, SUBMITTED, COMPLETED, STOP, FAILED] = [0, 1, 2, 3, 4]
  const [STARTING, RUNNING, DONE] = [0, 1, 2]
  if (Atomics.compareExchange(control, STATE, STARTING, RUNNING) !== STARTING) return
  // A thread that ends without reaching DONE (an uncaught exception, an exit) says DONE on its way
  // out, so that the main thread is never left waiting: it writes what was not counted as written
  // itself (waitOnce), as for a thread that never started.
  process.on('exit', () => {
    if (Atomics.compareExchange(control, STATE, RUNNING, DONE) !== RUNNING) return
    Atomics.notify(control, STATE)
    Atomics.notify(control, COMPLETED)
  })
  Atomics.notify(control, STATE)
  let completed = 0
  let unsynced = 0
  // Pages go straight to the device where the file takes O_DIRECT writes: neither the page cache's
  // memory nor its writeback is paid, and the syncs only commit metadata and flush the device cache.
  let target = directFd >= 0 ? directFd : fd
  // A sync in flight (fs.fdatasync on libuv's pool): writes go on meanwhile; its callback runs when
  // this loop yields to the event loop (after each slot, and while waiting for one).
  let syncing: Promise<void> | null = null
  const report = (error: unknown, operation: string): void => {
    if (Atomics.load(control, FAILED) !== 0) return
    const code = (error as { code?: unknown }).code
    const text = `${typeof code === 'string' ? code : ''}\n${operation}\n${error instanceof Error ? error.message : String(error)}`
    message.set(new TextEncoder().encode(text).subarray(0, message.byteLength))
    Atomics.store(control, FAILED, 1)
  }
  const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  // Atomics.waitAsync (Node 16+; in TypeScript's lib from es2024): waits without blocking the event loop.
  const waitAsync = (Atomics as unknown as { waitAsync: (array: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: unknown } }).waitAsync
  const run = async (): Promise<void> => {
    for (;;) {
      if (Atomics.load(control, STOP) === 1) break
      if (syncing === null && unsynced >= syncEveryBytes && Atomics.load(control, FAILED) === 0) {
        // Start the writeback of what is written so far, so that the checkpoint's sync after the
        // load finds little left to write. It runs beside the writes (a synchronous one held the
        // next slots back: 10M keys, 14 syncs, about 0.23 s). A failure fails the load: the pages
        // may never reach the disk, and a later sync need not report it again.
        unsynced = 0
        syncing = new Promise((resolve) => {
          fs.fdatasync(fd, (error) => {
            syncing = null
            if (error !== null) report(error, 'sync')
            resolve()
          })
        })
      }
      if (Atomics.load(control, SUBMITTED) === completed) {
        const waited = waitAsync(control, SUBMITTED, completed, 1000)
        if (waited.async) await waited.value
        continue
      }
      if (Atomics.load(control, FAILED) === 0) {
        try {
          const slot = completed % slotCount
          const base = slot * (pagesPerSlot + 1)
          const count = ids[base]!
          const first = slot * pagesPerSlot * pageSize
          for (let i = 0; i < count; i++) {
            const at = first + i * pageSize
            if (slots[at + v.typeAt] === v.type) fillRecordChecks(at, ids[base + 1 + i]!)
            const crc = zlib.crc32(slots.subarray(at, at + pageSize)) >>> 0
            slots[at + checksumAt] = crc & 0xff
            slots[at + checksumAt + 1] = (crc >>> 8) & 0xff
            slots[at + checksumAt + 2] = (crc >>> 16) & 0xff
            slots[at + checksumAt + 3] = crc >>> 24
          }
          let i = 0
          while (i < count) {
            let j = i + 1
            while (j < count && ids[base + 1 + j] === ids[base + j]! + 1) j++
            const offset = first + i * pageSize
            const length = (j - i) * pageSize
            const position = ids[base + 1 + i]! * pageSize
            let done = 0
            while (done < length) {
              try {
                done += fs.writeSync(target, slots, offset + done, length - done, position + done)
              } catch (error) {
                // A file system that takes O_DIRECT opens but not these writes: write through the page cache.
                if (target === fd || (error as { code?: unknown }).code !== 'EINVAL') throw error
                target = fd
              }
            }
            unsynced += length
            i = j
          }
        } catch (error) {
          report(error, 'write')
        }
      }
      if (completed + 1 === data.exitAfterSlots) process.exit(1)
      completed++
      Atomics.store(control, COMPLETED, completed)
      Atomics.notify(control, COMPLETED)
      // Lets a finished sync's callback run.
      if (syncing !== null) await yieldToEvents()
    }
  }
  // A pending waitAsync does not keep a thread's event loop alive: this does, until the thread is done.
  const keepAlive = setInterval(() => {}, 1 << 30)
  const settle = async (): Promise<void> => {
    try {
      await run()
    } catch (error) {
      report(error, 'write')
    }
    // The caller may close the descriptor once this thread is done: a sync still using it ends first.
    if (syncing !== null) await syncing
    clearInterval(keepAlive)
    Atomics.store(control, STATE, DONE)
    Atomics.notify(control, STATE)
  }
  void settle()
}

/**
 * Opens `path` a second time with O_DIRECT, and finds the first offset into `buffer` (in steps of
 * DIRECT_PROBE_STEP, below DIRECT_ALIGN_MAX) whose address the device takes for direct writes: a
 * DIRECT_ALIGN_MAX-byte O_DIRECT write to a scratch file beside `path` (deleted after) succeeds from
 * there and fails with EINVAL before it. (A read cannot tell: one over a hole is answered without
 * the device, at any address.) Null where there is no O_DIRECT (other platforms, tmpfs) or no such
 * offset: the thread then writes through the page cache.
 */
function openDirect(path: string, buffer: Uint8Array): { fd: number; offset: number } | null {
  const flag = (fs.constants as { O_DIRECT?: number }).O_DIRECT
  if (flag === undefined) return null
  const probePath = `${path}.direct-probe`
  let offset = -1
  try {
    const probe = fs.openSync(probePath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | flag)
    try {
      for (let at = 0; at < DIRECT_ALIGN_MAX && offset < 0; at += DIRECT_PROBE_STEP) {
        try {
          if (fs.writeSync(probe, buffer, at, DIRECT_ALIGN_MAX, 0) === DIRECT_ALIGN_MAX) offset = at
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'EINVAL') break
        }
      }
    } finally {
      fs.closeSync(probe)
      fs.rmSync(probePath, { force: true })
    }
  } catch {
    return null
  }
  if (offset < 0) return null
  try {
    return { fd: fs.openSync(path, fs.constants.O_RDWR | flag), offset }
  } catch {
    return null
  }
}
