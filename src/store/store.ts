/**
 * The store: `open(dir, options)` and the `Store` it returns. It alone orders pages (checkpoints)
 * and owns the pieces: the ALEX index (keys -> value handles, fully in memory), leaf pages (one per
 * data node, written copy-on-write at checkpoints), value pages and overflow runs (through the buffer
 * pool), the tree image and free list (chains), and the two meta pages.
 *
 * Reading the source: `open` -> `openExisting` / `createNew`; writes are `put`/`del`/`batch`, which
 * append value bytes first (the only step that can fail) and then change the index; `checkpoint`
 * makes everything durable in numbered steps (see its comment); `range` is a RangeIterable.
 *
 * Durability until the write-ahead log exists: a write is durable once a checkpoint has run after
 * it, which `close()` does. A crash loses the writes since the last checkpoint, never more, and never
 * leaves a torn state: the meta page switch is atomic and nothing it references is overwritten.
 */

import fs from 'node:fs'
import path from 'node:path'
import { AlexIndex } from '../alex/alex-index.js'
import type { AlexRange } from '../alex/api.js'
import { ErrorCode, StoreError, describeValue } from '../errors.js'
import { openFile, syncDirectory } from '../io/file.js'
import { lockDirectory, type DirectoryLock } from '../io/lock.js'
import { BufferPool } from '../pages/buffer-pool.js'
import { chainPagesFor, encodeChain, readChain } from '../pages/chain-page.js'
import { FreeSpace } from '../pages/free-space.js'
import { decodeLeafPage, encodeLeafPage, leafCapacityMax } from '../pages/leaf-page.js'
import { FIRST_DATA_PAGE_ID, decodeMetaPage, encodeMetaPage, type Meta } from '../pages/meta-page.js'
import { NO_PAGE, PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES, PageType } from '../pages/page-format.js'
import { sealPage } from '../pages/page-header.js'
import { PageFile, type PageWrite } from '../pages/page-file.js'
import { VALUE_MAX_BYTES, handleIsOverflow } from '../pages/value-page.js'
import { ValueStore } from '../pages/value-store.js'
import type { BatchOperation, Durability, OpenOptions, RangeOptions, StoreStats } from './api.js'
import { DEFAULT_PAGE_SIZE_BYTES, checkOpenOptions } from './options.js'

export const DATA_FILE_NAME = 'data.lsp'
/** Leaf pages are written at a checkpoint in batches of at most this many bytes. */
const CHECKPOINT_BATCH_BYTES = 16 << 20

/** A batch into an empty store at least this long, all puts with ascending keys, is bulk-loaded. */
const BULK_LOAD_MIN_OPERATIONS = 1024

function isBulkLoadable(keys: Float64Array, isPut: Uint8Array): boolean {
  for (let i = 0; i < keys.length; i++) {
    if (isPut[i] !== 1 || (i > 0 && !(keys[i]! > keys[i - 1]!))) return false
  }
  return true
}

function invalid(message: string): StoreError {
  return new StoreError(ErrorCode.INVALID_ARGUMENT, message)
}

/** Opens (creating if needed, unless read-only) the store in directory `dir`. */
export async function open(dir: string, options?: OpenOptions): Promise<Store> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid(`dir must be a non-empty string, got ${describeValue(dir)}`)
  const checked = checkOpenOptions(options)
  if (!checked.readOnly) {
    try {
      fs.mkdirSync(dir, { recursive: true })
    } catch (error) {
      throw new StoreError(ErrorCode.IO, `create directory ${dir}: ${String(error)}`, { cause: error })
    }
  } else if (!fs.existsSync(path.join(dir, DATA_FILE_NAME))) {
    throw new StoreError(ErrorCode.IO, `no store in ${dir} to open read-only (${DATA_FILE_NAME} is missing)`)
  }
  const lock = lockDirectory(dir, checked.readOnly)
  try {
    return Store.openLocked(dir, checked.pageSizeBytes, checked.cacheBytes, checked.durability, checked.readOnly, lock)
  } catch (error) {
    lock.release()
    throw error
  }
}

