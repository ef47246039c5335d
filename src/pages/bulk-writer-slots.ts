/**
 * What the bulk writer's two threads share (bulk-writer.ts, the main thread's side, and
 * bulk-writer-thread.ts, the writer thread's): the control words and their states, the slots' layout,
 * how a failure is handed across, and the one function that seals a slot's pages and the one that
 * writes them through a `StorageFile`. The thread calls these with a file over the store's descriptor
 * (`fileOnDescriptor`); the main thread calls the same ones with the store's own file when there is no
 * thread (a small load, a file without a descriptor such as the crash suite's, a thread that never
 * started or died), so the bytes written and the file interface they pass through are the same either
 * way.
 *
 * Slot s (of SLOT_COUNT) holds up to `pagesPerSlot` pages at bytes [s * pagesPerSlot * pageSizeBytes,
 * ...) of `slots`; its ids are at `ids[s * (pagesPerSlot + 1)]`: the page count, then that many page
 * ids, in the order filled (any order; a run of adjacent ids in adjacent places is written at once).
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import { ioError, type StorageFile } from '../io/file.js'
import { HeaderOffset, PageType } from './page-format.js'
import { pageChecksum } from './page-header.js'
import { fillRecordChecks } from './value-page.js'

/** Slots in flight: one being filled while the others are written. */
export const SLOT_COUNT = 4

/** Control words (indexes into the shared Int32Array of CONTROL_WORDS). */
export const Control = {
  /** ThreadState below. */
  STATE: 0,
  /** Slots handed over so far (a sequence number: slot = sequence % SLOT_COUNT); the main thread counts. */
  SUBMITTED: 1,
  /** Slots written so far; the thread counts (the main thread too once it writes them itself). */
  COMPLETED: 2,
  /** 1: the thread stops after the slot it is writing. */
  STOP: 3,
  /** 1: a write or sync failed; `message` holds the error (`reportFailure`). */
  FAILED: 4,
} as const
export const CONTROL_WORDS = 8

/**
 * The thread moves STARTING -> RUNNING -> DONE; the main thread may claim STARTING -> ABANDONED (a
 * thread that has not started in time), after which a thread that does start exits at once.
 */
export const ThreadState = { STARTING: 0, RUNNING: 1, DONE: 2, ABANDONED: 3 } as const

/** Bytes of the shared area a failure is reported in ("CODE\nmessage", UTF-8, zero-padded). */
export const MESSAGE_BYTES = 1024

export interface SlotSet {
  readonly slots: Uint8Array
  readonly ids: Uint32Array
  readonly pageSizeBytes: number
  readonly pagesPerSlot: number
}

/** What the thread gets as `workerData`: numbers and shared memory only (nothing else crosses). */
export interface ThreadData extends SlotSet {
  /** The page file: its path (for error messages) and the store's descriptor of it. */
  readonly path: string
  readonly fd: number
  /** A second descriptor of the page file opened with O_DIRECT (`openDirect`), or -1. */
  readonly directFd: number
  readonly control: Int32Array
  readonly message: Uint8Array
  /** The thread starts a sync once this many bytes are written and not yet synced. */
  readonly syncEveryBytes: number
  /** Tests only: the thread exits (as if it crashed) after writing this many slots, before counting the last; -1: never. */
  readonly exitAfterSlots: number
}

/**
 * Completes each page of slot `slot`, whose body and header (checksum field zero) are written: a
 * value page's record checks (value-page.ts `fillRecordChecks`), then the page checksum
 * (page-header.ts `pageChecksum`), as `sealPage` would. Sealing a page twice gives the same bytes
 * (a slot a dead thread had sealed is sealed again by the main thread).
 */
export function sealSlot(set: SlotSet, slot: number): void {
  const size = set.pageSizeBytes
  const base = slot * (set.pagesPerSlot + 1)
  const count = set.ids[base]!
  const first = slot * set.pagesPerSlot * size
  for (let i = 0; i < count; i++) {
    const page = set.slots.subarray(first + i * size, first + (i + 1) * size)
    if (page[HeaderOffset.TYPE] === PageType.VALUE) fillRecordChecks(page, set.ids[base + 1 + i]!)
    new DataView(page.buffer, page.byteOffset, size).setUint32(HeaderOffset.CHECKSUM, pageChecksum(page), true)
  }
}

/**
 * Writes the sealed pages of slot `slot` through `file`, each run of adjacent ids in adjacent places
 * with one positioned write. Returns the bytes written. Throws what `file` throws (typed: NO_SPACE,
 * IO), having written the runs before the failing one.
 */
export function writeSlot(set: SlotSet, slot: number, file: StorageFile): number {
  const { ids, pageSizeBytes: size } = set
  const base = slot * (set.pagesPerSlot + 1)
  const count = ids[base]!
  const first = slot * set.pagesPerSlot * size
  let i = 0
  while (i < count) {
    let j = i + 1
    while (j < count && ids[base + 1 + j] === ids[base + j]! + 1) j++
    file.write(set.slots, first + i * size, (j - i) * size, ids[base + 1 + i]! * size)
    i = j
  }
  return count * size
}

/**
 * The thread's side of a failure: keeps the first one (typed as the file interface types it: a
 * StoreError passes as it is, anything else becomes IO or NO_SPACE naming `path` and `operation`)
 * in `message`, then sets FAILED.
 */
export function reportFailure(control: Int32Array, message: Uint8Array, error: unknown, path: string, operation: string): void {
  if (Atomics.load(control, Control.FAILED) !== 0) return
  const typed = error instanceof StoreError ? error : ioError(error, path, operation)
  message.fill(0)
  message.set(new TextEncoder().encode(`${typed.code}\n${typed.message}`).subarray(0, message.byteLength))
  Atomics.store(control, Control.FAILED, 1)
}

/** The main thread's side: the failure the thread reported, as a StoreError, or null. */
export function reportedFailure(control: Int32Array, message: Uint8Array): StoreError | null {
  if (Atomics.load(control, Control.FAILED) === 0) return null
  const text = new TextDecoder().decode(message).replace(/\0+$/, '')
  const newline = text.indexOf('\n')
  assert(newline > 0, `a bulk writer failure without a code: ${JSON.stringify(text)}`)
  const code = text.slice(0, newline)
  const known = Object.values(ErrorCode) as string[]
  return new StoreError(known.includes(code) ? (code as ErrorCode) : ErrorCode.IO, text.slice(newline + 1))
}
