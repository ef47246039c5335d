/**
 * Meta pages: pages 0 and 1, written alternately (generation g goes to page g % 2). On open the valid
 * one with the higher generation wins; a torn or damaged meta page means "the previous checkpoint".
 * Little-endian:
 *   @0   32  common page header (type META, page id 0 or 1)
 *   @32   4  meta magic 0x4154454d ("META")
 *   @36   4  store format version (STORE_FORMAT_VERSION)
 *   @40   4  page size in bytes
 *   @44   4  pages in use (the file's used part; the file may be longer)
 *   @48   8  generation (f64, an integer; 1 for the first checkpoint)
 *   @56   8  records (f64)
 *   @64   4  first page of the tree image chain (MODEL)
 *   @68   4  first page of the free-list chain (FREE_LIST), NO_PAGE when there is none
 *   @72   8  tree image bytes (f64)
 *   @80   8  free-list entries (f64)
 *   @88   8  redo LSN (f64): the first log record the checkpoint does not hold; replay starts there
 *   @96   4  first page of the page map chain (PAGE_MAP), NO_PAGE when there is none
 *   @100  4  leaf cell bytes: each leaf slot's cell (node-layout.ts), where values of at most this
 *            many bytes sit beside their keys; 0: no cells. Fixed when the store is created.
 *   @104  8  page map entries (f64): one u32 per page id from 0 (value-store.ts `pageMap`)
 *   then zeros to the end of the page.
 */

import { ErrorCode, StoreError } from '../errors.js'
import { CHAIN_PAYLOAD_OFFSET } from './chain-page.js'
import { FORMAT_VERSION, HeaderOffset, NO_PAGE, PAGE_MAGIC, PageType, isValidPageSize } from './page-format.js'
import { checkPage, pageChecksum, sealPage } from './page-header.js'
import { leafCapacityMax } from './leaf-page.js'
import { CELL_BYTES_MAX } from '../alex/node-layout.js'

export const META_MAGIC = 0x4154454d
export const STORE_FORMAT_VERSION = 8
export const META_PAGE_IDS = [0, 1] as const
/** The first page id that is not a meta page. */
export const FIRST_DATA_PAGE_ID = 2

export const MetaOffset = {
  MAGIC: 32,
  VERSION: 36,
  PAGE_SIZE: 40,
  PAGE_COUNT: 44,
  GENERATION: 48,
  RECORDS: 56,
  TREE_HEAD: 64,
  FREE_LIST_HEAD: 68,
  TREE_BYTES: 72,
  FREE_LIST_ENTRIES: 80,
  REDO_LSN: 88,
  PAGE_MAP_HEAD: 96,
  CELL_BYTES: 100,
  PAGE_MAP_ENTRIES: 104,
} as const

export interface Meta {
  pageSizeBytes: number
  pageCount: number
  generation: number
  records: number
  treeHead: number
  freeListHead: number
  treeBytes: number
  freeListEntries: number
  redoLsn: number
  pageMapHead: number
  pageMapEntries: number
  /** Bytes of each leaf slot's cell (0: none). */
  cellBytes: number
}

export function encodeMetaPage(meta: Meta): Uint8Array {
  const page = new Uint8Array(meta.pageSizeBytes)
  const view = new DataView(page.buffer)
  view.setUint32(MetaOffset.MAGIC, META_MAGIC, true)
  view.setUint32(MetaOffset.VERSION, STORE_FORMAT_VERSION, true)
  view.setUint32(MetaOffset.PAGE_SIZE, meta.pageSizeBytes, true)
  view.setUint32(MetaOffset.PAGE_COUNT, meta.pageCount, true)
  view.setFloat64(MetaOffset.GENERATION, meta.generation, true)
  view.setFloat64(MetaOffset.RECORDS, meta.records, true)
  view.setUint32(MetaOffset.TREE_HEAD, meta.treeHead, true)
  view.setUint32(MetaOffset.FREE_LIST_HEAD, meta.freeListHead, true)
  view.setFloat64(MetaOffset.TREE_BYTES, meta.treeBytes, true)
  view.setFloat64(MetaOffset.FREE_LIST_ENTRIES, meta.freeListEntries, true)
  view.setFloat64(MetaOffset.REDO_LSN, meta.redoLsn, true)
  view.setUint32(MetaOffset.PAGE_MAP_HEAD, meta.pageMapHead, true)
  view.setFloat64(MetaOffset.PAGE_MAP_ENTRIES, meta.pageMapEntries, true)
  view.setUint32(MetaOffset.CELL_BYTES, meta.cellBytes, true)
  sealPage(page, { type: PageType.META, pageId: meta.generation % 2, epoch: 0 })
  return page
}

