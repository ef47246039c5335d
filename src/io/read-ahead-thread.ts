/**
 * The read-ahead thread (started by read-ahead.ts with this module's built file; `workerData` is a
 * `ReadAheadData`): takes hints from the ring and reads each into a scratch buffer it never looks at,
 * up to HINTS_IN_FLIGHT at a time on libuv's pool, so that the pages are in the page cache when the
 * main thread reads them. Never writes; says DONE once stopped with nothing in flight.
 */

import fs from 'node:fs'
import { isMainThread, workerData } from 'node:worker_threads'
import { assert } from '../errors.js'
import { HINTS_IN_FLIGHT, HINT_MAX_BYTES, RING_SLOTS, ReadAheadControl, ReadAheadState, type ReadAheadData } from './read-ahead.js'

assert(!isMainThread, 'read-ahead-thread.js runs as a worker thread only (read-ahead.ts starts it)')
const { fd, control, ring } = workerData as ReadAheadData

// Atomics.waitAsync (Node 16+; in TypeScript's lib from es2024): waits without blocking the event loop.
const waitAsync = (Atomics as unknown as { waitAsync: (array: Int32Array, index: number, value: number, timeoutMs: number) => { async: boolean; value: Promise<unknown> } }).waitAsync

const scratch = new Uint8Array(HINT_MAX_BYTES)
let inFlight = 0
let tail = 0
let wake: (() => void) | null = null

function finished(): void {
  inFlight--
  Atomics.add(control, ReadAheadControl.FINISHED, 1)
  const resume = wake
  wake = null
  resume?.()
}

async function run(): Promise<void> {
  for (;;) {
    if (Atomics.load(control, ReadAheadControl.STOP) === 1) return
    const head = Atomics.load(control, ReadAheadControl.HEAD)
    if (head === (tail | 0)) {
      const waiting = waitAsync(control, ReadAheadControl.HEAD, head, 1000)
      if (waiting.async) await waiting.value
      continue
    }
    if (inFlight >= HINTS_IN_FLIGHT) {
      await new Promise<void>((resolve) => (wake = resolve))
      continue
    }
    const slot = (tail % RING_SLOTS) * 2
    const position = ring[slot]!
    const length = ring[slot + 1]!
    tail++
    Atomics.store(control, ReadAheadControl.TAIL, tail | 0)
    inFlight++
    fs.read(fd, scratch, 0, Math.min(length, HINT_MAX_BYTES), position, finished)
  }
}

async function main(): Promise<void> {
  // Not started before close: never read (the main thread has marked it DONE already).
  if (Atomics.compareExchange(control, ReadAheadControl.STATE, ReadAheadState.STARTING, ReadAheadState.RUNNING) !== ReadAheadState.STARTING) return
  // A pending waitAsync does not keep a thread's event loop alive: this does, until the thread is done.
  const keepAlive = setInterval(() => {}, 1 << 30)
  try {
    await run()
    while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve))
  } finally {
    clearInterval(keepAlive)
    Atomics.store(control, ReadAheadControl.STATE, ReadAheadState.DONE)
    Atomics.notify(control, ReadAheadControl.STATE)
  }
}

void main()
