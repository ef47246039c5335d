/**
 * The page layer's side of the seam (src/alex/leaf-store.ts): leaf images to and from leaf pages,
 * and prefetching the value pages a scan is about to read.
 *
 * Leaves are always stored to newly allocated pages (copy-on-write); the pages are written when
 * `flush` is called (the checkpoint does, coalescing adjacent pages), and `retire` hands an old leaf
 * page back to free space once the checkpoint being captured no longer references it.
 */

import type { LeafImage, LeafStore, StoredLeaf } from '../alex/leaf-store.js'
import { ErrorCode, StoreError, assert } from '../errors.js'
import type { BufferPool } from './buffer-pool.js'
import type { FreeSpace } from './free-space.js'
import { decodeLeafPage, encodeLeafPage } from './leaf-page.js'
import { FIRST_DATA_PAGE_ID } from './meta-page.js'
import { PAGE_HEADER_BYTES, PageType } from './page-format.js'
import type { BulkWriter } from './bulk-writer.js'
import { sealPage, writePageHeader } from './page-header.js'
import type { PageFile, PageWrite } from './page-file.js'
import { handleIsOverflow, handlePage } from './value-page.js'
import type { ValueStore } from './value-store.js'

/** At most this many value pages are fetched ahead for one scan. */
const PREFETCH_PAGES_MAX = 64
/** A leaf is worth compacting when at least this share of the records in its value pages is dead. */
export const COMPACT_DEAD_FRACTION = 0.5

export class PageLeafStore implements LeafStore<number> {
  /** Encoded leaves waiting for `flush`. */
  private writes: PageWrite[] = []
  private readonly scratch: Uint8Array
  prefetchedPages = 0

  constructor(
    private readonly file: PageFile,
    private readonly free: FreeSpace,
    /** null while only loading (at open, before the pool exists). */
    private readonly pool: BufferPool | null,
    /** Pages below this count are in use (a leaf id beyond is damage). */
    private readonly pageCount: () => number,
    /** null while only loading (at open). */
    private readonly values: ValueStore | null = null,
    /** Bytes of each leaf slot's cell (the store's; node-layout.ts). */
    private readonly cellBytes = 0,
  ) {
    this.scratch = new Uint8Array(file.pageSizeBytes)
  }

  storeLeaf(leaf: LeafImage<number>): number {
    const pageId = this.free.allocate()
    const page = new Uint8Array(this.file.pageSizeBytes)
    encodeLeafPage(page, leaf, this.cellBytes)
    sealPage(page, { type: PageType.DATA, pageId, epoch: this.file.writeEpoch })
    this.writes.push({ pageId, page })
    return pageId
  }

  /**
   * Writes a leaf straight to its page (leaf-frames.ts gave it one when it was made; no checkpoint
   * references it yet) through `writer` (a bulk load: no page per leaf held until a checkpoint; the
   * caller finishes the writer, and the checkpoint that follows syncs the pages). The leaf is clean
   * afterwards; its page id is returned.
   */
  writeLeaf(leaf: StoredLeaf<number>, writer: BulkWriter): number {
    const pageId = leaf.leafId
    assert(pageId >= FIRST_DATA_PAGE_ID, `bulk-loaded leaf without a page (${pageId})`)
    const page = writer.nextPage(pageId)
    page.fill(0, 0, PAGE_HEADER_BYTES)
    encodeLeafPage(page, leaf, this.cellBytes)
    // The writer computes the checksum and writes the page.
    writePageHeader(page, { type: PageType.DATA, pageId, epoch: this.file.writeEpoch })
    leaf.dirty = false
    return pageId
  }

  storeLeaves(leaves: Iterable<LeafImage<number>>): number[] {
    const ids: number[] = []
    for (const leaf of leaves) ids.push(this.storeLeaf(leaf))
    return ids
  }

  /** The leaves stored since the last call, ready to write (sealed; adjacent ids coalesce). */
  takeWrites(): PageWrite[] {
    const writes = this.writes
    this.writes = []
    return writes
  }

  /** Reads and checks a leaf page; the image's arrays are views over a scratch page (copy them). */
  loadLeaf(leafId: number): LeafImage<number> {
    const where = `${this.file.path}: page ${leafId} at offset ${this.file.offsetOf(leafId)}`
    if (leafId < FIRST_DATA_PAGE_ID || leafId >= this.pageCount() || this.free.isListed(leafId)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where}: the tree names it as a leaf, but it is free or outside the used pages`)
    }
    this.file.readPage(leafId, this.scratch, PageType.DATA)
    return decodeLeafPage(this.scratch, where, this.pageCount(), this.cellBytes)
  }

  /**
   * Fetches the value pages behind `count` handles that are not in the buffer pool, reading each run
   * of adjacent page ids with one positioned read.
   */
  prefetch(handles: ArrayLike<number>, count: number): void {
    const wanted: number[] = []
    const seen = new Set<number>()
    for (let i = 0; i < count && wanted.length < PREFETCH_PAGES_MAX; i++) {
      const handle = handles[i]!
      if (handle < 0 || handleIsOverflow(handle)) continue // (a value in its leaf's cell has no page)
      const page = handlePage(handle)
      if (seen.has(page) || this.pool === null || this.pool.isResident(page)) continue
      seen.add(page)
      wanted.push(page)
    }
    if (wanted.length < 2) return
    wanted.sort((a, b) => a - b)
    this.prefetchedPages += this.pool!.readAhead(wanted, PageType.VALUE)
  }

  /**
   * True when at least COMPACT_DEAD_FRACTION of the records in the value pages this leaf's values
   * live in are dead: rewriting the leaf's values (in key order, into new pages) lets those pages
   * empty out and be freed once every leaf with records in them has moved.
   */
  shouldCompact(leaf: LeafImage<number>): boolean {
    if (this.values === null || leaf.numKeys === 0) return false
    const pages = new Set<number>()
    const handles = leaf.values
    for (let s = 0; s < leaf.capacity; s++) {
      const handle = handles[s]
      if (handle !== undefined && handle > 0) pages.add(handlePage(handle)) // (< 0: in its leaf's cell)
    }
    let dead = 0
    let records = 0
    for (const page of pages) {
      const g = this.values.garbage(page)
      dead += g.dead
      records += g.records
    }
    return records > 0 && dead >= COMPACT_DEAD_FRACTION * records
  }
}