interface Pieces {
  file: PageFile
  free: FreeSpace
  index: AlexIndex<number>
  treePages: number[]
  freeListPages: number[]
  generation: number
}

export class Store {
  private closed = false
  private readonly pool: BufferPool
  private readonly values: ValueStore
  private readonly file: PageFile
  private readonly free: FreeSpace
  private index: AlexIndex<number>
  private storedLeafIds = new Set<number>()
  private treePages: number[]
  private freeListPages: number[]
  private generation: number
  private checkpoints = 0

  private constructor(
    readonly dir: string,
    pieces: Pieces,
    cacheBytes: number,
    private readonly durability: Durability,
    readonly readOnly: boolean,
    private readonly lock: DirectoryLock,
  ) {
    this.file = pieces.file
    this.free = pieces.free
    this.index = pieces.index
    this.treePages = pieces.treePages
    this.freeListPages = pieces.freeListPages
    this.generation = pieces.generation
    this.pool = new BufferPool(this.file, cacheBytes)
    this.values = new ValueStore(this.file, this.pool, this.free)
  }

  /** @internal Opens the page file of a locked directory (open() has checked the options). */
  static openLocked(
    dir: string,
    pageSizeBytes: number | undefined,
    cacheBytes: number,
    durability: Durability,
    readOnly: boolean,
    lock: DirectoryLock,
  ): Store {
    const filePath = path.join(dir, DATA_FILE_NAME)
    const raw = openFile(filePath, { create: !readOnly, readOnly })
    try {
      const size = raw.size()
      if (size === 0) {
        // A new store (or one whose creation never reached its first checkpoint: nothing was durable).
        if (readOnly) throw new StoreError(ErrorCode.IO, `no store in ${dir} to open read-only (${DATA_FILE_NAME} is empty)`)
        const file = new PageFile(raw, pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES)
        const pieces: Pieces = {
          file,
          free: new FreeSpace([], FIRST_DATA_PAGE_ID, (frontier) => file.reserve(frontier)),
          index: new AlexIndex<number>({ maxDataNodeSlots: leafCapacityMax(file.pageSizeBytes) }),
          treePages: [],
          freeListPages: [],
          generation: 0,
        }
        const store = new Store(dir, pieces, cacheBytes, durability, readOnly, lock)
        store.checkpointNow()
        if (durability === 'fsync') syncDirectory(dir)
        return store
      }
      const meta = readNewestMeta(raw.path, (buffer, position) => raw.read(buffer, 0, buffer.byteLength, position))
      if (pageSizeBytes !== undefined && pageSizeBytes !== meta.pageSizeBytes) {
        throw invalid(`store ${dir} has ${meta.pageSizeBytes}-byte pages; pageSizeBytes ${pageSizeBytes} was asked for`)
      }
      if (size < meta.pageCount * meta.pageSizeBytes) {
        throw new StoreError(ErrorCode.CORRUPTION, `${filePath}: ${size} bytes, but the meta page (generation ${meta.generation}) counts ${meta.pageCount} pages of ${meta.pageSizeBytes} bytes`)
      }
      const file = new PageFile(raw, meta.pageSizeBytes)
      const store = new Store(dir, loadPieces(file, meta), cacheBytes, durability, readOnly, lock)
      store.countStoredPages()
      return store
    } catch (error) {
      raw.close()
      throw error
    }
  }

  /** After loading: live records per value page, overflow pages, and the set of stored leaf pages. */
  private countStoredPages(): void {
    for (const leaf of this.index.leaves()) {
      this.storedLeafIds.add(leaf.leafId)
      const values = leaf.values
      for (let s = 0; s < leaf.capacity; s++) {
        const handle = values[s]
        if (handle === undefined) continue
        this.values.countLive(handle)
        if (handleIsOverflow(handle)) this.values.countOverflow(handle)
      }
    }
  }

