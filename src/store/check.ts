/**
 * `Store.check()`: a full consistency check of an open store, as bbolt runs after each commit in
 * its tests. It verifies
 *   1. the index's invariants (AlexIndex.check: every node, every key routed to its leaf);
 *   2. free-space accounting: every page below the page count is exactly one of meta, leaf, tree
 *      image, free list, page map, value, overflow, free or waiting to be freed; no value page holds
 *      fewer live records (the value store's count, restored at open from the page map) than the
 *      index references there;
 *   3. every page in use passes its checksum and type check when read from disk;
 *   4. every value handle in the index names an intact record (the value is read).
 * Damage is a CORRUPTION error naming what and where; a clean store returns a report.
 */

import type { AlexIndex } from '../alex/alex-index.js'
import type { StoredLeaf } from '../alex/leaf-store.js'
import { ErrorCode, StoreError } from '../errors.js'
import type { BufferPool } from '../pages/buffer-pool.js'
import type { LeafFrames } from '../pages/leaf-frames.js'
import type { FreeSpace } from '../pages/free-space.js'
import { PageType } from '../pages/page-format.js'
import type { PageFile } from '../pages/page-file.js'
import { handleIsOverflow, handlePage } from '../pages/value-page.js'
import type { ValueStore } from '../pages/value-store.js'

export interface CheckReport {
  records: number
  /** Pages in use by kind, and free (or waiting for a checkpoint to become free). */
  pages: { total: number; leaf: number; model: number; freeList: number; pageMap: number; value: number; overflow: number; free: number; waiting: number }
  /** Pages read from disk and verified. */
  pagesVerified: number
  /** Values read back through their handles. */
  valuesRead: number
}

const OWNER_NAMES = ['unaccounted', 'meta', 'leaf', 'tree image', 'free list', 'value', 'overflow', 'free', 'waiting to be freed', 'page map']
const Owner = { META: 1, LEAF: 2, MODEL: 3, FREE_LIST: 4, VALUE: 5, OVERFLOW: 6, FREE: 7, WAITING: 8, PAGE_MAP: 9 } as const
const TYPE_OF: Record<number, PageType> = {
  [Owner.LEAF]: PageType.DATA,
  [Owner.MODEL]: PageType.MODEL,
  [Owner.FREE_LIST]: PageType.FREE_LIST,
  [Owner.VALUE]: PageType.VALUE,
  [Owner.OVERFLOW]: PageType.OVERFLOW,
  [Owner.PAGE_MAP]: PageType.PAGE_MAP,
}

export interface CheckTarget {
  file: PageFile
  pool: BufferPool
  frames: LeafFrames
  free: FreeSpace
  values: ValueStore
  index: AlexIndex<number>
  /** The index's leaves, each holding its page, written (checkStore calls frames.writeChanged first). */
  leaves: Iterable<StoredLeaf<number>>
  treePages: readonly number[]
  freeListPages: readonly number[]
  pageMapPages: readonly number[]
}

export function checkStore(target: CheckTarget): CheckReport {
  const { file, pool, free, values, index } = target
  values.settleReleases()
  // Changed leaves written first: reading values below evicts leaves, and an evicted changed leaf
  // would move to another page after its page was claimed.
  target.frames.writeChanged()
  const fail = (what: string): never => {
    throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: check: ${what}`)
  }
  index.check()
  const frontier = free.frontier
  const owner = new Uint8Array(frontier)
  const counts = new Uint32Array(OWNER_NAMES.length)
  const claim = (page: number, who: number): void => {
    if (!(page >= 0 && page < frontier)) fail(`${OWNER_NAMES[who]} page ${page} lies outside the ${frontier} pages in use`)
    if (owner[page] !== 0) fail(`page ${page} is both ${OWNER_NAMES[owner[page]!]} and ${OWNER_NAMES[who]}`)
    owner[page] = who
    counts[who]!++
  }
  claim(0, Owner.META)
  claim(1, Owner.META)
  for (const leaf of target.leaves) claim(leaf.leafId, Owner.LEAF)
  for (const page of target.treePages) claim(page, Owner.MODEL)
  for (const page of target.freeListPages) claim(page, Owner.FREE_LIST)
  for (const page of target.pageMapPages) claim(page, Owner.PAGE_MAP)
  let valuesRead = 0
  const references = new Uint32Array(frontier)
  const entries = index.entries()
  for (let step = entries.next(); step.done !== true; step = entries.next()) {
    const handle = step.value[1]
    if (handle < 0) {
      // A value in its leaf's cell (the leaf's check bounded its length): read it back.
      entries.cellCopy()
      valuesRead++
      continue
    }
    const page = handlePage(handle)
    if (page < frontier) references[page]!++
    if (owner[page] === 0) claim(page, Owner.VALUE)
    else if (owner[page] !== Owner.VALUE) fail(`a value handle points into ${OWNER_NAMES[owner[page]!]} page ${page}`)
    if (handleIsOverflow(handle)) {
      const run = values.overflowRun(handle)
      for (let p = run.firstPageId; p < run.firstPageId + run.pageCount; p++) claim(p, Owner.OVERFLOW)
    }
    values.read(handle)
    valuesRead++
  }
  for (let page = 2; page < frontier; page++) {
    if (references[page]! > values.liveRecords(page)) fail(`the index references ${references[page]} records on value page ${page}, which counts ${values.liveRecords(page)} live`)
  }
  // Value pages whose records are not (yet) in the index: writes waiting for the log, the page
  // being filled.
  for (let page = 2; page < frontier; page++) {
    if (owner[page] === 0 && values.liveRecords(page) > 0) claim(page, Owner.VALUE)
  }
  if (values.appendPageId >= 0 && owner[values.appendPageId] === 0) claim(values.appendPageId, Owner.VALUE)
  for (let page = 2; page < frontier; page++) {
    if (free.isFree(page)) claim(page, Owner.FREE)
  }
  for (const page of free.waiting()) claim(page, Owner.WAITING)
  for (let page = 0; page < frontier; page++) {
    if (owner[page] === 0) fail(`page ${page} is neither referenced nor free (a leak)`)
  }
  // Every page in use, as on disk (dirty value pages are written first: they are new pages).
  pool.flush()
  let verified = 0
  const buffer = new Uint8Array(file.pageSizeBytes)
  for (let page = 2; page < frontier; page++) {
    const type = TYPE_OF[owner[page]!]
    if (type === undefined) continue
    file.readPage(page, buffer, type)
    verified++
  }
  return {
    records: index.size,
    pages: {
      total: frontier,
      leaf: counts[Owner.LEAF]!,
      model: counts[Owner.MODEL]!,
      freeList: counts[Owner.FREE_LIST]!,
      pageMap: counts[Owner.PAGE_MAP]!,
      value: counts[Owner.VALUE]!,
      overflow: counts[Owner.OVERFLOW]!,
      free: counts[Owner.FREE]!,
      waiting: counts[Owner.WAITING]!,
    },
    pagesVerified: verified,
    valuesRead,
  }
}
