/**
 * A file of fixed-size pages over the one file interface (io/file.ts). It reads and checks pages,
 * writes sealed pages with adjacent ones coalesced into one positioned write, grows the file in
 * extents, and counts what it moved.
 *
 * Page `id` lives at byte `id * pageSizeBytes`. Pages 0 and 1 are the two meta pages.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import type { StorageFile } from '../io/file.js'
import { PAGE_ID_MAX, PageType } from './page-format.js'
import { checkPage, checkPageType } from './page-header.js'
import { ReadAhead } from '../io/read-ahead.js'
import { verifyValuePage } from './value-page.js'

/**
 * Hints are given only while reads take at least this long on average (microseconds): a read the page
 * cache answers takes 1-20 (4-64 KiB), one from this machine's virtio disk 50-100 at queue depth 1.
 */
const SLOW_READ_MICROS = 30

/** The file grows by at least this many pages at a time, and by at least 1/8 of its size. */
const GROWTH_MIN_PAGES = 64
const GROWTH_FRACTION = 8

export interface PageWrite {
  pageId: number
  /** A complete, sealed page. */
  page: Uint8Array
}

export interface PageFileCounters {
  pagesRead: number
  bytesRead: number
  pagesWritten: number
  bytesWritten: number
  writeCalls: number
  /** Byte ranges read within a page without the rest of it (value records read alone). */
  rangeReads: number
}

const TYPE_NAMES: Record<number, string> = { 1: 'meta', 2: 'leaf', 3: 'overflow', 4: 'free-list', 5: 'model', 6: 'value' }