  // ---- reads --------------------------------------------------------------------------------

  /** The value stored under `key` (a copy), or undefined. */
  get(key: number): Uint8Array | undefined {
    if (this.closed) throw closedError()
    const handle = this.index.get(keyOf(key))
    return handle === undefined ? undefined : this.values.read(handle)
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
  iterate(bounds: AlexRange, limit: number, made?: Iterator<[number, number]>): Iterator<[number, Uint8Array]> {
    const entries = made ?? this.index.entries(bounds)
    let left = limit
    return {
      next: (): IteratorResult<[number, Uint8Array]> => {
        if (this.closed) throw closedError()
        if (left <= 0) return { done: true, value: undefined }
        const step = entries.next()
        if (step.done === true) {
          left = 0
          return { done: true, value: undefined }
        }
        left--
        const entry = step.value as unknown as [number, Uint8Array | number]
        entry[1] = this.values.read(entry[1] as number)
        return { done: false, value: entry as [number, Uint8Array] }
      },
      return: (): IteratorResult<[number, Uint8Array]> => {
        left = 0
        entries.return?.()
        return { done: true, value: undefined }
      },
    }
  }

  // ---- writes -------------------------------------------------------------------------------

  async put(key: number, value: Uint8Array): Promise<void> {
    this.checkWritable()
    const k = keyOf(key)
    checkValue(value, 'value')
    const handle = this.values.append(value)
    this.install(k, handle)
  }

  async del(key: number): Promise<void> {
    this.checkWritable()
    this.remove(keyOf(key))
  }

  /** Applies every operation or none: all are checked, then all value bytes stored, then the index changed. */
  async batch(operations: readonly BatchOperation[]): Promise<void> {
    this.checkWritable()
    if (!Array.isArray(operations)) throw invalid(`batch takes an array of operations, got ${describeValue(operations)}`)
    const n = operations.length
    const keys = new Float64Array(n)
    const isPut = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      const op: unknown = operations[i]
      if (op === null || typeof op !== 'object') throw invalid(`batch[${i}] must be an operation object, got ${describeValue(op)}`)
      const { type, key, value } = op as { type?: unknown; key?: unknown; value?: unknown }
      keys[i] = keyOf(key as number, `batch[${i}].key`)
      if (type === 'put') {
        checkValue(value, `batch[${i}].value`)
        isPut[i] = 1
      } else if (type !== 'del') {
        throw invalid(`batch[${i}].type must be 'put' or 'del', got ${describeValue(type)}`)
      }
    }
    const handles = new Float64Array(n)
    let stored = 0
    try {
      for (; stored < n; stored++) {
        if (isPut[stored] === 1) handles[stored] = this.values.append((operations[stored] as { value: Uint8Array }).value)
      }
    } catch (error) {
      for (let i = 0; i < stored; i++) if (isPut[i] === 1) this.values.release(handles[i]!)
      throw error
    }
    if (this.index.size === 0 && n >= BULK_LOAD_MIN_OPERATIONS && isBulkLoadable(keys, isPut)) {
      // Into an empty store, ascending puts: build the index top-down (ALEX bulk load) instead of
      // inserting key by key.
      this.index = AlexIndex.bulkLoad<number>(keys, handles, { maxDataNodeSlots: leafCapacityMax(this.file.pageSizeBytes) })
      return
    }
    for (let i = 0; i < n; i++) {
      if (isPut[i] === 1) this.install(keys[i]!, handles[i]!)
      else this.remove(keys[i]!)
    }
  }

  private install(key: number, handle: number): void {
    const old = this.index.upsert(key, handle)
    if (old !== undefined) this.values.release(old)
  }

  private remove(key: number): void {
    const old = this.index.get(key)
    if (old === undefined) return
    this.index.delete(key)
    this.values.release(old)
  }

  private checkWritable(): void {
    if (this.closed) throw closedError()
    if (this.readOnly) throw new StoreError(ErrorCode.READ_ONLY, `store ${this.dir} was opened read-only`)
  }

