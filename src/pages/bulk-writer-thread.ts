/**
 * The bulk writer's thread (started by bulk-writer.ts with this module's built file; `workerData` is a
 * `ThreadData`). It writes each slot the main thread hands over: `sealSlot` (record checks and page
 * checksums, the engine's own code in io/checksum.ts and value-page.ts), then `writeSlot` through the
 * one file interface, over the store's descriptor (`fileOnDescriptor`), or over an O_DIRECT one where
 * the main thread opened it (`openDirect`). Every SYNC_EVERY_BYTES written it starts a `datasyncAsync`
 * beside the writes. The protocol (control words, states, failures) is in bulk-writer-slots.ts.
 */

import { isMainThread, workerData } from 'node:worker_threads'
import { assert } from '../errors.js'
import { fileOnDescriptor, type StorageFile } from '../io/file.js'
import { Control, SLOT_COUNT, ThreadState, reportFailure, sealSlot, writeSlot, type ThreadData } from './bulk-writer-slots.js'

assert(!isMainThread, 'bulk-writer-thread.js runs as a worker thread only (bulk-writer.ts starts it)')
const data = workerData as ThreadData
const { control } = data

// Atomics.waitAsync (Node 16+; in TypeScript's lib from es2024): waits without blocking the event loop.
const waitAsync = (Atomics as unknown as { waitAsync: (array: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: Promise<unknown> } }).waitAsync

/** Runs the writer until stopped; then waits for a sync in flight and says DONE. */
async function settle(writer: SlotWriter): Promise<void> {
  // A pending waitAsync does not keep a thread's event loop alive: this does, until the thread is done.
  const keepAlive = setInterval(() => {}, 1 << 30)
  try {
    await writer.run()
  } catch (error) {
    writer.fail(error, 'write')
  }
  // The main thread may close the descriptors once this thread is done: a sync still using one ends first.
  await writer.syncing
  clearInterval(keepAlive)
  Atomics.store(control, Control.STATE, ThreadState.DONE)
  Atomics.notify(control, Control.STATE)
}

class SlotWriter {
  /** The page file through the store's descriptor, and through the O_DIRECT one (or the same). */
  private readonly buffered: StorageFile
  private target: StorageFile
  private completed = 0
  private unsyncedBytes = 0
  /** A sync in flight (on libuv's pool): writes go on meanwhile; settled when it is done. */
  syncing: Promise<void> | null = null

  constructor(private readonly data: ThreadData) {
    this.buffered = fileOnDescriptor(data.path, data.fd, true)
    // Pages go straight to the device where the file takes O_DIRECT writes: neither the page cache's
    // memory nor its writeback is paid, and the syncs only commit metadata and flush the device cache.
    this.target = data.directFd >= 0 ? fileOnDescriptor(data.path, data.directFd, true) : this.buffered
  }

  fail(error: unknown, operation: string): void {
    reportFailure(control, this.data.message, error, this.data.path, operation)
  }

  async run(): Promise<void> {
    for (;;) {
      if (Atomics.load(control, Control.STOP) === 1) return
      if (this.syncing === null && this.unsyncedBytes >= this.data.syncEveryBytes && Atomics.load(control, Control.FAILED) === 0) this.startSync()
      if (Atomics.load(control, Control.SUBMITTED) === this.completed) {
        const waited = waitAsync(control, Control.SUBMITTED, this.completed, 1000)
        if (waited.async) await waited.value
        continue
      }
      // After a failure nothing more is written; slots are still counted, so the main thread is not held.
      if (Atomics.load(control, Control.FAILED) === 0) {
        try {
          this.write(this.completed % SLOT_COUNT)
        } catch (error) {
          this.fail(error, 'write')
        }
      }
      if (this.completed + 1 === this.data.exitAfterSlots) process.exit(1)
      this.completed++
      Atomics.store(control, Control.COMPLETED, this.completed)
      Atomics.notify(control, Control.COMPLETED)
      // Lets a finished sync's callback run.
      if (this.syncing !== null) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  private write(slot: number): void {
    sealSlot(this.data, slot)
    try {
      this.unsyncedBytes += writeSlot(this.data, slot, this.target)
    } catch (error) {
      // A file system that takes O_DIRECT opens but not these writes: write through the page cache.
      if (this.target === this.buffered || (error as { cause?: { code?: unknown } }).cause?.code !== 'EINVAL') throw error
      this.target = this.buffered
      this.unsyncedBytes += writeSlot(this.data, slot, this.target)
    }
  }

  /**
   * Starts the writeback of what is written so far, so that the checkpoint's sync after the load
   * finds little left to write. It runs beside the writes (a synchronous one held the next slots
   * back: 10M keys, 14 syncs, about 0.23 s). A failure fails the load: the pages may never reach the
   * disk, and a later sync need not report it again.
   */
  private startSync(): void {
    this.unsyncedBytes = 0
    this.syncing = this.buffered.datasyncAsync().then(
      () => {
        this.syncing = null
      },
      (error: unknown) => {
        this.syncing = null
        this.fail(error, 'sync')
      },
    )
  }
}

// Last, once the class above is defined: the thread starts, unless the main thread gave up on it.
if (Atomics.compareExchange(control, Control.STATE, ThreadState.STARTING, ThreadState.RUNNING) === ThreadState.STARTING) {
  // A thread that ends without reaching DONE (an uncaught exception, an exit) says DONE on its way
  // out, so that the main thread is never left waiting: it writes what was not counted as written
  // itself (bulk-writer.ts `waitOnce`), as for a thread that never started.
  process.on('exit', () => {
    if (Atomics.compareExchange(control, Control.STATE, ThreadState.RUNNING, ThreadState.DONE) !== ThreadState.RUNNING) return
    Atomics.notify(control, Control.STATE)
    Atomics.notify(control, Control.COMPLETED)
  })
  Atomics.notify(control, Control.STATE)
  void settle(new SlotWriter(data))
}
