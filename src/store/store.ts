/**
 * The store: the `Store` that `open(dir, options)` (open.ts) returns. It alone orders pages and log:
 * writes go to the write-ahead log first, checkpoints write pages copy-on-write and then let old log
 * segments go, and `open` loads the newest checkpoint and replays the log after it.
 *
 * Reading the source: `open` -> `Store.openLocked` (`createStore` if new, `openPageFile`, `load.ts`,
 * `countStoredPages`; `replayLog` and `startLog`: recovery.ts has the steps on files); a write
 * (`put`/`del`/`batch` -> `write`) checks every operation, stores the value bytes (the only step that
 * can fail before logging), appends one BATCH record to the log, and changes the index once the
 * record is durable (`applyDurable`), so that no reader ever sees a write the log could still lose;
 * `checkpoint` (checkpoint.ts) captures the changed pages synchronously and writes them while writers
 * go on; `range` returns a RangeIterable. Beside it: bulk-load.ts (the body of `bulkLoad`), stats.ts
 * (`stats`), arguments.ts (argument checks).
 *
 * Invariants:
 *   1. The index holds exactly the records with LSN <= appliedLsn, applied in LSN order.
 *   2. A checkpoint's redo LSN is appliedLsn + 1 at its capture; every record from there on stays in
 *      the log until a later checkpoint commits.
 *   3. Once the log or a checkpoint fails to write or sync, every later write is refused (IO or
 *      NO_SPACE) until the store is reopened; reads go on.
 */

import path from 'node:path'
import { AlexIndex, GET_BATCH_MAX, type IndexIterator } from '../alex/alex-index.js'
import { cellValue } from '../alex/node-layout.js'
import type { AlexRange } from '../alex/api.js'
import { ErrorCode, StoreError, describeValue } from '../errors.js'
import type { FileSystem } from '../io/file.js'
import { KILL_POINTS, killPoint } from '../io/kill-point.js'
import type { DirectoryLock } from '../io/lock.js'
import type { BufferPool } from '../pages/buffer-pool.js'
import type { LeafFrames } from '../pages/leaf-frames.js'
import { FreeSpace } from '../pages/free-space.js'
import { PageFile } from '../pages/page-file.js'
import { PageLeafStore } from '../pages/page-leaf-store.js'
import { Compactor } from '../compaction/compactor.js'
import { VALUE_MAX_BYTES } from '../pages/value-page.js'
import { ValueStore } from '../pages/value-store.js'
import { batchRecordBytes, encodeBatchRecord, encodeOneRecord } from '../wal/batch-record.js'
import { RECORD_MAX_BYTES, RecordType, WAL_ARCHIVE_DIR_NAME, WAL_DIR_NAME, recordFits } from '../wal/wal-format.js'
import { WalWriter } from '../wal/wal-writer.js'
import type { BatchOperation, Durability, RangeOptions, RecoveryStats, StoreStats } from './api.js'
import { checkKeys, checkRangeOptions, checkValue, invalid, keyListLength, keyOf } from './arguments.js'
import { checkLoadArguments, writeLoad, type LoadEntries, type LoadTarget, type LoadValues } from './bulk-load.js'
import { Checkpointer } from './checkpoint.js'
import { PendingOps } from './pending.js'
import { SnapshotCursor, Snapshots } from './snapshot.js'
import { storeStats } from './stats.js'
import { checkStore, type CheckReport } from './check.js'
import { loadPieces, type Pieces } from './load.js'
import type { CheckedOptions } from './options.js'
import { DATA_FILE_NAME, countStoredPages, createStore, isMissingOrEmpty, makeLogDirectory, openPageFile, recover, verifyEpochs, type LogSegment } from './recovery.js'

/** The write path's record scratch buffer is kept up to this size (larger records get their own). */
const PAYLOAD_SCRATCH_BYTES_MAX = 80 << 20

// A put of the largest value is one log record: writeOne relies on it.
if (!recordFits(batchRecordBytes(1, VALUE_MAX_BYTES, 1))) throw new Error('the largest value does not fit the largest log record')
// Every single put uses the kept scratch buffer.
if (batchRecordBytes(1, VALUE_MAX_BYTES, 1) > PAYLOAD_SCRATCH_BYTES_MAX) throw new Error('the largest put does not fit the scratch buffer')

/** A scan with a full buffer pool prefetches the value pages of this many entries at a time. */
const PREFETCH_ENTRIES = 256

export class Store {
  private closed = false
  private closing: Promise<void> | null = null
  private readonly pool: BufferPool
  private readonly values: ValueStore
  /** getMany's handles for one batch of keys (NaN: absent). */
  private readonly batchHandles = new Float64Array(GET_BATCH_MAX)
  /** Where readAhead's reads go, so that the compiler cannot drop them. */
  private batchSink = 0
  private readonly file: PageFile
  private readonly free: FreeSpace
  private index: AlexIndex<number>
  private readonly checkpointer: Checkpointer
  private readonly leafStore: PageLeafStore
  /** The owner of leaf pages and their frames (leaf-frames.ts). */
  private readonly frames: LeafFrames
  private readonly compactor: Compactor
  private wal: WalWriter | null = null
  private appliedLsn: number
  /**
   * The redo LSN of the older durable meta page (at open, the newer one's: the older one's segments
   * may be gone already). A checkpoint releases only the log below it, so that a fallback to that
   * meta page, if the newer one is damaged, still finds every record it needs.
   */
  private olderRedoLsn: number
  private readonly pending: PendingOps
  private payloadScratch = new Uint8Array(4096)
  private readonly snapshots: Snapshots
  private failure: StoreError | null = null
  private timer: ReturnType<typeof setInterval> | null = null
  private writesSinceCheckpoint = 0
  /**
   * Writes issued while a bulk load's checkpoint is being written, in issue order; null when no load
   * is in that step. They are logged only once the load is durable (or has failed): logged before,
   * a crash that cut the load's checkpoint off would replay them over an empty store, a later write
   * without an earlier one (found by the crash soak, seed 25 at checkpoint-after-pages:2).
   */
  private heldWrites: (() => void)[] | null = null
  readonly recovery: RecoveryStats = { replayedRecords: 0, replayMs: 0, droppedBytes: 0, stoppedBecause: null, leakedPages: 0 }

