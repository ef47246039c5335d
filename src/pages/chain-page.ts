/**
 * Chains: a byte stream spread over a list of pages, each naming the next. The tree image (MODEL
 * pages), the free list (FREE_LIST pages) and the page map (PAGE_MAP pages) are chains. Little-endian:
 *   @0   32  common page header (type MODEL, FREE_LIST or PAGE_MAP)
 *   @32   4  next page id in the chain (NO_PAGE on the last page)
 *   @36   4  payload bytes in this page
 *   @40      payload
 * The meta page records the first page and the stream's total length; a reader checks both.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import { NO_PAGE, type PageType } from './page-format.js'
import { sealPage } from './page-header.js'
import type { PageFile, PageWrite } from './page-file.js'
import { readU32, writeU32 } from './value-page.js'

export const ChainOffset = { NEXT: 32, PAYLOAD_BYTES: 36 } as const
export const CHAIN_PAYLOAD_OFFSET = 40

export function chainPagesFor(streamBytes: number, pageSizeBytes: number): number {
  return Math.max(1, Math.ceil(streamBytes / (pageSizeBytes - CHAIN_PAYLOAD_OFFSET)))
}

/** Sealed pages holding `stream` on `pageIds` (at least chainPagesFor(stream) of them; extras hold nothing). */
export function encodeChain(stream: Uint8Array, pageIds: readonly number[], type: PageType, pageSizeBytes: number, epoch: number): PageWrite[] {
  assert(pageIds.length >= chainPagesFor(stream.byteLength, pageSizeBytes), 'too few pages for the chain')
  const room = pageSizeBytes - CHAIN_PAYLOAD_OFFSET
  const writes: PageWrite[] = []
  for (let i = 0; i < pageIds.length; i++) {
    const page = new Uint8Array(pageSizeBytes)
    const part = stream.subarray(Math.min(stream.byteLength, i * room), Math.min(stream.byteLength, (i + 1) * room))
    writeU32(page, ChainOffset.NEXT, i + 1 < pageIds.length ? pageIds[i + 1]! : NO_PAGE)
    writeU32(page, ChainOffset.PAYLOAD_BYTES, part.byteLength)
    page.set(part, CHAIN_PAYLOAD_OFFSET)
    sealPage(page, { type, pageId: pageIds[i]!, epoch })
    writes.push({ pageId: pageIds[i]!, page })
  }
  return writes
}

/**
 * Reads a chain from `firstPageId`: returns the stream and the page ids it used. Throws CORRUPTION
 * when a page fails its check, the chain loops or leaves the file's used pages, or the length differs
 * from `streamBytes`.
 */
export function readChain(
  file: PageFile,
  firstPageId: number,
  streamBytes: number,
  type: PageType,
  pageCount: number,
): { stream: Uint8Array; pageIds: number[] } {
  const fail = (what: string): never => {
    throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: chain of ${type === 5 ? 'model' : type === 7 ? 'page map' : 'free-list'} pages from page ${firstPageId}: ${what}`)
  }
  // Bounded before it sizes anything: the pages in use, less the meta pages, hold at most this.
  const streamMax = Math.max(0, pageCount - 2) * (file.pageSizeBytes - CHAIN_PAYLOAD_OFFSET)
  if (!Number.isSafeInteger(streamBytes) || streamBytes < 0 || streamBytes > streamMax) fail(`the meta page's stream length ${streamBytes} is more than ${pageCount} pages hold`)
  const stream = new Uint8Array(streamBytes)
  const pageIds: number[] = []
  const page = new Uint8Array(file.pageSizeBytes)
  let at = 0
  let pageId = firstPageId
  while (pageId !== NO_PAGE) {
    if (pageId < 2 || pageId >= pageCount) fail(`page ${pageId} lies outside the used pages [2, ${pageCount})`)
    if (pageIds.length >= pageCount) fail('the chain loops')
    file.readPage(pageId, page, type)
    pageIds.push(pageId)
    const bytes = readU32(page, ChainOffset.PAYLOAD_BYTES)
    if (bytes > page.byteLength - CHAIN_PAYLOAD_OFFSET || at + bytes > streamBytes) fail(`page ${pageId}: payload bytes field ${bytes}, past the page or the stream's ${streamBytes} bytes`)
    stream.set(page.subarray(CHAIN_PAYLOAD_OFFSET, CHAIN_PAYLOAD_OFFSET + bytes), at)
    at += bytes
    pageId = readU32(page, ChainOffset.NEXT)
  }
  if (at !== streamBytes) fail(`holds ${at} bytes, the meta page says ${streamBytes}`)
  return { stream, pageIds }
}
