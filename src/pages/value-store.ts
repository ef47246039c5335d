/**
 * Value bytes on pages: appends values to value pages (through the buffer pool), writes large values
 * to overflow runs, reads them back by handle, and counts live records per value page so that a page
 * whose records are all dead is freed.
 *
 * Copy-on-write: records are only appended to the current append page, which is always a page
 * allocated since the last checkpoint. `seal()` (at a checkpoint) ends it, so a page the durable
 * state references is never written again.
 *
 * Reads: a value page in the pool is read there. A miss on a full pool reads only the record (each
 * record carries its own check, value-page.ts) unless the page has been read more often lately than
 * the page it would evict (`admit`), so point reads over data larger than the pool cost one small
 * read instead of a whole-page read and an eviction.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import type { BufferPool } from './buffer-pool.js'
import type { FreeSpace } from './free-space.js'
import { NO_PAGE, PAGE_HEADER_BYTES, PageType } from './page-format.js'
import { sealPage, writePageHeader } from './page-header.js'
import type { BulkWriter } from './bulk-writer.js'
import type { PageFile, PageWrite } from './page-file.js'
import { RECORD_CACHE_VALUE_MAX, RecordCache } from './record-cache.js'
import {
  HANDLE_PAGE_FACTOR,
  OVERFLOW_FLAG,
  OVERFLOW_STUB_BYTES,
  VALUE_RECORD_SHORT_MAX,
  VALUE_RECORD_SHORT_HEADER_BYTES,
  VALUE_RECORDS_OFFSET,
  decodeStub,
  encodeStub,
  handleIsOverflow,
  handleOffset,
  handlePage,
  initValuePage,
  inlineValueMaxBytes,
  makeHandle,
  overflowPagesFor,
  readRecordWord,
  readU32,
  recordAt,
  recordBytes,
  recordCheck,
  recordHeaderBytes,
  ValueOffset,
  writeRecord,
  writeU32,
  type OverflowStub,
} from './value-page.js'

const EMPTY_PAGE = new Uint8Array(0)
/** A page map entry (`pageMap`): the page belongs to a live overflow run. */
export const PAGE_MAP_OVERFLOW = 0xffffffff
/** Bytes read for a record read alone: the record header and a small value in one read. */
const RANGE_READ_BYTES = 512
export class ValueStore {
  readonly inlineMaxBytes: number
  /** Live records per value page, indexed by page id. */
  private live: Uint32Array = new Uint32Array(64)
  /** Records ever appended per value page (0: not known yet; read from the page when asked). */
  private total: Uint32Array = new Uint32Array(64)
  /** 1 at a page id that is part of a live overflow run (the page map, `pageMap`, records them). */
  private overflowUsed: Uint8Array = new Uint8Array(64)
  private appendPage = NO_PAGE
  private appendFrame = -1
  valuePages = 0
  overflowPages = 0
  /** Overflow handles released but not yet settled (see `release`). */
  private readonly deferredOverflow: number[] = []
  private lastPageId = NO_PAGE
  private lastPage: Uint8Array | null = null
  private lastReassignments = -1
  /**
   * Admission of value pages into a full pool (TinyLFU's rule): a small sketch counts recent reads
   * per value page (hashed; halved every `8 * slots` reads, so it forgets). A page missed while the
   * pool is full is read whole and admitted only if it was read more often than the page it would
   * evict, and never in place of a leaf on a point read (`admit`); otherwise just the record is read
   * (`readAlone`). Uniform reads over data larger than the
   * pool then cost one small read each instead of a page read and an eviction apiece, while hot
   * pages (Zipfian reads) still win their frames.
   */
  private readonly frequency: Uint8Array
  private readonly frequencyMask: number
  private reads = 0
  private readonly rangeScratch = new Uint8Array(RANGE_READ_BYTES)
  /**
   * Bulk mode (`beginBulk`..`endBulk`, for Store.bulkLoad): value pages are filled in the bulk
   * writer's slots instead of pool frames and written straight to the file (bulk-writer.ts: by a
   * second thread), so a load larger than the pool neither evicts nor passes every page through a
   * frame.
   */
  private bulk: BulkWriter | null = null
  /**
   * The page values are appended to (its pinned pool frame, or its place in the bulk batch), with
   * its end and record count kept here as well as in the page; EMPTY_PAGE when there is none.
   */
  private appendView: Uint8Array = EMPTY_PAGE
  private appendEnd = 0
  private appendRecords = 0