  // ---- checkpoint ---------------------------------------------------------------------------

  /** Makes every write so far durable (at the store's durability level). */
  async checkpoint(): Promise<void> {
    this.checkWritable()
    this.checkpointNow()
  }

  /**
   * The checkpoint, in order (a crash at any step leaves the previous checkpoint intact, because
   * nothing it references is written before step 7 and the meta page of step 6 goes to the other slot):
   *   1. end the append page and write every dirty value page (coalesced);
   *   2. write every changed leaf to a newly allocated page (copy-on-write; coalesced); the old page
   *      and the pages of leaves the index retired wait for step 7 to be reused;
   *   3. write the tree image chain to new pages;
   *   4. write the free-list chain (taking pages that are free in the durable state);
   *   5. extend the file to the page count, and fdatasync (durability 'fsync');
   *   6. write the meta page with generation + 1 into slot (generation + 1) % 2, and fdatasync;
   *   7. commit: pages freed since the last checkpoint become reusable.
   */
  private checkpointNow(): void {
    const size = this.file.pageSizeBytes
    // 1.
    this.values.seal()
    this.pool.flush()
    // 2.
    this.writeDirtyLeaves()
    // 3.
    const tree = this.index.encodeTree()
    const treePages = this.allocatePages(chainPagesFor(tree.byteLength, size))
    this.file.writePages(encodeChain(tree, treePages, PageType.MODEL, size))
    for (const page of this.treePages) this.free.release(page)
    this.treePages = treePages
    // 4.
    for (const page of this.freeListPages) this.free.release(page)
    const listPages = this.allocatePages(chainPagesFor(4 * (this.free.freeCount + this.free.pendingCount), size))
    const entries = this.free.freeAfterCommit()
    const stream = new Uint8Array(4 * entries.length)
    const streamView = new DataView(stream.buffer)
    for (let i = 0; i < entries.length; i++) streamView.setUint32(4 * i, entries[i]!, true)
    this.file.writePages(encodeChain(stream, listPages, PageType.FREE_LIST, size))
    this.freeListPages = listPages
    // 5.
    this.file.reserve(this.free.frontier)
    if (this.durability === 'fsync') this.file.datasync()
    // 6.
    const generation = this.generation + 1
    const meta: Meta = {
      pageSizeBytes: size,
      pageCount: this.free.frontier,
      generation,
      records: this.index.size,
      treeHead: treePages[0]!,
      freeListHead: listPages[0]!,
      treeBytes: tree.byteLength,
      freeListEntries: entries.length,
      redoLsn: 0,
    }
    this.file.writePages([{ pageId: generation % 2, page: encodeMetaPage(meta) }])
    if (this.durability === 'fsync') this.file.datasync()
    // 7.
    this.generation = generation
    this.free.commit()
    this.checkpoints++
  }

  private allocatePages(count: number): number[] {
    const pages: number[] = []
    for (let i = 0; i < count; i++) pages.push(this.free.allocate())
    return pages
  }

  private writeDirtyLeaves(): void {
    const size = this.file.pageSizeBytes
    const live = new Set<number>()
    let batch: PageWrite[] = []
    let leaves: { leafId: number; dirty: boolean }[] = []
    const flush = (): void => {
      this.file.writePages(batch)
      // Only now do the leaves name their new pages: a failed write leaves them dirty.
      for (let i = 0; i < leaves.length; i++) {
        const leaf = leaves[i]!
        if (leaf.leafId >= 0) {
          this.free.release(leaf.leafId)
          this.storedLeafIds.delete(leaf.leafId)
        }
        leaf.leafId = batch[i]!.pageId
        leaf.dirty = false
        live.add(leaf.leafId)
        this.storedLeafIds.add(leaf.leafId)
      }
      batch = []
      leaves = []
    }
    for (const leaf of this.index.leaves()) {
      if (!leaf.dirty && leaf.leafId >= 0) {
        live.add(leaf.leafId)
        continue
      }
      const pageId = this.free.allocate()
      const page = new Uint8Array(size)
      encodeLeafPage(page, leaf)
      sealPage(page, { type: PageType.DATA, pageId, lsn: 0 })
      batch.push({ pageId, page })
      leaves.push(leaf)
      if (batch.length * size >= CHECKPOINT_BATCH_BYTES) flush()
    }
    flush()
    // Leaves the index retired (split, merged, rebuilt) since the last checkpoint.
    for (const id of this.storedLeafIds) {
      if (!live.has(id)) {
        this.free.release(id)
        this.storedLeafIds.delete(id)
      }
    }
  }

