/**
 * Read-ahead hints for batched point reads (Store.getMany / getManyInto): a thread of its own reads,
 * several at a time, the pages a batch is about to read, so that the page cache holds them when the
 * main thread reads them for real. The engine's reads are synchronous, one at a time (the device at
 * queue depth 1: ~14-18k random 4 KiB reads/s on the build machine, ~25-28k/s at depth 32); the
 * hints put up to HINTS_IN_FLIGHT more reads in flight beside them.
 *
 * Hints are advice, nothing more: the thread reads into a scratch buffer it throws away, and every
 * byte the engine uses is still read, and checked, by the main thread through the file interface.
 * A hint that is late, dropped (the ring is full) or about a page reused since changes no answer,
 * only how long a read waits.
 *
 * Protocol: a ring of RING_SLOTS (position, length) pairs in shared memory, one producer (the main
 * thread: `hint` writes a slot, then publishes it by storing HEAD) and one consumer (the thread:
 * reads slots below HEAD, stores TAIL). `kick` wakes the thread (a batch's hints go at once). The
 * thread issues each hint as an asynchronous pread on libuv's thread pool (so at most
 * UV_THREADPOOL_SIZE, default 4, run at once: HINTS_IN_FLIGHT bounds what it queues). `close` sets
 * STOP and waits until the thread has no read in flight and says DONE: only then may the descriptor
 * it reads through be closed.
 */

import { Worker } from 'node:worker_threads'
import { threadModule } from './thread-module.js'

/** Control words (indexes into the shared Int32Array of ReadAheadControl.WORDS). */
export const ReadAheadControl = {
  /** Hints published by the main thread (a count; slot = count % RING_SLOTS). */
  HEAD: 0,
  /** Hints taken by the thread. */
  TAIL: 1,
  /** 1: the thread is to stop. */
  STOP: 2,
  /** ReadAheadState. */
  STATE: 3,
  /** Hints whose read ended (read or failed: a failed hint is not an error). */
  FINISHED: 4,
  WORDS: 5,
} as const

export const ReadAheadState = { STARTING: 0, RUNNING: 1, DONE: 2 } as const

/** Hints the ring holds; one more while it is full is dropped (counted). */
export const RING_SLOTS = 1024
/** Reads the thread has queued on libuv's pool at once. */
export const HINTS_IN_FLIGHT = 16
/** The largest hint (longer ones are cut): a page of the largest size. */
export const HINT_MAX_BYTES = 1 << 20

export interface ReadAheadData {
  fd: number
  control: Int32Array
  ring: Float64Array
}

export class ReadAhead {
  private readonly control = new Int32Array(new SharedArrayBuffer(ReadAheadControl.WORDS * 4))
  private readonly ring = new Float64Array(new SharedArrayBuffer(RING_SLOTS * 2 * 8))
  private readonly thread: Worker
  private head = 0
  private closed = false
  /** Hints handed to the thread, and those dropped because its ring was full. */
  issued = 0
  dropped = 0

  /** Starts the thread on `fd` (which must stay open until `close` returns). */
  constructor(fd: number) {
    const data: ReadAheadData = { fd, control: this.control, ring: this.ring }
    this.thread = new Worker(threadModule(import.meta.url, 'read-ahead-thread.js', 'the read-ahead thread'), { workerData: data })
    // The thread never keeps the process alive, and a failure of its own only ends the hints.
    this.thread.unref()
    this.thread.on('error', () => {})
  }

  /** Asks for the bytes [position, position + length) to be read ahead (not waited for). */
  hint(position: number, length: number): void {
    if (this.closed) return
    // HEAD and TAIL are int32 counts that wrap: their difference, taken in int32, is what is queued.
    if ((((this.head | 0) - Atomics.load(this.control, ReadAheadControl.TAIL)) | 0) >= RING_SLOTS) {
      this.dropped++
      return
    }
    const slot = (this.head % RING_SLOTS) * 2
    this.ring[slot] = position
    this.ring[slot + 1] = Math.min(length, HINT_MAX_BYTES)
    this.head++
    Atomics.store(this.control, ReadAheadControl.HEAD, this.head | 0)
    this.issued++
  }

  /** Wakes the thread for the hints given since the last kick. */
  kick(): void {
    Atomics.notify(this.control, ReadAheadControl.HEAD)
  }

  /** Hints whose read has ended. */
  get finished(): number {
    return Atomics.load(this.control, ReadAheadControl.FINISHED)
  }

  /**
   * Stops the thread and waits until it has no read in flight (a pread rarely takes a millisecond;
   * after 5 s it stops waiting: a read still queued then reads into a buffer nobody uses), so that the
   * descriptor may be closed after this returns. A thread that had not started never reads.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    const control = this.control
    Atomics.store(control, ReadAheadControl.STOP, 1)
    Atomics.notify(control, ReadAheadControl.HEAD)
    if (Atomics.compareExchange(control, ReadAheadControl.STATE, ReadAheadState.STARTING, ReadAheadState.DONE) !== ReadAheadState.STARTING) {
      for (let waits = 0; waits < 50 && Atomics.load(control, ReadAheadControl.STATE) === ReadAheadState.RUNNING; waits++) {
        Atomics.wait(control, ReadAheadControl.STATE, ReadAheadState.RUNNING, 100)
      }
    }
    void this.thread.terminate()
  }
}