  /** Small values read alone, kept by handle (record-cache.ts); disabled with a budget of 0. */
  readonly records: RecordCache

  constructor(
    private readonly file: PageFile,
    private readonly pool: BufferPool,
    private readonly free: FreeSpace,
    recordCacheBytes = 0,
  ) {
    this.records = new RecordCache(recordCacheBytes)
    this.inlineMaxBytes = inlineValueMaxBytes(file.pageSizeBytes)
    let slots = 1024
    while (slots < 8 * pool.frames) slots *= 2
    this.frequency = new Uint8Array(slots)
    this.frequencyMask = slots - 1
  }

  /** At open: counts one live record at `handle` (called once per stored value). */
  countLive(handle: number): void {
    const pageId = handlePage(handle)
    this.ensureLive(pageId)
    if (this.live[pageId]!++ === 0) this.valuePages++
  }

  /**
   * The page map a checkpoint stores (docs/FORMAT.md, "Page map"): for each page id below `frontier`,
   * the live records of a value page, PAGE_MAP_OVERFLOW for a page of a live overflow run, else 0;
   * counting only the records the checkpoint's index references. `held` visits the handles that are
   * live but not in that index (writes logged but not yet applied, records kept for open iterators):
   * they are taken out (their overflow runs read from their stubs). Open restores the counts from it
   * (`loadPageMap`) instead of reading every leaf.
   */
  pageMap(frontier: number, held: (visit: (handle: number) => void) => void): Uint32Array {
    const map = new Uint32Array(frontier)
    const known = Math.min(frontier, this.live.length)
    map.set(this.live.subarray(0, known))
    for (let page = 0; page < known; page++) if (this.overflowUsed[page] === 1) map[page] = PAGE_MAP_OVERFLOW
    held((handle) => {
      if (handle < 0) return // a value in its leaf's cell: no record
      const pageId = handlePage(handle)
      assert(pageId < frontier && map[pageId]! > 0 && map[pageId] !== PAGE_MAP_OVERFLOW, `held handle ${handle} names page ${pageId}, which has no live record`)
      map[pageId]!--
      if (!handleIsOverflow(handle)) return
      const run = this.stub(handle)
      for (let i = 0; i < run.pageCount; i++) if (run.firstPageId + i < frontier) map[run.firstPageId + i] = 0
    })
    return map
  }

  /**
   * At open: the live record counts and overflow runs of the checkpoint's page map (`pageMap`).
   * The caller has checked that no entry names a page with another use.
   */
  loadPageMap(map: Uint32Array): void {
    if (map.length > 0) this.ensureLive(map.length - 1)
    for (let page = 0; page < map.length; page++) {
      const entry = map[page]!
      if (entry === 0) continue
      if (entry === PAGE_MAP_OVERFLOW) {
        this.overflowUsed[page] = 1
        this.overflowPages++
      } else {
        this.live[page] = entry
        this.valuePages++
      }
    }
  }

  /** Throws CORRUPTION unless `handle` names a page with live records (a release would be refused). */
  checkLive(handle: number): void {
    if (handle < 0) return // a value in its leaf's cell: no record
    const pageId = handlePage(handle)
    if (!(pageId < this.live.length && this.live[pageId]! > 0)) this.noLiveRecords(pageId)
  }

  private noLiveRecords(pageId: number): never {
    throw new StoreError(ErrorCode.CORRUPTION, `${this.where(pageId)}: a value handle names a record there, but the page holds no live records`)
  }

