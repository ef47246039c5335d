/**
 * The page writes of a bulk load on a second thread. A bulk load fills pages faster than one thread
 * can also checksum and write them (10M keys: 480 MB of pages; writing them into the page cache took
 * about 0.5 s of the main thread on the build machine, checksums another 0.07 s, value record
 * checks 0.15 s), so the main thread only fills pages and writes their headers, and a worker thread
 * computes each value page's record checks (value-page.ts `fillRecordChecks`) and each page's
 * checksum, and writes runs of adjacent pages with one positioned write each.
 *
 * The thread is a module file, bulk-writer-thread.ts, started from its built JavaScript
 * (`threadModule`); it checks and writes with the engine's own code (io/checksum.ts, value-page.ts)
 * and through the one file interface: a `StorageFile` over the store's descriptor (io/file.ts
 * `fileOnDescriptor`; a JavaScript object cannot cross to a thread, a descriptor can). What it does to
 * a slot is two functions of bulk-writer-slots.ts, `sealSlot` and `writeSlot(file)`, which this thread
 * calls with the store's own file whenever it writes a slot itself. So a file without a descriptor
 * (the crash suite's, which holds unsynced writes in memory to drop them at a power cut) is never
 * written around: such a store starts no thread, and each slot goes through its file on this thread.
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
 * (an uncaught exception: its exit handler says so), from the first slot it had not counted as written.
 * A write error (ENOSPC, EIO) is kept by the thread, which writes nothing after it; `finish` throws
 * it, typed by the file interface as on this thread (NO_SPACE or IO, naming the file and operation). `close` stops the thread and waits for a write in progress, so no page is
 * written after the caller frees it.
 *
 * Where the file system takes them, the thread writes through a second descriptor opened with
 * O_DIRECT (io/file.ts `openDirect`: the slots start at an offset whose address the device accepts,
 * found by a probe write to a scratch file): the pages go from the slots to the device without being copied into the page cache,
 * which on the build machine was the slow part of a load (10M keys, 470 MB of pages: 0.1 s to write
 * through the page cache when its memory had been used before, 0.4-0.9 s when it had not, and each
 * page written back again by the syncs), and no writeback is left for the checkpoint. Elsewhere
 * (tmpfs, other platforms) it writes through the store's descriptor. Either way nothing is durable
 * until the checkpoint's sync (O_DIRECT does not flush the device's cache or commit metadata).
 *
 * Every 32 MiB written, the thread starts a sync (`datasyncAsync`: libuv's pool, so the writes go on
 * meanwhile): the work the checkpoint after the load would otherwise wait for happens while the load
 * goes on. A failed sync fails the load like a failed write.
 */

import { Worker } from 'node:worker_threads'
import { assert } from '../errors.js'
import { DIRECT_ALIGN_MAX, openDirect, type StorageFile } from '../io/file.js'
import { threadModule } from '../io/thread-module.js'
import {
  CONTROL_WORDS,
  Control,
  MESSAGE_BYTES,
  SLOT_COUNT,
  ThreadState,
  reportedFailure,
  sealSlot,
  writeSlot,
  type SlotSet,
  type ThreadData,
} from './bulk-writer-slots.js'
import type { PageFile } from './page-file.js'

/** Default slot size: 8 MiB (128 pages of 64 KiB). */
export const BULK_SLOT_BYTES = 8 << 20

