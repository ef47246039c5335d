/**
 * The body of `Store.bulkLoad`: checks every entry, stores the values straight to value pages (bulk
 * mode), builds the index by ALEX's bulk load and writes each leaf to its page as it is built. The
 * store keeps the ordering around it (an empty store, no checkpoint running; then the checkpoint
 * that makes the load durable, with writes issued meanwhile held: store.ts `heldWrites`) and hands
 * over only what the load touches (`LoadTarget`).
 */

import { AlexIndex } from '../alex/alex-index.js'
import { cellValue } from '../alex/node-layout.js'
import type { StoredLeaf } from '../alex/leaf-store.js'
import { describeValue } from '../errors.js'
import { BulkWriter } from '../pages/bulk-writer.js'
import type { PageFile } from '../pages/page-file.js'
import type { LeafFrames } from '../pages/leaf-frames.js'
import type { PageLeafStore } from '../pages/page-leaf-store.js'
import { VALUE_MAX_BYTES } from '../pages/value-page.js'
import type { ValueStore } from '../pages/value-store.js'
import { checkValue, invalid, keyOf } from './arguments.js'
import { storeIndexOptions } from './load.js'

/** What a bulk load needs of the store. */
export interface LoadTarget {
  readonly file: PageFile
  readonly values: ValueStore
  readonly leafStore: PageLeafStore
  /** Where the load's data nodes keep their bytes (each gets its page when it is made). */
  readonly frames: LeafFrames
  /** Takes the index the load built (before its pages are known to be written). */
  setIndex(index: AlexIndex<number>): void
  /** Fails the store (every later write refused) unless it has failed already. */
  fail(error: unknown): void
}

export type LoadEntries = Iterable<readonly [number, Uint8Array]> | Float64Array | readonly number[]
export type LoadValues = readonly Uint8Array[] | ((index: number) => Uint8Array)