  /** The run of overflow pages behind an overflow handle (its stub is read). */
  overflowRun(handle: number): OverflowStub {
    return this.stub(handle)
  }

  /** The page values are appended to now, or -1. */
  get appendPageId(): number {
    return this.appendPage === NO_PAGE ? -1 : this.appendPage
  }

  liveRecords(pageId: number): number {
    return pageId < this.live.length ? this.live[pageId]! : 0
  }

  /** Stores `value` and returns its handle (one live record). */
  append(value: Uint8Array): number {
    if (value.byteLength > this.inlineMaxBytes) return this.appendOverflow(value)
    return this.appendRecord(value.byteLength, value)
  }

  /**
   * `append`, with the handle written to handles[at]: for bulk load, where a handle returned from a
   * call that is not inlined would be boxed (handles exceed the small-integer range), one heap
   * number per value.
   */
  appendTo(value: Uint8Array, handles: Float64Array, at: number): void {
    // Bulk mode, a short record with room on the append page: only its form byte and value are
    // written here. Its check is left to the writer (fillRecordChecks, which writes those four
    // bytes), and the page's end, record count and live counts to endAppendPage: once per page
    // rather than once per value. Kept small so that the load's loop inlines it (a call per value,
    // and the page stores it replaces, were about a third of this thread's share of a 10M-key load).
    const length = value.byteLength
    const offset = this.appendEnd
    const start = offset + VALUE_RECORD_SHORT_HEADER_BYTES
    if (length > VALUE_RECORD_SHORT_MAX || this.bulk === null || start + length > this.appendView.byteLength) {
      this.appendToSlow(value, handles, at)
      return
    }
    const page = this.appendView
    page[offset] = length
    copySmall(page, start, value, length)
    this.appendEnd = start + length
    this.appendRecords++
    this.bulkRecords++
    handles[at] = this.appendBase + offset * 2
  }

  /** appendTo when its fast path does not apply: a long or overflow value, a full page, no bulk mode. */
  private appendToSlow(value: Uint8Array, handles: Float64Array, at: number): void {
    const length = value.byteLength
    if (length > this.inlineMaxBytes) {
      handles[at] = this.appendOverflow(value)
      return
    }
    if (this.bulk !== null && length <= VALUE_RECORD_SHORT_MAX) {
      // A short value that did not fit: a new page, then the fast path (which now has room).
      this.startAppendPage()
      this.appendTo(value, handles, at)
      return
    }
    this.place(length, value)
    handles[at] = makeHandle(this.appendPage, this.placedOffset, false)
  }

  /** Records of the append page placed by appendTo's bulk path, not yet in `live` and `total`. */
  private bulkRecords = 0
  /** The handle of offset 0 of the append page. */
  private appendBase = 0

  private appendRecord(word: number, payload: Uint8Array): number {
    this.place(word, payload)
    return makeHandle(this.appendPage, this.placedOffset, (word & OVERFLOW_FLAG) !== 0)
  }

  /** Offset of the record `place` wrote last, in the append page. */
  private placedOffset = 0

  /** Writes the record (word, payload) to the append page (a new one if it has no room). */
  private place(word: number, payload: Uint8Array): void {
    const need = recordBytes(word, payload.byteLength)
    if (this.appendPage === NO_PAGE || this.appendView.byteLength - this.appendEnd < need) this.startAppendPage()
    // The append page is pinned (a pool frame) or in the bulk batch: its view stays valid.
    const page = this.appendView
    const pageId = this.appendPage
    const offset = this.appendEnd
    // In bulk mode the writer computes the record's check (fillRecordChecks), off this thread.
    const end = writeRecord(page, pageId, offset, word, payload, this.bulk === null)
    this.appendEnd = end
    writeU32(page, ValueOffset.END, end)
    writeU32(page, ValueOffset.RECORDS, ++this.appendRecords)
    if (this.appendFrame >= 0) this.pool.markDirty(this.appendFrame)
    this.live[pageId]!++
    this.total[pageId]!++
    this.placedOffset = offset
  }