  private constructor(
    readonly dir: string,
    pieces: Pieces,
    private readonly options: CheckedOptions,
    private readonly lock: DirectoryLock,
    private readonly fs: FileSystem,
  ) {
    this.file = pieces.file
    this.free = pieces.free
    this.index = pieces.index
    this.appliedLsn = pieces.redoLsn - 1
    this.olderRedoLsn = pieces.redoLsn
    this.pool = pieces.pool
    this.frames = pieces.frames
    this.cellBytes = pieces.frames.cellBytes
    this.pending = new PendingOps(this.cellBytes)
    this.file.readAheadMode = options.readAhead
    this.values = new ValueStore(this.file, this.pool, this.free, options.recordCacheBytes)
    this.snapshots = new Snapshots((handle) => this.values.release(handle))
    this.leafStore = new PageLeafStore(this.file, this.free, this.pool, () => this.free.frontier, this.values, this.cellBytes)
    this.compactor = new Compactor(this.leafStore, this.values, (handle) => this.snapshots.release(handle))
    this.checkpointer = new Checkpointer(
      this.file,
      this.pool,
      this.values,
      this.free,
      this.frames,
      pieces,
      options.durability,
      async (redoLsn) => {
        if (this.wal !== null && this.wal.durableLsn < redoLsn - 1) await this.wal.waitDurable(redoLsn - 1)
      },
      (visit) => {
        this.pending.forEachPut(visit)
        this.snapshots.forEachDeferred(visit)
      },
    )
  }

  get readOnly(): boolean {
    return this.options.readOnly
  }

  private get durability(): Durability {
    return this.options.durability
  }

  private get walDir(): string {
    return path.join(this.dir, WAL_DIR_NAME)
  }

  /** @internal Opens the page file of a locked directory (open() has checked the options). */
  static async openLocked(dir: string, options: CheckedOptions, lock: DirectoryLock, fs: FileSystem): Promise<Store> {
    const filePath = path.join(dir, DATA_FILE_NAME)
    const readOnly = options.readOnly
    if (!readOnly && isMissingOrEmpty(fs, filePath)) {
      await createStore(dir, options, fs, async (pieces) => {
        const store = new Store(dir, pieces, options, lock, fs)
        await store.checkpointer.run(store.index, 1)
      })
    }
    const raw = fs.openFile(filePath, { readOnly })
    let store: Store | null = null
    try {
      const { file, meta, older, damaged } = openPageFile(raw, dir, options)
      try {
        const pieces = loadPieces(file, meta, options.cacheBytes, older)
        store = new Store(dir, pieces, options, lock, fs)
        const used = countStoredPages({ file, free: store.free, index: store.index, values: store.values, pageMap: pieces.pageMap, checkpointer: store.checkpointer, recovery: store.recovery })
        // With one meta page damaged, the other may be an older checkpoint whose pages were reused
        // after the newer one committed (page epochs, docs/RECOVERY.md): every page it references
        // must predate it, or the fallback would read pages that now hold something else.
        if (damaged !== null) verifyEpochs(file, used, meta.generation)
      } catch (error) {
        if (damaged === null || !(error instanceof StoreError) || error.code !== ErrorCode.CORRUPTION) throw error
        throw new StoreError(ErrorCode.CORRUPTION, `a meta page is damaged (${damaged}), and the other meta page (generation ${meta.generation}) cannot be used: ${error.message}`)
      }
      const segments = store.replayLog(damaged)
      if (!readOnly) store.startLog(segments)
      return store
    } catch (error) {
      ;(store as Store | null)?.wal?.close()
      raw.close()
      throw error
    }
  }

  /**
   * Replays the log after the checkpoint into the index (recovery.ts `recover`), through the write
   * path's install and remove. Returns the segments the log goes on from.
   */
  private replayLog(damagedMeta: string | null): LogSegment[] {
    const replayed = recover(
      {
        fs: this.fs,
        walDir: this.walDir,
        readOnly: this.readOnly,
        salvage: this.options.walRecovery === 'salvage',
        appliedLsn: this.appliedLsn,
        generation: this.checkpointer.generation,
        filePath: this.file.path,
        recovery: this.recovery,
        put: (key, value) => {
          if (this.fitsCell(value)) this.installCell(key, cellValue(value.byteLength), value, 0)
          else this.install(key, this.values.append(value))
        },
        del: (key) => this.remove(key),
        inspect: (key) => {
          const handle = this.index.get(key)
          if (handle !== undefined) this.values.checkLive(handle)
        },
      },
      damagedMeta,
    )
    this.appliedLsn = replayed.appliedLsn
    return replayed.segments
  }