/**
 * Throws FORMAT_VERSION if `page` is an intact meta page (checksum and both magics right) written by
 * a newer format: a newer page header version or store format version. Such a page is not damage,
 * so open must not fall back to the other meta page as if it were.
 */
export function checkNotNewerFormat(page: Uint8Array, pageId: number, file: string): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  if (view.getUint32(HeaderOffset.MAGIC, true) !== PAGE_MAGIC || view.getUint32(MetaOffset.MAGIC, true) !== META_MAGIC) return
  if (view.getUint32(HeaderOffset.CHECKSUM, true) !== pageChecksum(page)) return
  const headerVersion = view.getUint8(HeaderOffset.VERSION)
  const storeVersion = view.getUint32(MetaOffset.VERSION, true)
  if (headerVersion > FORMAT_VERSION || storeVersion > STORE_FORMAT_VERSION) {
    throw new StoreError(
      ErrorCode.FORMAT_VERSION,
      `${file}: meta page ${pageId} at offset ${pageId * page.byteLength} was written by a newer format (store format version ${storeVersion}, page version ${headerVersion}); this build reads store format version ${STORE_FORMAT_VERSION}, page version ${FORMAT_VERSION}: open it with a newer build`,
    )
  }
}

/**
 * Whether leaves of `pageSizeBytes` can have cells of `cellBytes`: a multiple of 8 up to
 * CELL_BYTES_MAX, leaving a page room for at least LEAF_SLOTS_MIN slots.
 */
export function cellBytesFit(cellBytes: number, pageSizeBytes: number): boolean {
  return Number.isSafeInteger(cellBytes) && cellBytes >= 0 && cellBytes % 8 === 0 && cellBytes <= CELL_BYTES_MAX && leafCapacityMax(pageSizeBytes, cellBytes) >= LEAF_SLOTS_MIN
}

/** What `cellBytesFit` asks of a cell width, in words. */
export function cellBytesRule(pageSizeBytes: number): string {
  let max = 0
  while (max + 8 <= CELL_BYTES_MAX && cellBytesFit(max + 8, pageSizeBytes)) max += 8
  return `a multiple of 8 in [0, ${max}] for ${pageSizeBytes}-byte pages`
}

/** The fewest slots a leaf page must hold (the index's smallest maximum node size). */
export const LEAF_SLOTS_MIN = 64

/** Largest redo LSN a meta page may hold: LSNs are f64 integers, and the log counts one past it. */
const REDO_LSN_MAX = Number.MAX_SAFE_INTEGER - 1

/**
 * Decodes a meta page read from `file` at `pageId`; throws CORRUPTION if it is not a valid one, and
 * FORMAT_VERSION if it is an intact one of a newer format. Every field is bounded here, before
 * anything is sized by it: page references within the page count, the stream sizes within what the
 * pages in use can hold (a chain page carries at most pageSize - 40 bytes), counts and LSNs safe
 * integers.
 */