  // ---- statistics and closing ---------------------------------------------------------------

  stats(): StoreStats {
    if (this.closed) throw closedError()
    const file = this.file.counters
    const pool = this.pool.counters
    return {
      records: this.index.size,
      pageSizeBytes: this.file.pageSizeBytes,
      pages: {
        total: this.free.frontier,
        meta: 2,
        leaf: this.storedLeafIds.size,
        value: this.values.valuePages,
        overflow: this.values.overflowPages,
        model: this.treePages.length,
        freeList: this.freeListPages.length,
        free: this.free.freeCount,
        pendingFree: this.free.pendingCount,
      },
      bytesOnDisk: this.file.sizeBytes(),
      checkpoints: this.checkpoints,
      generation: this.generation,
      bufferPool: {
        pageSizeBytes: this.file.pageSizeBytes,
        frames: this.pool.frames,
        residentPages: this.pool.residentPages,
        dirtyPages: this.pool.dirtyPages,
        pinnedPages: this.pool.pinnedPages,
        hits: pool.hits,
        misses: pool.misses,
        evictions: pool.evictions,
        pagesRead: file.pagesRead,
        bytesRead: file.bytesRead,
        pagesWritten: file.pagesWritten,
        bytesWritten: file.bytesWritten,
        writeCalls: file.writeCalls,
      },
      index: this.index.stats(),
    }
  }