  private startAppendPage(): void {
    this.endAppendPage()
    const pageId = this.free.allocate()
    this.ensureLive(pageId)
    assert(this.live[pageId] === 0, `new value page ${pageId} has live records`)
    this.total[pageId] = 0
    let page: Uint8Array
    if (this.bulk !== null) {
      // The writer's slot holds an older page: every byte is written before it is handed over (the
      // header by writePageHeader, the records, and the zeros past them by endAppendPage).
      page = this.bulk.nextPage(pageId)
    } else {
      const frame = this.pool.create(pageId)
      page = this.pool.page(frame)
      this.appendFrame = frame
    }
    page[4] = PageType.VALUE
    initValuePage(page)
    this.appendView = page
    this.appendEnd = VALUE_RECORDS_OFFSET
    this.appendRecords = 0
    this.appendPage = pageId
    this.appendBase = pageId * HANDLE_PAGE_FACTOR
    this.valuePages++
  }

  private endAppendPage(): void {
    if (this.appendPage === NO_PAGE) return
    const pageId = this.appendPage
    if (this.appendFrame >= 0) {
      this.pool.unpin(this.appendFrame)
    } else {
      // The bulk writer computes the record checks and the checksum, and writes the page.
      writeU32(this.appendView, ValueOffset.END, this.appendEnd)
      writeU32(this.appendView, ValueOffset.RECORDS, this.appendRecords)
      this.live[pageId]! += this.bulkRecords
      this.total[pageId]! += this.bulkRecords
      this.bulkRecords = 0
      this.appendView.fill(0, this.appendEnd)
      writePageHeader(this.appendView, { type: PageType.VALUE, pageId, epoch: this.file.writeEpoch })
    }
    this.appendPage = NO_PAGE
    this.appendFrame = -1
    this.appendView = EMPTY_PAGE
    if (this.live[pageId] === 0) this.freeValuePage(pageId)
  }

  /**
   * Starts bulk mode: from now until `endBulk`, appended values fill pages outside the pool, handed
   * to `writer` as each fills (not synced: the caller's checkpoint syncs them). The caller finishes
   * or closes the writer.
   */
  beginBulk(writer: BulkWriter): void {
    assert(this.bulk === null, 'bulk mode twice')
    this.endAppendPage()
    this.bulk = writer
  }

  /**
   * Ends bulk mode: the last page gets its header and goes to the writer (the caller's `finish`
   * writes it). Later appends use the pool again.
   */
  endBulk(): void {
    if (this.bulk === null) return
    try {
      this.endAppendPage()
    } finally {
      this.bulk = null
    }
  }

  /** Ends the append page: the next value starts a new page (at a checkpoint: copy-on-write). */
  seal(): void {
    this.endAppendPage()
  }

  private appendOverflow(value: Uint8Array): number {
    const size = this.file.pageSizeBytes
    const count = overflowPagesFor(value.byteLength, size)
    const first = this.free.allocateRun(count)
    const room = size - PAGE_HEADER_BYTES
    const writes: PageWrite[] = []
    for (let i = 0; i < count; i++) {
      const page = new Uint8Array(size)
      page.set(value.subarray(i * room, Math.min(value.byteLength, (i + 1) * room)), PAGE_HEADER_BYTES)
      sealPage(page, { type: PageType.OVERFLOW, pageId: first + i, epoch: this.file.writeEpoch })
      writes.push({ pageId: first + i, page })
    }
    try {
      this.file.writePages(writes)
    } catch (error) {
      for (let i = 0; i < count; i++) this.free.release(first + i)
      throw error
    }
    this.overflowPages += count
    this.ensureLive(first + count - 1)
    this.overflowUsed.fill(1, first, first + count)
    const stub = encodeStub({ firstPageId: first, pageCount: count, valueBytes: value.byteLength })
    return this.appendRecord((OVERFLOW_FLAG | stub.byteLength) >>> 0, stub)
  }