export function decodeMetaPage(page: Uint8Array, pageId: number, file: string): Meta {
  checkNotNewerFormat(page, pageId, file)
  const header = checkPage(page, pageId, file)
  const fail = (what: string): never => {
    throw new StoreError(ErrorCode.CORRUPTION, `${file}: meta page ${pageId} at offset ${pageId * page.byteLength}: ${what}`)
  }
  if (header.type !== PageType.META) fail(`page type ${header.type}, not a meta page`)
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  if (view.getUint32(MetaOffset.MAGIC, true) !== META_MAGIC) fail('bad meta magic')
  const version = view.getUint32(MetaOffset.VERSION, true)
  if (version !== STORE_FORMAT_VERSION) fail(`store format version ${version} (an older format); this build reads ${STORE_FORMAT_VERSION}`)
  const meta: Meta = {
    pageSizeBytes: view.getUint32(MetaOffset.PAGE_SIZE, true),
    pageCount: view.getUint32(MetaOffset.PAGE_COUNT, true),
    generation: view.getFloat64(MetaOffset.GENERATION, true),
    records: view.getFloat64(MetaOffset.RECORDS, true),
    treeHead: view.getUint32(MetaOffset.TREE_HEAD, true),
    freeListHead: view.getUint32(MetaOffset.FREE_LIST_HEAD, true),
    treeBytes: view.getFloat64(MetaOffset.TREE_BYTES, true),
    freeListEntries: view.getFloat64(MetaOffset.FREE_LIST_ENTRIES, true),
    redoLsn: view.getFloat64(MetaOffset.REDO_LSN, true),
    pageMapHead: view.getUint32(MetaOffset.PAGE_MAP_HEAD, true),
    pageMapEntries: view.getFloat64(MetaOffset.PAGE_MAP_ENTRIES, true),
    cellBytes: view.getUint32(MetaOffset.CELL_BYTES, true),
  }
  if (meta.pageSizeBytes !== page.byteLength || !isValidPageSize(meta.pageSizeBytes)) fail(`page size ${meta.pageSizeBytes} in a ${page.byteLength}-byte page`)
  if (!Number.isSafeInteger(meta.generation) || meta.generation < 1 || meta.generation % 2 !== pageId) fail(`generation ${meta.generation} in meta page ${pageId}`)
  if (meta.pageCount < 2) fail(`page count ${meta.pageCount}`)
  if (meta.treeHead === NO_PAGE || meta.treeHead >= meta.pageCount) fail(`tree image at page ${meta.treeHead}, outside ${meta.pageCount} pages`)
  if (meta.freeListHead !== NO_PAGE && meta.freeListHead >= meta.pageCount) fail(`free list at page ${meta.freeListHead}, outside ${meta.pageCount} pages`)
  if (!Number.isSafeInteger(meta.records) || meta.records < 0) fail(`records field: ${meta.records}`)
  // A chain's stream fits the pages in use (less the two meta pages), each carrying at most
  // pageSize - 40 bytes: bounded before readChain allocates it.
  const streamMax = (meta.pageCount - 2) * (meta.pageSizeBytes - CHAIN_PAYLOAD_OFFSET)
  if (!Number.isSafeInteger(meta.treeBytes) || meta.treeBytes < 0 || meta.treeBytes > streamMax) fail(`tree image bytes field: ${meta.treeBytes}, more than ${meta.pageCount} pages hold`)
  if (!Number.isSafeInteger(meta.freeListEntries) || meta.freeListEntries < 0 || meta.freeListEntries > meta.pageCount || 4 * meta.freeListEntries > streamMax) {
    fail(`free-list entries field: ${meta.freeListEntries}, more than ${meta.pageCount} pages`)
  }
  if (meta.freeListHead === NO_PAGE && meta.freeListEntries !== 0) fail(`free-list entries field: ${meta.freeListEntries} without a free list`)
  if (!Number.isSafeInteger(meta.redoLsn) || meta.redoLsn < 0 || meta.redoLsn > REDO_LSN_MAX) fail(`redo LSN field: ${meta.redoLsn}`)
  if (meta.pageMapHead !== NO_PAGE && meta.pageMapHead >= meta.pageCount) fail(`page map at page ${meta.pageMapHead}, outside ${meta.pageCount} pages`)
  if (!Number.isSafeInteger(meta.pageMapEntries) || meta.pageMapEntries < 0 || meta.pageMapEntries > meta.pageCount || 4 * meta.pageMapEntries > streamMax) {
    fail(`page map entries field: ${meta.pageMapEntries}, more than ${meta.pageCount} pages`)
  }
  if ((meta.pageMapHead === NO_PAGE) !== (meta.pageMapEntries === 0)) fail(`page map entries field: ${meta.pageMapEntries} with page map head ${meta.pageMapHead}`)
  if (!cellBytesFit(meta.cellBytes, meta.pageSizeBytes)) fail(`leaf cell bytes field: ${meta.cellBytes} (${cellBytesRule(meta.pageSizeBytes)})`)
  return meta
}