/** The thread starts a sync (beside its writes) once this many bytes are written and not yet synced. */
const SYNC_EVERY_BYTES = 32 << 20

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
  private readonly set: SlotSet
  private readonly control: Int32Array
  private readonly message: Uint8Array
  private readonly startTimeoutMs: number
  private readonly startThread: boolean
  private readonly exitThreadAfterSlots: number
  /** A thread was asked for (`thread` is null if the tests said not to start it). */
  private started = false
  private thread: Worker | null = null
  /** The main thread writes every slot itself (no thread started, or it never came up). */
  private inline = false
  /** Sequence number of the slot being filled, and pages in it so far. */
  private sequence = 0
  private filled = 0
  private highest = -1
  private closed = false

  /** The store's descriptor of the page file, which the thread writes through, or null: every slot is written here. */
  private readonly fd: number | null
  /** The page file opened a second time with O_DIRECT, which the thread writes through, or null. */
  private directFile: StorageFile | null = null

  constructor(
    private readonly file: PageFile,
    options: BulkWriterOptions = {},
  ) {
    const pageSizeBytes = file.pageSizeBytes
    const slotBytes = options.slotBytes ?? BULK_SLOT_BYTES
    this.pagesPerSlot = Math.max(1, Math.floor(slotBytes / pageSizeBytes))
    // A thread needs the file's descriptor (not the fault-injecting files of test/, not a read-only
    // store's overlay); without one, every slot is written on this thread through the same interface.
    this.fd = file.descriptor()
    this.inline = this.fd === null
    const slotsBytes = SLOT_COUNT * this.pagesPerSlot * pageSizeBytes
    const shared = new SharedArrayBuffer(slotsBytes + DIRECT_ALIGN_MAX)
    const direct = this.fd !== null && file.file.writable === true && (options.directIo ?? true) ? openDirect(file.path, new Uint8Array(shared)) : null
    this.directFile = direct?.file ?? null
    this.set = {
      slots: new Uint8Array(shared, direct?.bufferOffset ?? 0, slotsBytes),
      ids: new Uint32Array(new SharedArrayBuffer(4 * SLOT_COUNT * (this.pagesPerSlot + 1))),
      pageSizeBytes,
      pagesPerSlot: this.pagesPerSlot,
    }
    this.control = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS))
    this.message = new Uint8Array(new SharedArrayBuffer(MESSAGE_BYTES))
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000
    this.startThread = options.startThread ?? true
    this.exitThreadAfterSlots = options.exitThreadAfterSlots ?? -1
  }

  /** Whether a thread was started for this load, and whether this thread took its work over (tests). */
  get threaded(): boolean {
    return this.started
  }

  get tookOver(): boolean {
    return this.started && this.inline
  }

  /** Whether the thread writes through an O_DIRECT descriptor (tests). */
  get direct(): boolean {
    return this.directFile !== null
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
    this.set.ids[slot * (this.pagesPerSlot + 1) + 1 + this.filled] = pageId
    if (pageId > this.highest) this.highest = pageId
    const size = this.set.pageSizeBytes
    const at = (slot * this.pagesPerSlot + this.filled) * size
    this.filled++
    return this.set.slots.subarray(at, at + size)
  }

  /**
   * Hands over the last slot, waits until every page is written, and stops the thread. Throws the
   * first write error (NO_SPACE or IO). The pages are not synced: the caller's checkpoint syncs them.
   */
  finish(): void {
    assert(!this.closed, 'bulk writer finished after close')
    // The first slot never filled: no thread for so little.
    if (!this.started) this.inline = true
    this.submit()
    while (Atomics.load(this.control, Control.COMPLETED) < this.sequence) this.waitOnce()
    this.throwIfFailed()
    this.close()
  }

  /** Stops the thread (after the write it is in, if any) without writing what is left. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.started) {
      Atomics.store(this.control, Control.STOP, 1)
      Atomics.notify(this.control, Control.SUBMITTED)
      // A thread that never started exits when it does, without touching either descriptor.
      if (Atomics.compareExchange(this.control, Control.STATE, ThreadState.STARTING, ThreadState.ABANDONED) !== ThreadState.STARTING) {
        while (Atomics.load(this.control, Control.STATE) === ThreadState.RUNNING) Atomics.wait(this.control, Control.STATE, ThreadState.RUNNING, 100)
      }
      this.thread?.unref()
    }
    if (this.directFile !== null) {
      const direct = this.directFile
      this.directFile = null
      try {
        direct.close()
      } catch {
        // Nothing was written through it that is not already written (the writes were direct).
      }
    }
  }

  private submit(): void {
    if (this.filled === 0) return
    const slot = this.sequence % SLOT_COUNT
    this.set.ids[slot * (this.pagesPerSlot + 1)] = this.filled
    // Grows the file (as writePages would) and counts the pages, whoever writes them.
    this.file.noteBulkWrite(this.filled, this.highest)
    this.filled = 0
    this.sequence++
    if (this.inline) {
      this.writeHere(slot)
      Atomics.store(this.control, Control.COMPLETED, this.sequence)
      return
    }
    if (!this.started) this.start()
    Atomics.store(this.control, Control.SUBMITTED, this.sequence)
    Atomics.notify(this.control, Control.SUBMITTED)
  }

  /** Waits until slot `sequence` (mod SLOT_COUNT) is free: its previous use written. */
  private waitForSlot(sequence: number): void {
    while (Atomics.load(this.control, Control.COMPLETED) < sequence - SLOT_COUNT + 1) this.waitOnce()
    this.throwIfFailed()
  }

  private waitOnce(): void {
    const { control } = this
    const completed = Atomics.load(control, Control.COMPLETED)
    const state = Atomics.load(control, Control.STATE)
    if (state === ThreadState.RUNNING) {
      Atomics.wait(control, Control.COMPLETED, completed, 1000)
      return
    }
    if (state === ThreadState.STARTING) {
      if (Atomics.wait(control, Control.STATE, ThreadState.STARTING, this.startTimeoutMs) !== 'timed-out') return
      // The thread has not started: claim the start (it exits if it starts now) and write what it holds.
      if (Atomics.compareExchange(control, Control.STATE, ThreadState.STARTING, ThreadState.ABANDONED) !== ThreadState.STARTING) return
    }
    // The thread never started, or ended without being stopped: write the rest here.
    this.inline = true
    for (let s = Atomics.load(control, Control.COMPLETED); s < Atomics.load(control, Control.SUBMITTED); s++) {
      this.writeHere(s % SLOT_COUNT)
      Atomics.store(control, Control.COMPLETED, s + 1)
    }
  }

  private throwIfFailed(): void {
    const failure = reportedFailure(this.control, this.message)
    if (failure !== null) throw failure
  }

  /** This thread's write of one slot: the thread's own two steps, through the store's file. */
  private writeHere(slot: number): void {
    sealSlot(this.set, slot)
    writeSlot(this.set, slot, this.file.file)
  }

  private start(): void {
    this.started = true
    // Tests: a thread that never comes up; the control state stays STARTING.
    if (!this.startThread) return
    const data: ThreadData = {
      ...this.set,
      path: this.file.path,
      fd: this.fd!,
      directFd: this.directFile?.descriptor?.() ?? -1,
      control: this.control,
      message: this.message,
      syncEveryBytes: SYNC_EVERY_BYTES,
      exitAfterSlots: this.exitThreadAfterSlots,
    }
    this.thread = new Worker(threadModule(import.meta.url, 'bulk-writer-thread.js', "the bulk writer's thread"), { workerData: data })
    // Errors are reported through the control array; an 'error' event would only repeat one.
    this.thread.on('error', () => {})
  }
}

