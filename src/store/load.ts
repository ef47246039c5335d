/**
 * Opening a checkpoint: the newest valid meta page, the tree image, the page map and the free list.
 * No leaf is read: the tree image carries each leaf's sizes, and a leaf's page is read (and checked)
 * when the index first uses it. The pages a crash between checkpoints left allocated but unreferenced
 * are freed once the store is built over them (recovery.ts `countStoredPages`).
 */

import { AlexIndex } from '../alex/alex-index.js'
import type { AlexOptions } from '../alex/api.js'
import { ErrorCode, StoreError } from '../errors.js'
import { readChain } from '../pages/chain-page.js'
import { treeLeafIds, type LeafRecord } from '../alex/tree-image.js'
import { FreeSpace } from '../pages/free-space.js'
import { leafCapacityMax } from '../pages/leaf-page.js'
import { DataNode } from '../alex/data-node.js'
import { BufferPool } from '../pages/buffer-pool.js'
import { LeafFrames } from '../pages/leaf-frames.js'
import { FIRST_DATA_PAGE_ID, decodeMetaPage, type Meta } from '../pages/meta-page.js'
import { NO_PAGE, PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES, PageType } from '../pages/page-format.js'
import type { PageFile } from '../pages/page-file.js'

export interface Pieces {
  file: PageFile
  free: FreeSpace
  /** The buffer pool (leaf and value pages, one budget) and the owner of its leaf frames. */
  pool: BufferPool
  frames: LeafFrames
  index: AlexIndex<number>
  treePages: number[]
  freeListPages: number[]
  pageMapPages: number[]
  /** The checkpoint's page map (value-store.ts `pageMap`); empty for a new store. */
  pageMap: Uint32Array
  generation: number
  /** The next LSN the checkpoint does not hold: WAL replay starts there. */
  redoLsn: number
}

/**
 * Reads both meta pages (finding the page size) and returns the valid one with the higher generation,
 * the other one when it is valid too (`older`), and what was wrong with the other one if it failed
 * (null when both are valid).
 */
export function readNewestMeta(file: string, read: (buffer: Uint8Array, position: number) => number): { meta: Meta; older: Meta | null; damaged: string | null } {
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
    let error: string | null = null
    for (const size of sizes) {
      const page = new Uint8Array(size)
      if (read(page, pageId * size) < size) continue
      try {
        found.push(decodeMetaPage(page, pageId, file))
        error = null
        break
      } catch (e) {
        // A newer format is not damage: never fall back to the other meta page past it.
        if (e instanceof StoreError && e.code === ErrorCode.FORMAT_VERSION) throw e
        if (error === null || size === claimed) error = (e as Error).message
      }
    }
    if (error !== null && found.every((meta) => meta.generation % 2 !== pageId)) errors.push(error)
  }
  if (found.length === 0) throw new StoreError(ErrorCode.CORRUPTION, `${file}: no valid meta page (${errors.join('; ') || 'none found'})`)
  if (found.length === 2 && found[0]!.pageSizeBytes !== found[1]!.pageSizeBytes) {
    throw new StoreError(ErrorCode.CORRUPTION, `${file}: the meta pages disagree on the page size`)
  }
  // Checkpoint g is written over the slot of g - 2, so two valid meta pages hold consecutive
  // generations; anything else is a generation field that lies (and would pick the wrong one).
  if (found.length === 2 && Math.abs(found[0]!.generation - found[1]!.generation) !== 1) {
    throw new StoreError(ErrorCode.CORRUPTION, `${file}: meta pages 0 and 1: generation fields ${found[0]!.generation} and ${found[1]!.generation} are not consecutive`)
  }
  const meta = found.reduce((a, b) => (b.generation > a.generation ? b : a))
  return { meta, older: found.find((other) => other !== meta) ?? null, damaged: errors.length > 0 ? errors.join('; ') : null }
}

/**
 * The store's index options, for a new index and a restored one alike: one data node fills one page,
 * and lookups do not steer adaptation (so replaying the log rebuilds the same index).
 */
export function storeIndexOptions(pageSizeBytes: number, cellBytes: number): AlexOptions {
  return { maxDataNodeSlots: leafCapacityMax(pageSizeBytes, cellBytes), adaptToReads: false }
}

/** Pieces of a new store: an empty index whose one leaf has a page and a frame. */
export function newPieces(file: PageFile, cacheBytes: number, cellBytes: number): Pieces {
  const free = new FreeSpace([], FIRST_DATA_PAGE_ID, (frontier) => file.reserve(frontier))
  const pool = new BufferPool(file, cacheBytes)
  const frames = new LeafFrames(file, pool, free, cellBytes)
  return {
    file,
    free,
    pool,
    frames,
    index: new AlexIndex<number>(storeIndexOptions(file.pageSizeBytes, cellBytes), frames),
    treePages: [],
    freeListPages: [],
    pageMapPages: [],
    pageMap: new Uint32Array(0),
    generation: 0,
    redoLsn: 1,
  }
}

/**
 * The checkpoint `meta` describes: free list, page map, tree, and each leaf as a node described by
 * its header (read from its page into a frame of a new buffer pool of `cacheBytes` when first used).
 */