  /** Writes a checkpoint (unless read-only), then releases the file and the lock. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      if (!this.readOnly) this.checkpointNow()
    } finally {
      try {
        this.pool.clear()
      } catch {
        // Dirty pages left by a failed checkpoint are dropped: the durable state is the previous one.
      }
      try {
        this.file.close()
      } finally {
        this.lock.release()
      }
    }
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
    private first: Iterator<[number, number]> | undefined,
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

// ---- opening an existing store ------------------------------------------------------------------

/** Reads both meta pages (finding the page size) and returns the valid one with the higher generation. */
function readNewestMeta(file: string, read: (buffer: Uint8Array, position: number) => number): Meta {
  const found: Meta[] = []
  const errors: string[] = []
  // Page 0 names its own size; if it is damaged, try page 1 at every possible size.
  const probe = new Uint8Array(64)
  read(probe, 0)
  const claimed = new DataView(probe.buffer).getUint32(40, true)
  const sizes: number[] = []
  if (claimed >= PAGE_SIZE_MIN_BYTES && claimed <= PAGE_SIZE_MAX_BYTES && (claimed & (claimed - 1)) === 0) sizes.push(claimed)
  for (let s = PAGE_SIZE_MIN_BYTES; s <= PAGE_SIZE_MAX_BYTES; s *= 2) if (!sizes.includes(s)) sizes.push(s)
  for (const pageId of [0, 1]) {
    for (const size of sizes) {
      const page = new Uint8Array(size)
      if (read(page, pageId * size) < size) continue
      try {
        found.push(decodeMetaPage(page, pageId, file))
        break
      } catch (error) {
        if (size === claimed) errors.push((error as Error).message)
      }
    }
  }
  if (found.length === 0) throw new StoreError(ErrorCode.CORRUPTION, `${file}: no valid meta page (${errors.join('; ') || 'none found'})`)
  if (found.length === 2 && found[0]!.pageSizeBytes !== found[1]!.pageSizeBytes) {
    throw new StoreError(ErrorCode.CORRUPTION, `${file}: the meta pages disagree on the page size`)
  }
  return found.reduce((a, b) => (b.generation > a.generation ? b : a))
}

function loadPieces(file: PageFile, meta: Meta): Pieces {
  const tree = readChain(file, meta.treeHead, meta.treeBytes, PageType.MODEL, meta.pageCount)
  let freePages: number[] = []
  let freeListPages: number[] = []
  if (meta.freeListHead !== NO_PAGE) {
    const list = readChain(file, meta.freeListHead, 4 * meta.freeListEntries, PageType.FREE_LIST, meta.pageCount)
    const view = new DataView(list.stream.buffer)
    for (let i = 0; i < meta.freeListEntries; i++) freePages.push(view.getUint32(4 * i, true))
    freeListPages = list.pageIds
  }
  const seen = new Set<number>()
  for (const page of freePages) {
    if (page < FIRST_DATA_PAGE_ID || page >= meta.pageCount || seen.has(page)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: free list names page ${page} (twice, or outside [2, ${meta.pageCount}))`)
    }
    seen.add(page)
  }
  const scratch = new Uint8Array(file.pageSizeBytes)
  const loadLeaf = (leafId: number) => {
    const where = `${file.path}: page ${leafId} at offset ${file.offsetOf(leafId)}`
    if (leafId < FIRST_DATA_PAGE_ID || leafId >= meta.pageCount || seen.has(leafId)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where}: the tree names it as a leaf, but it is free or outside the used pages`)
    }
    file.readPage(leafId, scratch, PageType.DATA)
    return decodeLeafPage(scratch, where)
  }
  const index = AlexIndex.restore<number>(tree.stream, loadLeaf, { maxDataNodeSlots: leafCapacityMax(file.pageSizeBytes) }, `${file.path} (generation ${meta.generation})`)
  if (index.size !== meta.records) {
    throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: the meta page counts ${meta.records} records, the leaves hold ${index.size}`)
  }
  return {
    file,
    free: new FreeSpace(freePages, meta.pageCount, (frontier) => file.reserve(frontier)),
    index,
    treePages: tree.pageIds,
    freeListPages,
    generation: meta.generation,
  }
}

// ---- argument checks ----------------------------------------------------------------------------

function closedError(): StoreError {
  return new StoreError(ErrorCode.CLOSED, 'the store is closed')
}

function keyOf(key: number, what = 'key'): number {
  if (typeof key === 'number' && Number.isFinite(key)) return key === 0 ? 0 : key
  throw invalid(`${what} must be a finite number, got ${describeValue(key)}`)
}

function checkValue(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array, got ${describeValue(value)}`)
  if (value.byteLength > VALUE_MAX_BYTES) {
    throw new StoreError(ErrorCode.VALUE_TOO_LARGE, `${what} is ${value.byteLength} bytes; the largest value is ${VALUE_MAX_BYTES} bytes`)
  }
}

const RANGE_OPTION_NAMES = new Set(['gte', 'gt', 'lte', 'lt', 'reverse', 'limit'])

function checkRangeOptions(options: unknown): { bounds: AlexRange; limit: number } {
  if (options === undefined) return { bounds: {}, limit: Infinity }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid(`range options must be an object, got ${describeValue(options)}`)
  const bounds: Record<string, unknown> = {}
  let limit = Infinity
  for (const name in options) {
    if (!Object.hasOwn(options, name)) continue
    const value = (options as Record<string, unknown>)[name]
    if (!RANGE_OPTION_NAMES.has(name)) throw invalid(`unknown range option ${JSON.stringify(name)} (known: ${[...RANGE_OPTION_NAMES].join(', ')})`)
    if (value === undefined) continue
    if (name === 'limit') {
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) throw invalid(`range limit must be a non-negative integer, got ${describeValue(value)}`)
      limit = value
    } else {
      bounds[name] = value
    }
  }
  return { bounds: bounds as AlexRange, limit }
}