  /**
   * A copy of the value behind `handle`. `scan`: the read is one of a run in key order (a range
   * iterator), whose neighbours share its page: the page is read through the pool (admission as
   * usual), not the record alone into the record cache.
   */
  read(handle: number, scan = false, key = NaN): Uint8Array {
    if (handleIsOverflow(handle)) return this.readOverflow(this.stub(handle))
    const bytes = this.locate(handle, scan, key)
    const start = this.locatedStart
    return bytes.slice(start, start + this.locatedLength)
  }

  /**
   * Copies the value behind `handle` into `target` from byte `at` if it fits, and returns its length
   * either way (a length above `target.byteLength - at` means nothing was copied). Allocates nothing
   * for an inline value.
   */
  readInto(handle: number, target: Uint8Array, at = 0, key = NaN): number {
    if (handleIsOverflow(handle)) {
      const value = this.readOverflow(this.stub(handle))
      if (value.byteLength <= target.byteLength - at) target.set(value, at)
      return value.byteLength
    }
    const bytes = this.locate(handle, false, key)
    const start = this.locatedStart
    const n = this.locatedLength
    if (n > target.byteLength - at) return n
    if (n <= 64) {
      for (let i = 0; i < n; i++) target[at + i] = bytes[start + i]!
    } else {
      target.set(bytes.subarray(start, start + n), at)
    }
    return n
  }

  /**
   * The current value of `key` from the record cache (a copy), or undefined if it is not cached. Only
   * for point reads of the current state: the store forgets a key whenever it changes (`forget`).
   */
  cached(key: number): Uint8Array | undefined {
    const records = this.records
    if (!records.allocated) return undefined
    const way = records.find(key)
    if (way < 0) return undefined
    const at = way * RECORD_CACHE_VALUE_MAX
    return records.bytes.slice(at, at + records.lengthOf(way))
  }

  /**
   * `cached`, into `target` from byte `at` as `readInto` does: the value's length (nothing copied if
   * it does not fit), or -1 if `key` is not cached.
   */
  cachedInto(key: number, target: Uint8Array, at = 0): number {
    const records = this.records
    if (!records.allocated) return -1
    const way = records.find(key)
    if (way < 0) return -1
    const n = records.lengthOf(way)
    if (n > target.byteLength - at) return n
    const bytes = records.bytes
    const from = way * RECORD_CACHE_VALUE_MAX
    for (let i = 0; i < n; i++) target[at + i] = bytes[from + i]!
    return n
  }

  /**
   * A point read of the current state found `key`'s value in its leaf's cell (node-layout.ts) after
   * reading the leaf from the file: offered to the record cache as a record read alone is (the pool
   * is full), so that a hot key stops costing its leaf's read.
   */
  offerLeafValue(key: number, source: Uint8Array, start: number, length: number): void {
    if (this.records.enabled && !this.pool.hasFreeFrame) this.records.offer(key, source, start, length)
  }

  /** Whether the record cache holds anything (until then no key is looked up in it). */
  get recordsInUse(): boolean {
    return this.records.allocated
  }

  /** Whether `key` is in the record cache, without counting a use (a batch's first pass). */
  isCached(key: number): boolean {
    return this.records.contains(key)
  }

  /** `key`'s value changed (a put, a delete): the record cache forgets it. */
  forget(key: number): void {
    this.records.remove(key)
  }

  /**
   * Reads the first byte of the record behind `handle` if its page is resident, changing nothing: a
   * read-ahead for a batch of reads (Store.getManyInto), so their cache misses overlap.
   */
  readAhead(handle: number): number {
    if (handle < 0) return 0 // a value in its leaf's cell: no record
    const pageId = handlePage(handle)
    if (!handleIsOverflow(handle) && !this.pool.isResident(pageId)) {
      // Not in memory: the read-ahead thread reads it (what readAlone or a page read will read).
      this.file.hint(pageId, handleOffset(handle), RANGE_READ_BYTES)
      this.hintedSinceKick++
      return 0
    }
    return this.pool.peekByte(pageId, handleOffset(handle))
  }