export function pageTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`
}

export class PageFile {
  readonly counters: PageFileCounters = { pagesRead: 0, bytesRead: 0, pagesWritten: 0, bytesWritten: 0, writeCalls: 0, rangeReads: 0 }
  /** Pages the file has room for (its size in pages, rounded down). */
  private physicalPages: number
  /**
   * Read-only stores keep pages "written" by log replay here instead of in the file, and read them
   * back from here first (null for writable stores).
   */
  private overlay: Map<number, Uint8Array> | null = null
  /**
   * The epoch every page is sealed with (page-format.ts): the durable checkpoint's generation + 1.
   * The store sets it on open and after each checkpoint's meta page is durable.
   */
  writeEpoch = 1

  constructor(
    readonly file: StorageFile,
    readonly pageSizeBytes: number,
  ) {
    this.physicalPages = Math.floor(file.size() / pageSizeBytes)
  }

  /** From now on, writes go to memory and the file is never written (a read-only store's replay). */
  writeToMemory(): void {
    this.overlay ??= new Map()
  }

  get path(): string {
    return this.file.path
  }

  sizeBytes(): number {
    return this.file.size()
  }

  /** Byte offset of a page, for error messages. */
  offsetOf(pageId: number): number {
    return pageId * this.pageSizeBytes
  }

  /**
   * Reads page `pageId` into `into` (one page long) and checks it: checksum, magic, version, id, and
   * that its type is `type`. Throws CORRUPTION (file, page id, offset) on any mismatch or short read.
   */
  readPage(pageId: number, into: Uint8Array, type: PageType): void {
    this.readRun(pageId, 1, into, type)
  }

  /**
   * Reads `into.byteLength` bytes at `offset` within page `pageId`, unchecked: the caller verifies
   * them (a value record's own check). Throws CORRUPTION if the file ends first.
   */
  readRange(pageId: number, offset: number, into: Uint8Array): void {
    assert(offset >= 0 && offset + into.byteLength <= this.pageSizeBytes, `range ${offset}+${into.byteLength} of a page`)
    const held = this.overlay?.get(pageId)
    if (held !== undefined) {
      into.set(held.subarray(offset, offset + into.byteLength))
      return
    }
    const position = pageId * this.pageSizeBytes + offset
    const started = performance.now()
    const got = this.file.read(into, 0, into.byteLength, position)
    this.timeRead(started)
    this.counters.rangeReads++
    this.counters.bytesRead += got
    if (got < into.byteLength) {
      throw new StoreError(ErrorCode.CORRUPTION, `${this.path}: page ${pageId} at offset ${pageId * this.pageSizeBytes}: the file ends at byte ${this.sizeBytesSafe()}`)
    }
  }

  /** Reads and checks page `pageId` (any type) into `scratch`; returns its write epoch. */
  readEpoch(pageId: number, scratch: Uint8Array): number {
    const got = this.file.read(scratch, 0, scratch.byteLength, pageId * this.pageSizeBytes)
    this.counters.pagesRead++
    this.counters.bytesRead += got
    if (got < scratch.byteLength) {
      throw new StoreError(ErrorCode.CORRUPTION, `${this.path}: page ${pageId} at offset ${pageId * this.pageSizeBytes}: the file ends at byte ${this.sizeBytesSafe()}`)
    }
    return checkPage(scratch, pageId, this.path).epoch
  }

  /** Reads `count` consecutive pages in one call into `into` and checks each as `readPage` does. */
  readRun(firstPageId: number, count: number, into: Uint8Array, type: PageType): void {
    const size = this.pageSizeBytes
    assert(into.byteLength === count * size, `read buffer of ${into.byteLength} bytes for ${count} pages`)
    if (this.overlay !== null && this.overlay.has(firstPageId)) {
      for (let i = 0; i < count; i++) {
        const page = this.overlay.get(firstPageId + i)
        assert(page !== undefined, `page ${firstPageId + i} of an overlay run is missing`)
        into.set(page, i * size)
      }
      return
    }
    const started = count === 1 ? performance.now() : 0
    const got = this.file.read(into, 0, into.byteLength, firstPageId * size)
    if (count === 1) this.timeRead(started)
    this.counters.pagesRead += count
    this.counters.bytesRead += got
    if (got < into.byteLength) {
      const short = firstPageId + Math.floor(got / size)
      throw new StoreError(
        ErrorCode.CORRUPTION,
        `${this.path}: page ${short} at offset ${short * size}: the file ends at byte ${this.sizeBytesSafe()}`,
      )
    }
    for (let i = 0; i < count; i++) {
      const page = count === 1 ? into : into.subarray(i * size, (i + 1) * size)
      const found = checkPageType(page, firstPageId + i, this.path)
      if (found !== type) {
        throw new StoreError(
          ErrorCode.CORRUPTION,
          `${this.path}: page ${firstPageId + i} at offset ${(firstPageId + i) * size}: expected a ${pageTypeName(type)} page, found a ${pageTypeName(found)} page`,
        )
      }
      // Its records too (value-page.ts): a re-sealed page with a lying field is not served.
      if (type === PageType.VALUE) verifyValuePage(page, () => `${this.path}: page ${firstPageId + i} at offset ${(firstPageId + i) * size}`)
    }
  }

  private sizeBytesSafe(): number {
    try {
      return this.file.size()
    } catch {
      return -1
    }
  }

  /**
   * Writes sealed pages, sorted by id, each run of adjacent ids in one positioned write. Grows the
   * file first (in extents) when a page lies past its end.
   */
  writePages(writes: PageWrite[]): void {
    if (writes.length === 0) return
    writes.sort((a, b) => a.pageId - b.pageId)
    const size = this.pageSizeBytes
    let highest = 0
    for (const write of writes) {
      assert(write.page.byteLength === size, `page write of ${write.page.byteLength} bytes`)
      assert(write.pageId >= 0 && write.pageId <= PAGE_ID_MAX, `page id ${write.pageId}`)
      highest = Math.max(highest, write.pageId)
    }
    if (this.overlay !== null) {
      for (const write of writes) this.overlay.set(write.pageId, write.page.slice())
      return
    }
    this.reserve(highest + 1)
    let start = 0
    while (start < writes.length) {
      let end = start + 1
      while (end < writes.length && writes[end]!.pageId === writes[end - 1]!.pageId + 1) end++
      assert(end === start + 1 || writes[start]!.pageId !== writes[start + 1]!.pageId, 'page written twice in one batch')
      const buffers: Uint8Array[] = []
      for (let i = start; i < end; i++) buffers.push(writes[i]!.page)
      this.file.writev(buffers, writes[start]!.pageId * size)
      this.counters.writeCalls++
      this.counters.pagesWritten += end - start
      this.counters.bytesWritten += (end - start) * size
      start = end
    }
  }

  /**
   * The descriptor a bulk writer's thread may write pages through directly, or null: the file
   * interface has none, or writes go to memory (read-only replay).
   */
  descriptor(): number | null {
    if (this.overlay !== null || this.file.descriptor === undefined) return null
    return this.file.descriptor()
  }

  /**
   * A bulk writer is about to write `pages` sealed pages, the highest `highestPageId`: grows the
   * file first (as `writePages` does) and counts them.
   */
  noteBulkWrite(pages: number, highestPageId: number): void {
    assert(highestPageId >= 0 && highestPageId <= PAGE_ID_MAX, `page id ${highestPageId}`)
    this.reserve(highestPageId + 1)
    this.counters.writeCalls++
    this.counters.pagesWritten += pages
    this.counters.bytesWritten += pages * this.pageSizeBytes
  }

  /** Makes sure the file holds at least `pages` pages, growing it by an extent if it must grow. */
  reserve(pages: number): void {
    if (pages <= this.physicalPages || this.overlay !== null) return
    const grown = Math.max(pages, this.physicalPages + GROWTH_MIN_PAGES, this.physicalPages + Math.ceil(this.physicalPages / GROWTH_FRACTION))
    this.file.truncate(grown * this.pageSizeBytes)
    this.physicalPages = grown
  }

  /**
   * Gives back the extent `reserve` grew past `pages` (at close, `pages` being the frontier: no page
   * at or past it was ever used). Not synced: if the change is lost, the file is only longer.
   */
  trim(pages: number): void {
    if (pages >= this.physicalPages || this.overlay !== null) return
    this.file.truncate(pages * this.pageSizeBytes)
    this.physicalPages = pages
  }

  datasync(): void {
    this.file.datasync()
  }

  datasyncAsync(): Promise<void> {
    return this.file.datasyncAsync()
  }

  /**
   * Asks the read-ahead thread (io/read-ahead.ts) to read [offset, offset + length) of page `pageId`
   * ahead, without waiting: for batched reads, whose own reads are one at a time. Started at the
   * first hint; nothing where the file has no descriptor (a fault-injecting file) or writes go to
   * memory. Call `kick` after a batch's hints.
   */
  hint(pageId: number, offset: number, length: number): void {
    // Reads answered by the page cache gain nothing from hints, whose reads then only take CPU.
    if (this.readAheadMode !== 'on' && (this.readAheadMode === 'off' || this.readMicros < SLOW_READ_MICROS)) return
    if (this.readAhead === null) {
      if (this.readAheadOff) return
      const fd = this.descriptor()
      if (fd === null) {
        this.readAheadOff = true
        return
      }
      this.readAhead = new ReadAhead(fd)
    }
    this.readAhead.hint(pageId * this.pageSizeBytes + offset, length)
  }

  kick(): void {
    this.readAhead?.kick()
  }

  /** Hints handed to the read-ahead thread, and those dropped (its ring was full). */
  get hints(): { issued: number; dropped: number } {
    return { issued: this.readAhead?.issued ?? 0, dropped: this.readAhead?.dropped ?? 0 }
  }

  private readAhead: ReadAhead | null = null
  private readAheadOff = false
  /** The store's `readAhead` option: 'auto' hints only while reads are slow. */
  readAheadMode: 'auto' | 'on' | 'off' = 'auto'

  /**
   * How long a one-page or one-record read has taken lately (microseconds, a moving average over
   * about 16 reads): a few when the page cache answers, tens to hundreds when the device does.
   * Starts slow, so that the first batch after an open is hinted.
   */
  private readMicros = SLOW_READ_MICROS

  private timeRead(started: number): void {
    this.readMicros += ((performance.now() - started) * 1000 - this.readMicros) / 16
  }

  close(): void {
    // The thread reads through this descriptor: it stops, with nothing in flight, first.
    this.readAhead?.close()
    this.readAheadOff = true
    this.file.close()
  }
}