  /** Starts the log after replay, going on from `segments`; a durable record is applied (applyDurable). */
  private startLog(segments: LogSegment[]): void {
    makeLogDirectory(this.fs, this.dir, this.walDir, this.durability)
    this.wal = new WalWriter(
      {
        dir: this.walDir,
        fs: this.fs,
        durability: this.durability,
        segmentBytes: this.options.walSegmentBytes,
        nextLsn: this.appliedLsn + 1,
        onDurable: (lsn) => {
          try {
            this.applyDurable(lsn)
          } catch (error) {
            // Applying reads leaves back and writes the ones it evicts (leaf-frames.ts); if that
            // fails (a full disk, an I/O error), the index may hold part of a batch: refuse every
            // later write (reopening replays the log into a clean index).
            this.failure ??= applyFailure(error)
            throw this.failure
          }
          this.maybeCheckpoint()
        },
        onFailure: (error) => this.dropPending(error),
      },
      segments,
    )
    this.timer = setInterval(() => {
      if (this.writesSinceCheckpoint > 0) this.startCheckpoint()
    }, this.options.checkpointIntervalMs)
    this.timer.unref()
  }

  // ---- reads --------------------------------------------------------------------------------

  /** The value stored under `key` (a copy), or undefined. */
  get(key: number): Uint8Array | undefined {
    if (this.closed) throw closedError()
    const k = keyOf(key)
    const values = this.values
    if (values.recordsInUse) {
      const cached = values.cached(k)
      if (cached !== undefined) return cached
    }
    return this.getAt(k)
  }

  /**
   * get's lookup (the record cache is not consulted). A value in a leaf's cell is offered to the
   * record cache when its leaf was read from the file for it: by this call, or, `missed`, for the
   * batch it belongs to (AlexIndex.getBatch; the batch's keys are looked up again here).
   */
  private getAt(k: number, missed = false): Uint8Array | undefined {
    const loads = this.frames.counters.loads
    const handle = this.index.get(k)
    if (handle === undefined) return undefined
    if (handle >= 0) return this.values.read(handle, false, k)
    const value = this.index.hitCell()
    if (missed || this.frames.counters.loads !== loads) this.values.offerLeafValue(k, value, 0, value.byteLength)
    return value
  }

  /**
   * Copies the value stored under `key` into `target` and returns its length, or -1 if the key is
   * absent. A length above `target.byteLength` means the value did not fit and nothing was copied
   * (call again with a buffer that large). Allocates nothing for values that fit a page: for hot
   * read loops that reuse one buffer.
   */
  getInto(key: number, target: Uint8Array): number {
    if (this.closed) throw closedError()
    if (!(target instanceof Uint8Array)) throw invalid(`getInto needs a Uint8Array target, got ${describeValue(target)}`)
    const k = keyOf(key)
    const values = this.values
    if (values.recordsInUse) {
      const n = values.cachedInto(k, target)
      if (n >= 0) return n
    }
    return this.getIntoAt(k, target, 0)
  }

  /**
   * The values stored under `keys` (copies; undefined where a key is absent), in the keys' order.
   * Faster than a loop of `get`: keys are looked up in batches whose memory reads overlap
   * (AlexIndex.getBatch). Throws INVALID_ARGUMENT, having read nothing, if any key is invalid.
   */
  getMany(keys: ArrayLike<number>): (Uint8Array | undefined)[] {
    if (this.closed) throw closedError()
    const count = keyListLength(keys, 'getMany keys')
    checkKeys(keys, 0, count)
    const out = new Array<Uint8Array | undefined>(count)
    const handles = this.batchHandles
    const values = this.values
    for (let from = 0; from < count; from += GET_BATCH_MAX) {
      const n = Math.min(GET_BATCH_MAX, count - from)
      const misses = this.lookUpBatch(keys, from, n)
      let m = 0
      for (let i = 0; i < n; i++) {
        const k = keys[from + i]!
        if (misses < n && this.batchCached[i] === 1) {
          const cached = values.cached(k)
          if (cached !== undefined) {
            out[from + i] = cached
            continue
          }
          // Offered out by a read of this batch since: look it up again.
          out[from + i] = this.get(k)
          continue
        }
        const missed = this.batchMissed[m] === 1
        const handle = handles[m++]!
        // A value in its leaf's cell: the batch found the key; the cell is read by looking it up again.
        out[from + i] = handle === handle ? (handle < 0 ? this.getAt(k, missed) : values.read(handle, false, k)) : undefined
      }
    }
    return out
  }

  /** 1 at batch position i: its key was in the record cache when the batch was looked up. */
  private readonly batchCached = new Uint8Array(GET_BATCH_MAX)
  private readonly batchMissKeys = new Float64Array(GET_BATCH_MAX)
  /** 1 at handle position m: that key's leaf was read from the file for the batch (getBatch's `missed`). */
  private readonly batchMissed = new Uint8Array(GET_BATCH_MAX)

  /**
   * Looks up keys[from..from+n) for a batched read: the keys in the record cache are marked in
   * batchCached (their leaves are not touched), the others are looked up through the index, their
   * handles (NaN: absent) in batchHandles in order, and their records read ahead. Returns how many
   * went to the index.
   */
  private lookUpBatch(keys: ArrayLike<number>, from: number, n: number): number {
    const values = this.values
    const handles = this.batchHandles
    if (!values.recordsInUse) {
      this.index.getBatch(keys, from, n, handles, this.batchMissed)
      this.readAhead(handles, n)
      return n
    }
    const cached = this.batchCached
    const missKeys = this.batchMissKeys
    let m = 0
    for (let i = 0; i < n; i++) {
      const k = keys[from + i]!
      if (values.isCached(k)) {
        cached[i] = 1
      } else {
        cached[i] = 0
        missKeys[m++] = k
      }
    }
    this.index.getBatch(missKeys, 0, m, handles, this.batchMissed)
    this.readAhead(handles, m)
    return m
  }