  /** Wakes the read-ahead thread for the hints `readAhead` gave (after a batch). */
  kickReadAhead(): void {
    if (this.hintedSinceKick === 0) return
    this.hintedSinceKick = 0
    this.file.kick()
  }

  private hintedSinceKick = 0

  /** Where `locate` found the value: its first byte and length in the bytes it returned. */
  private locatedStart = 0
  private locatedLength = 0

  /**
   * Finds the inline value behind `handle`: returns bytes that hold it (a pool page, or the record
   * read alone, checked) and sets locatedStart / locatedLength. The bytes are valid until the next
   * read.
   */
  private locate(handle: number, scan = false, key = NaN): Uint8Array {
    const pageId = handlePage(handle)
    const offset = handleOffset(handle)
    // Consecutive reads from one page (scans of bulk-loaded data) skip the pool's lookup.
    let page = this.lastPage
    if (pageId !== this.lastPageId || this.pool.reassignments !== this.lastReassignments || page === null) {
      const records = this.records
      if (records.enabled && !scan && !this.pool.hasFreeFrame) {
        // A full pool: a miss on a page not resident reads the record alone, rather than evicting a
        // page for one record (pages stay for scans and writes), and a point read of the current
        // state (`key` given) offers it to the record cache, which the store asks first.
        if (!this.pool.isResident(pageId)) {
          const bytes = this.readAlone(pageId, offset)
          if (key === key) records.offer(key, bytes, this.locatedStart, this.locatedLength)
          return bytes
        }
      } else if (!this.admit(pageId, scan)) {
        return this.readAlone(pageId, offset)
      }
      page = this.pool.peek(pageId, PageType.VALUE)
      this.lastPage = page
      this.lastPageId = pageId
      this.lastReassignments = this.pool.reassignments
    }
    // recordAt's checks, with the message built only on failure (no closure per read).
    const end = readU32(page, ValueOffset.END)
    const word = offset >= VALUE_RECORDS_OFFSET && offset + VALUE_RECORD_SHORT_HEADER_BYTES <= end && end <= page.byteLength ? readRecordWord(page, offset) : -1
    const start = offset + recordHeaderBytes(word)
    if (word < 0 || start + (word & ~OVERFLOW_FLAG) > end) recordAt(page, offset, this.where(pageId))
    if ((word & OVERFLOW_FLAG) !== 0) throw new StoreError(ErrorCode.CORRUPTION, `${this.where(pageId)}: record at byte ${offset} is an overflow stub, the leaf says inline`)
    // The record's own check, on every read through the pool (every inline read but those read
    // alone, which check it there: gets, scans, getMany, compaction and check() all come here). A
    // page read from disk is only walked (value-page.ts verifyValuePage): checking each of its
    // records there cost scans 4x and cold gets 2x, since a page of small values holds thousands
    // of records and a read serves one; here a read checks the one it serves (12 + its bytes).
    if (recordCheck(pageId, offset, word, page, start, start + word) !== readU32(page, start - 4)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${this.where(pageId)}: value record at byte ${offset}: check mismatch`)
    }
    this.locatedStart = start
    this.locatedLength = word
    return page
  }

  private frequencySlot(pageId: number): number {
    return (Math.imul(pageId, 0x9e3779b1) >>> 16) & this.frequencyMask
  }

  /** Counts a read of `pageId`; returns whether the page should be (or is) in the pool (`frequency`). */
  private admit(pageId: number, scan: boolean): boolean {
    // Until the pool is full nothing is evicted, and there is nothing to decide.
    if (this.pool.hasFreeFrame) return true
    const slot = this.frequencySlot(pageId)
    const count = this.frequency[slot]!
    if (count < 255) this.frequency[slot] = count + 1
    if (++this.reads >= 8 * this.frequency.length) {
      this.reads = 0
      const frequency = this.frequency
      for (let i = 0; i < frequency.length; i++) frequency[i] = frequency[i]! >>> 1
    }
    if (this.pool.isResident(pageId)) return true
    const victim = this.pool.victimPage()
    if (victim < 0) return true
    // A point read never evicts a leaf for a value page: the leaf serves every get in its key range
    // and costs a whole page to read back, the record one small read (a cold get then reads its
    // leaf page and the record alone). The sketch counts value pages only, so it cannot judge here.
    if (!scan && this.pool.isOwnedPage(victim)) return false
    return count + 1 > this.frequency[this.frequencySlot(victim)]!
  }

  /**
   * The inline value at `offset` of page `pageId`, read and verified without the rest of the page:
   * returns the bytes read (the record) and sets locatedStart / locatedLength, as `locate` does.
   */
  private readAlone(pageId: number, offset: number): Uint8Array {
    const size = this.file.pageSizeBytes
    if (offset < VALUE_RECORDS_OFFSET || offset + VALUE_RECORD_SHORT_HEADER_BYTES > size) this.failAlone(pageId, offset, 'outside the record area')
    const first = Math.min(size - offset, RANGE_READ_BYTES)
    // The whole scratch unless the record sits within 512 bytes of the page's end: no view per read.
    let bytes = first === RANGE_READ_BYTES ? this.rangeScratch : this.rangeScratch.subarray(0, first)
    this.file.readRange(pageId, offset, bytes)
    const word = readRecordWord(bytes, 0)
    if (word < 0) this.failAlone(pageId, offset, 'a malformed header')
    if ((word & OVERFLOW_FLAG) !== 0) this.failAlone(pageId, offset, 'an overflow stub, the leaf says inline')
    const start = recordHeaderBytes(word)
    const end = start + word
    if (offset + end > size) this.failAlone(pageId, offset, `${word} bytes run past the page`)
    if (end > first) {
      bytes = new Uint8Array(end)
      this.file.readRange(pageId, offset, bytes)
    }
    if (recordCheck(pageId, offset, word, bytes, start, end) !== readU32(bytes, start - 4)) this.failAlone(pageId, offset, 'check mismatch')
    this.locatedStart = start
    this.locatedLength = word
    return bytes
  }

  private failAlone(pageId: number, offset: number, what: string): never {
    throw new StoreError(ErrorCode.CORRUPTION, `${this.where(pageId)}: value record at byte ${offset} (read alone): ${what}`)
  }

  private stub(handle: number): OverflowStub {
    const pageId = handlePage(handle)
    const offset = handleOffset(handle)
    const page = this.pool.peek(pageId, PageType.VALUE)
    const word = recordAt(page, offset, () => this.where(pageId))
    const start = offset + recordHeaderBytes(word)
    const stub = decodeStub(page, start)
    const pages = overflowPagesFor(stub.valueBytes, this.file.pageSizeBytes)
    // The stub's own check too, as `locate` checks an inline record's: a value length rewritten
    // within its page count (the page re-sealed) would return a value cut short or run on.
    const checked = (word & ~OVERFLOW_FLAG) === OVERFLOW_STUB_BYTES && recordCheck(pageId, offset, word, page, start, start + OVERFLOW_STUB_BYTES) === readU32(page, start - 4)
    if (!checked || (word & OVERFLOW_FLAG) === 0 || stub.pageCount !== pages || stub.firstPageId < 2 || stub.firstPageId + pages > this.free.frontier) {
      throw new StoreError(ErrorCode.CORRUPTION, `${this.where(pageId)}: bad overflow record at byte ${offset}`)
    }
    return stub
  }

  private readOverflow(stub: OverflowStub): Uint8Array {
    const size = this.file.pageSizeBytes
    const run = new Uint8Array(stub.pageCount * size)
    this.file.readRun(stub.firstPageId, stub.pageCount, run, PageType.OVERFLOW)
    const out = new Uint8Array(stub.valueBytes)
    const room = size - PAGE_HEADER_BYTES
    for (let i = 0; i < stub.pageCount; i++) {
      const part = Math.min(room, stub.valueBytes - i * room)
      out.set(run.subarray(i * size + PAGE_HEADER_BYTES, i * size + PAGE_HEADER_BYTES + part), i * room)
    }
    return out
  }

  /** The record behind `handle` is dead (overwritten or deleted); frees what no longer holds a live record. */
  release(handle: number): void {
    // A negative handle is a value kept in its leaf's cell (node-layout.ts): it has no record.
    if (handle < 0) return
    if (handleIsOverflow(handle)) {
      // Freeing the run needs the stub, which may have to be read: that waits for `settleReleases`
      // (at the next checkpoint), so that a release never does I/O (applying a durable write must
      // not fail). The stub's record stays live until then.
      this.deferredOverflow.push(handle)
      return
    }
    this.releaseRecord(handlePage(handle))
  }

  /** Frees the overflow runs released since the last call (reads their stubs). */
  settleReleases(): void {
    const deferred = this.deferredOverflow
    while (deferred.length > 0) {
      const handle = deferred[deferred.length - 1]!
      const stub = this.stub(handle)
      deferred.pop()
      for (let i = 0; i < stub.pageCount; i++) this.free.release(stub.firstPageId + i)
      this.overflowUsed.fill(0, stub.firstPageId, stub.firstPageId + stub.pageCount)
      this.overflowPages -= stub.pageCount
      this.releaseRecord(handlePage(handle))
    }
  }

  private releaseRecord(pageId: number): void {
    // Only a handle from damaged bytes (a leaf slot, a page map entry) names a page without live records.
    if (!(pageId < this.live.length && this.live[pageId]! > 0)) this.noLiveRecords(pageId)
    if (--this.live[pageId]! === 0 && pageId !== this.appendPage) this.freeValuePage(pageId)
  }

  private freeValuePage(pageId: number): void {
    this.total[pageId] = 0
    this.pool.discard(pageId)
    this.free.release(pageId)
    this.valuePages--
  }

  private ensureLive(pageId: number): void {
    if (pageId < this.live.length) return
    let length = this.live.length
    while (length <= pageId) length *= 2
    const grown = new Uint32Array(length)
    grown.set(this.live)
    this.live = grown
    const grownTotal = new Uint32Array(length)
    grownTotal.set(this.total)
    this.total = grownTotal
    const grownOverflow = new Uint8Array(length)
    grownOverflow.set(this.overflowUsed)
    this.overflowUsed = grownOverflow
  }

  /**
   * Records in a value page that are dead (overwritten or deleted) and records in all, for the
   * compaction trigger. The page being filled counts as all live.
   */
  garbage(pageId: number): { dead: number; records: number } {
    if (pageId === this.appendPage || pageId >= this.live.length || this.live[pageId] === 0) return { dead: 0, records: 0 }
    let records = this.total[pageId]!
    if (records === 0) {
      records = readU32(this.pool.peek(pageId, PageType.VALUE), ValueOffset.RECORDS)
      this.total[pageId] = records
    }
    const live = this.live[pageId]!
    return { dead: Math.max(0, records - live), records: Math.max(records, live) }
  }

  private where(pageId: number): string {
    return `${this.file.path}: page ${pageId} at offset ${this.file.offsetOf(pageId)}`
  }
}

/**
 * Copies value[0..length) to page[start..]: eight bytes a step, then the rest, below 33 bytes (a
 * call to set() costs more than the copy there), else set().
 */
function copySmall(page: Uint8Array, start: number, value: Uint8Array, length: number): void {
  if (length > 32) {
    page.set(value, start)
    return
  }
  let i = 0
  for (; i + 8 <= length; i += 8) {
    const at = start + i
    page[at] = value[i]!
    page[at + 1] = value[i + 1]!
    page[at + 2] = value[i + 2]!
    page[at + 3] = value[i + 3]!
    page[at + 4] = value[i + 4]!
    page[at + 5] = value[i + 5]!
    page[at + 6] = value[i + 6]!
    page[at + 7] = value[i + 7]!
  }
  for (; i < length; i++) page[start + i] = value[i]!
}