export function loadPieces(file: PageFile, meta: Meta, cacheBytes: number, older: Meta | null = null): Pieces {
  const tree = readChain(file, meta.treeHead, meta.treeBytes, PageType.MODEL, meta.pageCount)
  let freePages: number[] = []
  let freeListPages: number[] = []
  if (meta.freeListHead !== NO_PAGE) {
    const list = readChain(file, meta.freeListHead, 4 * meta.freeListEntries, PageType.FREE_LIST, meta.pageCount)
    const view = new DataView(list.stream.buffer)
    for (let i = 0; i < meta.freeListEntries; i++) freePages.push(view.getUint32(4 * i, true))
    freeListPages = list.pageIds
  }
  let pageMap: Uint32Array = new Uint32Array(0)
  let pageMapPages: number[] = []
  if (meta.pageMapHead !== NO_PAGE) {
    const chain = readChain(file, meta.pageMapHead, 4 * meta.pageMapEntries, PageType.PAGE_MAP, meta.pageCount)
    pageMap = new Uint32Array(chain.stream.buffer, chain.stream.byteOffset, meta.pageMapEntries)
    pageMapPages = chain.pageIds
  }
  const seen = new Set<number>()
  for (const page of freePages) {
    if (page < FIRST_DATA_PAGE_ID || page >= meta.pageCount || seen.has(page)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: free list names page ${page} (twice, or outside [2, ${meta.pageCount}))`)
    }
    seen.add(page)
  }
  // The pages on the list that the older meta page references cool until the first checkpoint
  // commits (free-space.ts rule 2); if its pages cannot be told, every page on the list does.
  const olderPages = pagesOf(file, older)
  const cooling = olderPages === null ? freePages : freePages.filter((page) => olderPages.has(page))
  const reusable = olderPages === null ? [] : freePages.filter((page) => !olderPages.has(page))
  const free = new FreeSpace(reusable, meta.pageCount, (frontier) => file.reserve(frontier), cooling)
  const pool = new BufferPool(file, cacheBytes)
  const frames = new LeafFrames(file, pool, free, meta.cellBytes)
  const loadLeaf = (leafId: number, record: LeafRecord): DataNode =>
    frames.describe(leafId, meta.pageCount, () => DataNode.described(record.capacity, record.numKeys, leafId, frames))
  const index = AlexIndex.restore(tree.stream, loadLeaf, storeIndexOptions(file.pageSizeBytes, meta.cellBytes), `${file.path} (generation ${meta.generation})`, false, frames)
  if (index.size !== meta.records) {
    throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: the meta page counts ${meta.records} records, the leaves hold ${index.size}`)
  }
  return {
    file,
    free,
    pool,
    frames,
    index,
    treePages: tree.pageIds,
    freeListPages,
    pageMapPages,
    pageMap,
    generation: meta.generation,
    redoLsn: Math.max(1, meta.redoLsn),
  }
}


/** Pages a checkpoint references (`pagesOf`): a byte per page id below its page count. */
export class PageSet {
  constructor(private readonly marks: Uint8Array) {}

  has(page: number): boolean {
    return page >= 0 && page < this.marks.length && this.marks[page] === 1
  }
}

/**
 * The pages checkpoint `meta` references besides the meta pages: its chains, its leaves (from the tree
 * image's records, no leaf read) and the value and overflow pages of its page map. Null when there
 * is no such checkpoint or its pages cannot be read back as it wrote them (damage, a page count past
 * the end of the file, a page at or past its page count, or pages an engine before the rule that
 * keeps them wrote over): the caller then
 * assumes the worst. A byte per page rather than a Set: at 10M keys in 4 KiB pages a Set of the
 * older checkpoint's pages took 83 ms of the open.
 */
export function pagesOf(file: PageFile, meta: Meta | null): PageSet | null {
  if (meta === null) return null
  try {
    // A page count past the end of the file is damage (the file never shrinks): nothing is sized by it.
    if (meta.pageCount * file.pageSizeBytes > file.sizeBytes()) return null
    const marks = new Uint8Array(meta.pageCount)
    let outside = false
    const add = (page: number): void => {
      if (page >= 0 && page < marks.length) marks[page] = 1
      else outside = true
    }
    const tree = readChain(file, meta.treeHead, meta.treeBytes, PageType.MODEL, meta.pageCount)
    for (const page of tree.pageIds) add(page)
    const leaves = treeLeafIds(tree.stream)
    if (leaves === null) return null
    for (const leaf of leaves) add(leaf)
    if (meta.freeListHead !== NO_PAGE) {
      for (const page of readChain(file, meta.freeListHead, 4 * meta.freeListEntries, PageType.FREE_LIST, meta.pageCount).pageIds) add(page)
    }
    if (meta.pageMapHead !== NO_PAGE) {
      const chain = readChain(file, meta.pageMapHead, 4 * meta.pageMapEntries, PageType.PAGE_MAP, meta.pageCount)
      for (const page of chain.pageIds) add(page)
      const map = new DataView(chain.stream.buffer, chain.stream.byteOffset, chain.stream.byteLength)
      for (let page = 0; page < meta.pageMapEntries; page++) if (map.getUint32(4 * page, true) !== 0) add(page)
    }
    if (outside) return null
    const pages = new PageSet(marks)
    return pages
  } catch (error) {
    if (error instanceof StoreError && error.code === ErrorCode.CORRUPTION) return null
    throw error
  }
}