  /**
   * getMany without allocation: copies the values of keys[from..to) back to back into `target`
   * (from byte 0) and sets lengths[i - from] to each one's length, or -1 for an absent key. Returns
   * how many keys it answered: fewer than `to - from` when the next value did not fit in what was
   * left of `target`; then nothing of that value was copied, its length is in lengths[answered], and
   * the caller goes on from `from + answered` (with a larger target if even an empty one is too
   * small). Keys are looked up 64 at a time, so a target that holds fewer values than that makes
   * the next call look up again keys this one already had: size it for 64 values or more.
   * Throws INVALID_ARGUMENT, having read nothing, for a bad argument or key.
   */
  getManyInto(keys: ArrayLike<number>, from: number, to: number, target: Uint8Array, lengths: Int32Array): number {
    if (this.closed) throw closedError()
    const count = keyListLength(keys, 'getManyInto keys')
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from || to > count) {
      throw invalid(`getManyInto needs integers 0 <= from <= to <= keys.length (${count}), got from ${describeValue(from)}, to ${describeValue(to)}`)
    }
    if (!(target instanceof Uint8Array)) throw invalid(`getManyInto needs a Uint8Array target, got ${describeValue(target)}`)
    if (!(lengths instanceof Int32Array) || lengths.length < to - from) {
      throw invalid(`getManyInto needs an Int32Array of at least ${to - from} lengths, got ${describeValue(lengths)}`)
    }
    checkKeys(keys, from, to)
    const handles = this.batchHandles
    const values = this.values
    let at = 0
    for (let start = from; start < to; start += GET_BATCH_MAX) {
      const n = Math.min(GET_BATCH_MAX, to - start)
      const misses = this.lookUpBatch(keys, start, n)
      let m = 0
      for (let i = 0; i < n; i++) {
        const k = keys[start + i]!
        const j = start + i - from
        let length: number
        if (misses < n && this.batchCached[i] === 1) {
          length = values.cachedInto(k, target, at)
          if (length < 0) {
            // Offered out by a read of this batch since: look it up again.
            length = this.getIntoAt(k, target, at)
          }
        } else {
          const missed = this.batchMissed[m] === 1
          const handle = handles[m++]!
          // A value in its leaf's cell: the batch found the key; the cell is read by looking it up again.
          length = handle === handle ? (handle < 0 ? this.getIntoAt(k, target, at, missed) : values.readInto(handle, target, at, k)) : -1
        }
        lengths[j] = length
        if (length < 0) continue
        if (length > target.byteLength - at) return j
        at += length
      }
    }
    return to - from
  }

  /** Reads ahead the records of a batch's handles (NaN: absent), so their cache misses overlap. */
  private readAhead(handles: Float64Array, n: number): void {
    let sink = 0
    for (let i = 0; i < n; i++) {
      const handle = handles[i]!
      if (handle === handle) sink += this.values.readAhead(handle)
    }
    this.values.kickReadAhead()
    if (sink === 0.5) this.batchSink++
  }

  has(key: number): boolean {
    if (this.closed) throw closedError()
    return this.index.has(keyOf(key))
  }

  /**
   * Entries in key order (descending with `reverse`), within the bounds, at most `limit` of them.
   * Iterate with `for...of` or `for await...of`. Writes made while iterating are safe; an iterator
   * continues after the last key it returned.
   */
  range(options?: RangeOptions): RangeIterable {
    if (this.closed) throw closedError()
    const { bounds, limit } = checkRangeOptions(options)
    // The index checks the bounds when it makes an iterator: make the first one now.
    return new RangeIterable(this, bounds, limit, this.index.entries(bounds))
  }

  /** @internal */
  iterate(bounds: AlexRange, limit: number, made?: IndexIterator<[number, number]>): Iterator<[number, Uint8Array]> {
    const entries = made ?? this.index.entries(bounds)
    const cursor = new SnapshotCursor(
      {
        next: () => {
          const step = entries.next()
          if (step.done === true) return undefined
          // A value in its leaf's cell is copied out now: the leaf may change or leave memory later.
          if (step.value[1] < 0) return [step.value[0], entries.cellCopy()]
          return step.value
        },
        return: () => void entries.return?.(),
      },
      limit,
    )
    this.snapshots.add(cursor)
    const finish = (): IteratorResult<[number, Uint8Array]> => {
      this.snapshots.end(cursor.ticket)
      return { done: true, value: undefined }
    }
    let returned = 0
    let lastKey: number | undefined
    return {
      next: (): IteratorResult<[number, Uint8Array]> => {
        if (this.closed) throw closedError()
        if (returned % PREFETCH_ENTRIES === 0 && this.pool.residentPages >= this.pool.frames && !cursor.ticket.frozen) {
          this.prefetchAfter(bounds, lastKey, Math.min(PREFETCH_ENTRIES, limit - returned))
        }
        const entry = cursor.next()
        if (entry === undefined) return finish()
        returned++
        lastKey = entry[0]
        // The entry is a fresh pair made for this step: it carries the value out in place of the handle.
        const pair = entry as unknown as [number, Uint8Array | number]
        const value = entry[1]
        pair[1] = typeof value === 'number' ? this.values.read(value, true) : value
        return { done: false, value: pair as [number, Uint8Array] }
      },
      return: finish,
    }
  }

  /**
   * A scan with a full buffer pool is about to read up to `count` entries after `afterKey`: the index
   * finds their value handles (its models place the start), and the leaf store reads the value pages
   * they need that are not resident, adjacent ones in one read.
   */
  private prefetchAfter(bounds: AlexRange, afterKey: number | undefined, count: number): void {
    if (count < 2) return
    let from: AlexRange = bounds
    if (afterKey !== undefined) {
      const { gte: _gte, gt: _gt, lte: _lte, lt: _lt, ...rest } = bounds
      from = bounds.reverse === true
        ? { ...rest, ...(bounds.gte !== undefined ? { gte: bounds.gte } : {}), ...(bounds.gt !== undefined ? { gt: bounds.gt } : {}), lt: afterKey }
        : { ...rest, ...(bounds.lte !== undefined ? { lte: bounds.lte } : {}), ...(bounds.lt !== undefined ? { lt: bounds.lt } : {}), gt: afterKey }
    }
    const handles = this.prefetchScratch
    let n = 0
    let seen = 0
    for (const handle of this.index.values(from)) {
      if (handle > 0) handles[n++] = handle // (a value in its leaf's cell needs no read)
      if (++seen >= count) break
    }
    this.leafStore.prefetch(handles, n)
  }

  private readonly prefetchScratch = new Float64Array(PREFETCH_ENTRIES)

  // ---- writes -------------------------------------------------------------------------------

  /** Stores `value` under `key`. Resolves once durable at the store's level (at once for 'none'). */
  put(key: number, value: Uint8Array): Promise<void> {
    try {
      this.checkWritable()
      const k = keyOf(key)
      checkValue(value, 'value')
      if (this.heldWrites !== null) {
        const copy = value.slice()
        return this.hold(() => this.writeOne(k, copy))
      }
      return this.writeOne(k, value)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  del(key: number): Promise<void> {
    try {
      this.checkWritable()
      const k = keyOf(key)
      if (this.heldWrites !== null) return this.hold(() => this.writeOne(k, undefined))
      return this.writeOne(k, undefined)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Applies every operation or none, after a crash too: one log record holds them all. A batch
   * whose record would pass RECORD_MAX_BYTES (1 GiB: the values plus 13 bytes a put, 9 a delete) is
   * refused with VALUE_TOO_LARGE, with nothing written.
   */
  batch(operations: readonly BatchOperation[]): Promise<void> {
    try {
      this.checkWritable()
      if (!Array.isArray(operations)) throw invalid(`batch takes an array of operations, got ${describeValue(operations)}`)
      const n = operations.length
      const keys = new Float64Array(n)
      const isPut = new Uint8Array(n)
      const values: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(n)
      for (let i = 0; i < n; i++) {
        const op: unknown = operations[i]
        if (op === null || typeof op !== 'object') throw invalid(`batch[${i}] must be an operation object, got ${describeValue(op)}`)
        const { type, key, value } = op as { type?: unknown; key?: unknown; value?: unknown }
        keys[i] = keyOf(key as number, `batch[${i}].key`)
        if (type === 'put') {
          checkValue(value, `batch[${i}].value`)
          isPut[i] = 1
          values[i] = value
        } else if (type !== 'del') {
          throw invalid(`batch[${i}].type must be 'put' or 'del', got ${describeValue(type)}`)
        }
      }
      if (n === 0) return Promise.resolve()
      if (this.heldWrites !== null) {
        for (let i = 0; i < n; i++) values[i] = values[i]?.slice()
        return this.hold(() => this.write(keys, isPut, values))
      }
      return this.write(keys, isPut, values)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Holds a write until the bulk load in its checkpoint is durable or has failed (`heldWrites`). The
   * caller has copied its values (the caller of put may reuse a buffer once the call returns, as for
   * any write); the store is checked again when the write is issued.
   */
  private hold(issue: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.heldWrites!.push(() => {
        try {
          this.checkWritable()
          issue().then(resolve, reject)
        } catch (error) {
          reject(error)
        }
      })
    })
  }

  /** Issues the held writes, in the order they were issued, and stops holding. */
  private releaseHeldWrites(): void {
    const held = this.heldWrites
    this.heldWrites = null
    for (const issue of held ?? []) issue()
  }

  /**
   * The write path. Everything that can refuse the write comes before the log takes it: the record's
   * size (VALUE_TOO_LARGE over RECORD_MAX_BYTES, before any value page is touched), the scratch
   * buffer and room in the pending queue (allocations), the value bytes to value pages; then one
   * BATCH record to the log, all or nothing (WalWriter.append). If the log refuses it, the value
   * records are released. Once the record is in the log's group nothing can throw: the pending
   * operations go into room reserved before, and the index changes once the record is durable (at
   * once for 'none').
   */
  private write(keys: Float64Array, isPut: Uint8Array, values: readonly (Uint8Array | undefined)[]): Promise<void> {
    const n = keys.length
    let valueBytes = 0
    let puts = 0
    for (let i = 0; i < n; i++) {
      if (isPut[i] !== 1) continue
      valueBytes += values[i]!.byteLength
      puts++
    }
    const payloadBytes = batchRecordBytes(n, valueBytes, puts)
    if (!recordFits(payloadBytes)) {
      throw new StoreError(
        ErrorCode.VALUE_TOO_LARGE,
        `a batch of ${n} operations with ${valueBytes} value bytes makes a log record of ${payloadBytes} bytes; the largest is ${RECORD_MAX_BYTES} bytes (split the batch)`,
      )
    }
    // The record is copied into the log's group buffer at once, so one scratch buffer serves all.
    const payload = this.payloadFor(payloadBytes)
    this.pending.reserve(n)
    const handles = new Float64Array(n)
    let stored = 0
    let logged: { lsn: number; done: Promise<void> }
    try {
      for (; stored < n; stored++) if (isPut[stored] === 1) handles[stored] = this.placeValue(values[stored]!)
      encodeBatchRecord(payload, payloadBytes, keys, isPut, values)
      logged = this.wal!.append(RecordType.BATCH, payload, payloadBytes)
    } catch (error) {
      for (let i = 0; i < stored; i++) if (isPut[i] === 1) this.values.release(handles[i]!)
      throw error
    }
    for (let i = 0; i < n; i++) this.pending.push(logged.lsn, keys[i]!, handles[i]!, isPut[i] === 1, values[i])
    return this.logged(logged.lsn, logged.done)
  }

  /** `write` for one put (a value) or delete (undefined): no arrays, the same record (never over RECORD_MAX_BYTES). */
  private writeOne(key: number, value: Uint8Array | undefined): Promise<void> {
    const payloadBytes = value === undefined ? batchRecordBytes(1, 0, 0) : batchRecordBytes(1, value.byteLength, 1)
    const payload = this.payloadFor(payloadBytes)
    this.pending.reserve(1)
    const handle = value === undefined ? 0 : this.placeValue(value)
    let logged: { lsn: number; done: Promise<void> }
    try {
      encodeOneRecord(payload, key, value)
      logged = this.wal!.append(RecordType.BATCH, payload, payloadBytes)
    } catch (error) {
      if (value !== undefined) this.values.release(handle)
      throw error
    }
    this.pending.push(logged.lsn, key, handle, value !== undefined, value)
    return this.logged(logged.lsn, logged.done)
  }

  /**
   * A scratch buffer of at least `bytes` for a record's payload (the log copies it at once). A record
   * over PAYLOAD_SCRATCH_BYTES_MAX gets a buffer of its own, dropped after the append: one 1 GiB
   * batch would otherwise pin 1 GiB for the store's life.
   */
  private payloadFor(bytes: number): Uint8Array {
    if (this.payloadScratch.byteLength >= bytes) return this.payloadScratch
    if (bytes > PAYLOAD_SCRATCH_BYTES_MAX) return new Uint8Array(bytes)
    this.payloadScratch = new Uint8Array(Math.min(PAYLOAD_SCRATCH_BYTES_MAX, Math.max(bytes, 2 * this.payloadScratch.byteLength)))
    return this.payloadScratch
  }

  /** A write's record is in the log's group: at 'none' apply it now; else the log applies it (onDurable) before `done` resolves, or drops it (onFailure). */
  private logged(lsn: number, done: Promise<void>): Promise<void> {
    this.writesSinceCheckpoint++
    if (this.durability === 'none') {
      try {
        this.applyDurable(lsn)
      } catch (error) {
        // As in the log's onDurable (startLog): the index may hold part of a batch, so every later
        // write is refused (a reopen replays the log into a clean index); this one is rejected.
        this.dropPending(applyFailure(error))
        throw this.failure
      }
      this.maybeCheckpoint()
    }
    return done
  }

  /**
   * Applies, in LSN order, every pending operation up to `lsn` (their records are durable), a write
   * (one LSN) at a time. An operation leaves the queue as it is applied: if applying throws, the log
   * fails the store and `dropPending` releases what was not applied.
   */
  private applyDurable(lsn: number): void {
    const pending = this.pending
    // Writes not yet read ahead (see below) among the next ones to apply.
    let ahead = 0
    while (pending.length > 0 && pending.firstLsn <= lsn) {
      const writeLsn = pending.firstLsn
      this.snapshots.freeze()
      const structureBefore = this.index.structureChanges
      // One operation at a time, even for a big ascending batch into an empty store (bulkLoad is the
      // way to load one): an index bulk-loaded from the first batch, with later batches appended past
      // its domain, grew deep and then rebuilt whole subtrees on inserts.
      do {
        if (ahead === 0) {
          // A group of writes: read ahead what the next inserts touch first, so their cache misses
          // overlap instead of coming one after another.
          ahead = pending.countUpTo(lsn, PREFETCH_MAX)
          if (ahead > 1) this.index.prefetch(pending.keyList, pending.headIndex, ahead)
        }
        ahead--
        const key = pending.firstKey
        if (pending.firstIsPut) {
          const handle = pending.firstHandle
          const cellAt = pending.firstCellAt
          pending.shift()
          // (A shift leaves the queue's bytes in place: nothing is pushed until the install is done.)
          if (handle < 0) this.installCell(key, handle, pending.cells, cellAt)
          else this.install(key, handle)
        } else {
          pending.shift()
          this.remove(key)
        }
      } while (pending.length > 0 && pending.firstLsn === writeLsn)
      this.appliedLsn = writeLsn
      if (this.index.structureChanges !== structureBefore) killPoint(KILL_POINTS.STRUCTURE_CHANGE)
    }
  }

  /** The log failed: writes not yet durable are dropped (their value records released). */
  private dropPending(error: unknown): void {
    if (this.failure === null) this.failure = error instanceof StoreError ? error : new StoreError(ErrorCode.IO, String(error), { cause: error })
    this.pending.drain((handle) => this.values.release(handle))
  }

  private install(key: number, handle: number): void {
    const old = this.index.upsert(key, handle)
    if (old !== undefined) {
      this.values.forget(key)
      this.snapshots.release(old)
    }
  }

  /** `install` of a value kept in its leaf's cell: `raw` = cellValue(length), the bytes at bytes[at..]. */
  private installCell(key: number, raw: number, bytes: Uint8Array, at: number): void {
    const old = this.index.upsertCell(key, raw, bytes, at)
    if (old !== undefined) {
      this.values.forget(key)
      this.snapshots.release(old)
    }
  }

  /** Bytes of each leaf slot's cell (the meta page's; 0: values all go to value pages). */
  private readonly cellBytes: number

  private fitsCell(value: Uint8Array): boolean {
    return this.cellBytes > 0 && value.byteLength <= this.cellBytes
  }

  /**
   * Where a value being written will live: a cell value (< 0) for one that fits its leaf's cell (its
   * bytes travel with the pending operation), else a handle to a record appended to a value page.
   */
  private placeValue(value: Uint8Array): number {
    return this.fitsCell(value) ? cellValue(value.byteLength) : this.values.append(value)
  }

  /**
   * getInto's lookup, into target[at..] (the record cache is not consulted). `missed`: the key's leaf
   * was read from the file for the batch this get belongs to (a value in a cell is then offered to
   * the record cache, as when this get reads the leaf itself).
   */
  private getIntoAt(key: number, target: Uint8Array, at: number, missed = false): number {
    const k = keyOf(key)
    const loads = this.frames.counters.loads
    const handle = this.index.get(k)
    if (handle === undefined) return -1
    if (handle >= 0) return this.values.readInto(handle, target, at, k)
    const length = this.index.copyHitCell(target, at)
    // A leaf read from the file for this get: its value is offered to the record cache.
    if ((missed || this.frames.counters.loads !== loads) && length <= target.byteLength - at) this.values.offerLeafValue(k, target, at, length)
    return length
  }

  private remove(key: number): void {
    const old = this.index.get(key)
    if (old === undefined) return
    this.index.delete(key)
    this.values.forget(key)
    this.snapshots.release(old)
  }

  /**
   * Loads `entries`, in strictly ascending key order, into an empty store: the values go straight to
   * value pages and the index is built at once by ALEX's bulk load (leaves sized by its cost model,
   * with room left for inserts), with nothing written to the log. Resolves once a checkpoint holding
   * every entry is on stable storage (synced at every durability level). A crash before then leaves
   * the store empty; the pages written so far are reclaimed at the next open.
   *
   * Throws INVALID_ARGUMENT if the store holds records (or has writes in flight), if a key is not
   * above the one before it, or for a bad key or value (VALUE_TOO_LARGE for an oversized value); the
   * store is then still empty and usable. Each entry is read once, as it is iterated, so one array
   * may be reused for every entry. Other writes may be issued while the returned promise is pending;
   * they apply after the load, and those issued while its checkpoint is written are logged only once
   * it is durable (or has failed), so that no crash can keep them without the load.
   */
  async bulkLoad(entries: Iterable<readonly [number, Uint8Array]>): Promise<void>
  /**
   * The same load from columns: `keys` in strictly ascending order, and each key's value, as an
   * array of the same length or a function of the key's index (called once per index, in order).
   * Nothing per entry is allocated here (no [key, value] pair), and `keys`, if a Float64Array, is
   * read in place: for keys held as numbers in a typed array, the faster way in.
   */
  async bulkLoad(keys: Float64Array | readonly number[], values: readonly Uint8Array[] | ((index: number) => Uint8Array)): Promise<void>
  async bulkLoad(entriesOrKeys: LoadEntries, values?: LoadValues): Promise<void> {
    this.checkWritable()
    checkLoadArguments(entriesOrKeys, values)
    while (this.checkpointer.running) await this.checkpointer.idle()
    this.checkWritable()
    if (this.index.size !== 0 || this.pending.length !== 0) {
      throw invalid(`bulkLoad needs an empty store; ${this.dir} holds ${this.index.size} records and ${this.pending.length} writes in flight`)
    }
    const target: LoadTarget = {
      file: this.file,
      values: this.values,
      leafStore: this.leafStore,
      frames: this.frames,
      setIndex: (index) => {
        // The empty index's leaf gives back its page and frame.
        this.index.dispose()
        this.index = index
      },
      fail: (error) => {
        if (this.failure === null) this.failure = error instanceof StoreError ? error : new StoreError(ErrorCode.IO, String(error), { cause: error })
      },
    }
    // The values, the index and its leaf pages (bulk-load.ts): written, not yet durable.
    if (writeLoad(target, entriesOrKeys, values) === 0) return
    this.writesSinceCheckpoint++
    this.heldWrites = []
    try {
      await this.runCheckpoint(true)
      // The load is in no log record: until a second checkpoint holds it too, the older meta page
      // is the empty store, and a fallback to it (the newer one damaged) would open empty. This one
      // writes only the tree image, the page map and the free list again.
      await this.runCheckpoint(true)
    } finally {
      this.releaseHeldWrites()
    }
  }

  private checkWritable(): void {
    if (this.closed) throw closedError()
    if (this.readOnly) throw new StoreError(ErrorCode.READ_ONLY, `store ${this.dir} was opened read-only`)
    if (this.failure !== null) throw this.failure
    const walFailure = this.wal?.failed ?? null
    if (walFailure !== null) throw walFailure
  }

  // ---- checkpoints --------------------------------------------------------------------------

  /** Writes a checkpoint now (waiting for one already running first) and lets old log segments go. */
  async checkpoint(): Promise<void> {
    this.checkWritable()
    // Wait until no checkpoint runs; another caller may start one the moment the last one ends.
    while (this.checkpointer.running) await this.checkpointer.idle()
    this.checkWritable()
    await this.runCheckpoint()
  }

  private maybeCheckpoint(): void {
    if (this.wal !== null && this.wal.writtenBytes >= this.options.checkpointWalBytes) this.startCheckpoint()
  }

  /** Starts a checkpoint in the background unless one is running; a failure fails the store. */
  private startCheckpoint(): void {
    if (this.checkpointer.running || this.closed || this.failure !== null) return
    this.runCheckpoint().catch(() => {})
  }

  private async runCheckpoint(sync?: boolean): Promise<void> {
    const redoLsn = this.appliedLsn + 1
    if (this.wal !== null) this.wal.writtenBytes = 0
    this.writesSinceCheckpoint = 0
    try {
      // Before the capture, so that moved values and their leaves go into this checkpoint.
      this.compactor.run(this.index)
      await this.checkpointer.run(this.index, redoLsn, sync)
      // The previous checkpoint is now the older meta page: keep the log it replays from.
      const release = this.olderRedoLsn
      this.olderRedoLsn = redoLsn
      this.wal?.release(release, this.options.walArchive ? path.join(this.walDir, WAL_ARCHIVE_DIR_NAME) : null)
      killPoint(KILL_POINTS.CHECKPOINT_AFTER_RELEASE)
    } catch (error) {
      if (this.failure === null) this.failure = error instanceof StoreError ? error : new StoreError(ErrorCode.IO, String(error), { cause: error })
      throw error
    }
  }

  // ---- statistics, checks and closing -------------------------------------------------------

  /**
   * Verifies the whole store (check.ts): index invariants, that every page is either referenced or
   * free, every page checksum, every value. Returns a report; throws CORRUPTION on damage. Reads
   * every page: for tests, tools and occasional audits, not hot paths.
   */
  async check(): Promise<CheckReport> {
    if (this.closed) throw closedError()
    // A checkpoint being written has pages allocated that are not on disk yet.
    await this.checkpointer.idle()
    if (this.closed) throw closedError()
    return checkStore({
      file: this.file,
      pool: this.pool,
      frames: this.frames,
      free: this.free,
      values: this.values,
      index: this.index,
      leaves: this.index.leaves(),
      treePages: this.checkpointer.treePages,
      freeListPages: this.checkpointer.freeListPages,
      pageMapPages: this.checkpointer.pageMapPages,
    })
  }

  /** The store's figures now (stats.ts): pages, log, recovery, compaction, buffer pool, index. */
  stats(): StoreStats {
    if (this.closed) throw closedError()
    return storeStats({
      file: this.file,
      pool: this.pool,
      frames: this.frames,
      budgetBytes: this.options.cacheBytes,
      free: this.free,
      values: this.values,
      index: this.index,
      checkpointer: this.checkpointer,
      wal: this.wal,
      appliedLsn: this.appliedLsn,
      recovery: this.recovery,
      compaction: this.compactor.stats,
    })
  }

  /**
   * Waits for every write in flight, writes a final checkpoint (unless read-only or failed), then
   * releases the log, the page file and the lock. Closing twice is harmless.
   */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.closeOnce()
    return this.closing
  }

  private async closeOnce(): Promise<void> {
    let firstError: unknown = null
    const attempt = async (step: () => unknown): Promise<void> => {
      try {
        await step()
      } catch (error) {
        firstError ??= error
      }
    }
    if (this.timer !== null) clearInterval(this.timer)
    // The writes a bulk load holds are issued as its checkpoint ends (heldWrites): they are pending
    // writes like any other, so wait for them to reach the log before draining it.
    while (this.heldWrites !== null) await this.checkpointer.idle()
    if (this.wal !== null) await attempt(() => this.wal!.drain())
    while (this.checkpointer.running) await this.checkpointer.idle()
    if (!this.readOnly && this.failure === null && this.wal?.failed === null) {
      await attempt(() => this.runCheckpoint())
      // The file's unused tail (growth is by extents of 1/8): pages past the frontier were never used.
      if (firstError === null) await attempt(() => this.file.trim(this.free.frontier))
    }
    this.closed = true
    this.pending.drain(() => {})
    await attempt(() => this.wal?.close())
    try {
      this.pool.clear()
    } catch {
      // Dirty pages left by a failed write: the durable state is the last checkpoint plus the log.
    }
    await attempt(() => this.file.close())
    await attempt(() => this.lock.release())
    if (firstError !== null) throw firstError
  }

  get isClosed(): boolean {
    return this.closed
  }
}

/** The iterable `range` returns: for...of and for await...of. */
export class RangeIterable implements Iterable<[number, Uint8Array]>, AsyncIterable<[number, Uint8Array]> {
  constructor(
    private readonly store: Store,
    private readonly bounds: AlexRange,
    private readonly limit: number,
    /** The index iterator made when the range was checked; the first iteration uses it. */
    private first: IndexIterator<[number, number]> | undefined,
  ) {}

  private iterate(): Iterator<[number, Uint8Array]> {
    const made = this.first
    this.first = undefined
    return this.store.iterate(this.bounds, this.limit, made)
  }

  [Symbol.iterator](): Iterator<[number, Uint8Array]> {
    return this.iterate()
  }

  [Symbol.asyncIterator](): AsyncIterator<[number, Uint8Array]> {
    const inner = this.iterate()
    return {
      next: async () => inner.next(),
      return: async () => inner.return?.() ?? { done: true, value: undefined },
    }
  }
}

// ---- helpers ------------------------------------------------------------------------------------

/** The store's failure when applying logged writes failed: NO_SPACE for a full disk, else IO. */
function applyFailure(error: unknown): StoreError {
  const code = error instanceof StoreError && error.code === ErrorCode.NO_SPACE ? ErrorCode.NO_SPACE : ErrorCode.IO
  return new StoreError(code, `applying logged writes failed: ${String(error)}`, { cause: error })
}

function closedError(): StoreError {
  return new StoreError(ErrorCode.CLOSED, 'the store is closed')
}

/** applyDurable reads ahead for at most this many writes (a log group of 16 puts: all of them). */
const PREFETCH_MAX = 64