/** bulkLoad's arguments: an iterable of entries, or keys and values (columns); else INVALID_ARGUMENT. */
export function checkLoadArguments(entriesOrKeys: LoadEntries, values: LoadValues | undefined): void {
  const columns = values !== undefined
  if (columns) {
    if (!(entriesOrKeys instanceof Float64Array) && !Array.isArray(entriesOrKeys)) {
      throw invalid(`bulkLoad(keys, values) takes keys as a Float64Array or an array of numbers, got ${describeValue(entriesOrKeys)}`)
    }
    if (typeof values !== 'function' && !(Array.isArray(values) && values.length === entriesOrKeys.length)) {
      throw invalid(`bulkLoad(keys, values) takes values as an array of ${entriesOrKeys.length} (one per key) or a function of the index, got ${describeValue(values)}`)
    }
  } else if (entriesOrKeys === null || typeof entriesOrKeys !== 'object' || typeof (entriesOrKeys as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function') {
    throw invalid(`bulkLoad takes an iterable of [key, value] entries, got ${describeValue(entriesOrKeys)}`)
  }
}

/**
 * Stores the load's values and builds its index (handed to `target.setIndex`), each leaf written to
 * its page: when it returns, every page is written, none synced. Returns how many entries it loaded
 * (0: none, and no index was built). A bad entry or a failing source releases what was stored
 * (loadValues, loadColumns); a failure past that fails the store. Either way it throws.
 */
export function writeLoad(target: LoadTarget, entriesOrKeys: LoadEntries, values: LoadValues | undefined): number {
  // Value and leaf pages are filled here and checksummed and written by the writer's thread while
  // this thread goes on (the values while ALEX builds the index; bulk-writer.ts).
  const writer = new BulkWriter(target.file)
  try {
    const { keys, handles, cells, count } = values !== undefined
      ? loadColumns(target, entriesOrKeys as Float64Array | readonly number[], values, writer)
      : loadValues(target, entriesOrKeys as Iterable<readonly [number, Uint8Array]>, writer)
    if (count === 0) return 0
    // Each leaf goes to its page as soon as ALEX has built it, through the writer's slots, rather
    // than each into a page of its own held until the checkpoint writes it (256 MiB at 10M keys);
    // the checkpoint syncs them.
    const writeLeaf = (leaf: StoredLeaf<number>): void => {
      target.leafStore.writeLeaf(leaf, writer)
    }
    try {
      const options = storeIndexOptions(target.file.pageSizeBytes, target.frames.cellBytes)
      target.setIndex(AlexIndex.bulkLoadAscending(keys.subarray(0, count), handles.subarray(0, count), options, writeLeaf, target.frames, cells))
      writer.finish()
    } catch (error) {
      // Values (and perhaps leaves) are on pages no checkpoint holds, and the index may hold the
      // load without its pages all written: fail the store (the next open reclaims the pages).
      target.fail(error)
      throw error
    }
    return count
  } finally {
    writer.close()
  }
}

/**
 * bulkLoad's first half: checks every entry and stores its value (bulk mode: pages written straight
 * to the file). Returns the keys and their handles (the first `count` of each); on any error,
 * releases what it stored and throws.
 */
function loadValues(target: LoadTarget, entries: Iterable<readonly [number, Uint8Array]>, writer: BulkWriter): Loaded {
  // Keys and handles go into chunks (LOAD_CHUNK entries each, or a shorter array's length), joined
  // once at the end: doubling one array instead copies each entry about once more and touches twice
  // the memory (10M keys: about 0.1 s). A sparse array's length is no promise of entries: capped.
  const chunkLength = Array.isArray(entries) ? Math.max(1, Math.min(entries.length, LOAD_CHUNK)) : LOAD_CHUNK
  const keyChunks: Float64Array[] = []
  const handleChunks: Float64Array[] = []
  let keys = new Float64Array(chunkLength)
  let handles = new Float64Array(chunkLength)
  const width = target.frames.cellBytes
  const cellChunks: Uint8Array[] = []
  let cells = new Uint8Array(chunkLength * width)
  // Entries in the current chunk, in all, and the last key.
  let at = 0
  let n = 0
  let last = 0
  const values = target.values
  values.beginBulk(writer)
  try {
    for (const entry of entries) {
      if (entry === null || typeof entry !== 'object') throw invalid(`bulkLoad entry ${n} must be a [key, value] array, got ${describeValue(entry)}`)
      const raw = entry[0]
      const value = entry[1]
      const key = typeof raw === 'number' && Number.isFinite(raw) ? raw + 0 : keyOf(raw, `bulkLoad entry ${n}'s key`)
      if (n > 0 && !(key > last)) {
        throw invalid(`bulkLoad needs keys in strictly ascending order: entry ${n} has key ${key}, after ${last}`)
      }
      if (!(value instanceof Uint8Array) || value.byteLength > VALUE_MAX_BYTES) checkValue(value, `bulkLoad entry ${n}'s value`)
      if (at === keys.length) {
        keyChunks.push(keys)
        handleChunks.push(handles)
        cellChunks.push(cells)
        keys = new Float64Array(chunkLength)
        handles = new Float64Array(chunkLength)
        cells = new Uint8Array(chunkLength * width)
        at = 0
      }
      if (width > 0 && value.byteLength <= width) {
        handles[at] = cellValue(value.byteLength)
        cells.set(value, at * width)
      } else {
        values.appendTo(value, handles, at)
      }
      keys[at] = key
      last = key
      at++
      n++
    }
    values.endBulk()
  } catch (error) {
    handleChunks.push(handles.subarray(0, at))
    abandonLoad(target, writer, handleChunks)
    throw error
  }
  keyChunks.push(keys.subarray(0, at))
  handleChunks.push(handles.subarray(0, at))
  cellChunks.push(cells.subarray(0, at * width))
  return { keys: joinChunks(keyChunks, n), handles: joinChunks(handleChunks, n), cells: joinChunks(cellChunks, n * width), count: n }
}

/** What a load's first half stored: keys, their handles (or cell values), the cells, and how many. */
interface Loaded {
  keys: Float64Array
  handles: Float64Array
  /** Entry i's cell at [i * cellBytes, ...) for the values kept in their leaves (cell values < 0). */
  cells: Uint8Array
  count: number
}

/**
 * bulkLoad(keys, values)'s first half, as loadValues: checks every key and value and stores the
 * value. Returns the keys (the caller's Float64Array itself unless a key needed normalising: -0)
 * and their handles.
 */
function loadColumns(
  target: LoadTarget,
  keys: Float64Array | readonly number[],
  valueOf: readonly Uint8Array[] | ((index: number) => Uint8Array),
  writer: BulkWriter,
): Loaded {
  const count = keys.length
  const handles = new Float64Array(count)
  const width = target.frames.cellBytes
  const cells = new Uint8Array(count * width)
  const values = target.values
  const at = typeof valueOf === 'function' ? valueOf : (index: number): Uint8Array => valueOf[index]!
  let last = 0
  // The index of a key given as -0 (at most one: keys ascend), stored as 0.
  let negativeZero = -1
  let n = 0
  values.beginBulk(writer)
  try {
    for (; n < count; n++) {
      const raw = keys[n]
      const key = typeof raw === 'number' && Number.isFinite(raw) ? raw : keyOf(raw as number, `bulkLoad key ${n}`)
      if (n > 0 && !(key > last)) {
        throw invalid(`bulkLoad needs keys in strictly ascending order: key ${n} is ${key}, after ${last}`)
      }
      if (key === 0 && Object.is(key, -0)) negativeZero = n
      const value = at(n)
      if (!(value instanceof Uint8Array) || value.byteLength > VALUE_MAX_BYTES) checkValue(value, `bulkLoad value ${n}`)
      if (width > 0 && value.byteLength <= width) {
        handles[n] = cellValue(value.byteLength)
        cells.set(value, n * width)
      } else {
        values.appendTo(value, handles, n)
      }
      last = key
    }
    values.endBulk()
  } catch (error) {
    abandonLoad(target, writer, [handles.subarray(0, n)])
    throw error
  }
  let stored: Float64Array
  if (keys instanceof Float64Array && negativeZero < 0) {
    stored = keys
  } else {
    stored = Float64Array.from(keys)
    if (negativeZero >= 0) stored[negativeZero] = 0
  }
  return { keys: stored, handles, cells, count }
}

/** A load that failed part way: releases the values stored so far (`handles`), once written. */
function abandonLoad(target: LoadTarget, writer: BulkWriter, handles: readonly Float64Array[]): void {
  const values = target.values
  try {
    values.endBulk()
    // Every page handed over is written before any is released (and perhaps reused).
    writer.finish()
    for (const chunk of handles) for (const handle of chunk) values.release(handle)
    values.settleReleases()
  } catch (cleanup) {
    // The pages could not be written or read back: fail the store rather than leave it in doubt.
    target.fail(cleanup)
  }
}

/** Entries per chunk of bulkLoad's keys and handles (8 MiB each) when their count is not known. */
const LOAD_CHUNK = 1 << 20

/** The chunks back to back (the only one as it is). */
function joinChunks<T extends Float64Array | Uint8Array>(chunks: T[], total: number): T {
  if (chunks.length === 1) return chunks[0]!
  const joined = new (chunks[0]!.constructor as new (length: number) => T)(total)
  let at = 0
  for (const chunk of chunks) {
    joined.set(chunk, at)
    at += chunk.length
  }
  return joined
}
