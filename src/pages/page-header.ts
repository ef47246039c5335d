/**
 * Writing and checking the common page header (page-format.ts). `sealPage` is the last step before a
 * page goes to disk; `checkPage` is the first after it comes back: a page that fails it is never used.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'
import { crc32, crc32Range } from '../io/checksum.js'
import { readU32 } from './value-page.js'
import {
  FORMAT_VERSION,
  HeaderOffset,
  PAGE_HEADER_BYTES,
  PAGE_ID_MAX,
  PAGE_MAGIC,
  PageType,
  isValidPageSize,
} from './page-format.js'

export interface PageHeader {
  type: PageType
  pageId: number
  /** Write epoch (page-format.ts): an integer below 2^53. */
  epoch: number
}

const PAGE_TYPES = new Set<number>(Object.values(PageType))
const TWO_POW_32 = 2 ** 32

function viewOf(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength)
}

/** CRC-32 of the page with the checksum field taken as zero. */
const ZEROS = new Uint8Array(4)

export function pageChecksum(page: Uint8Array): number {
  let crc = crc32Range(page, 0, HeaderOffset.CHECKSUM)
  crc = crc32(ZEROS, crc)
  return crc32Range(page, HeaderOffset.CHECKSUM + 4, page.byteLength, crc)
}

/** Writes the header fields into `page` and seals it with its checksum. The body must be complete. */
export function sealPage(page: Uint8Array, header: PageHeader): void {
  writePageHeader(page, header)
  viewOf(page).setUint32(HeaderOffset.CHECKSUM, pageChecksum(page), true)
}

/**
 * `sealPage` without the checksum: the fields are written and the checksum field is zero, so the
 * page's checksum is the CRC-32 of the whole page as it stands (the bulk writer's thread computes it).
 */
export function writePageHeader(page: Uint8Array, header: PageHeader): void {
  assert(isValidPageSize(page.byteLength), `page of ${page.byteLength} bytes`)
  assert(PAGE_TYPES.has(header.type), `page type ${header.type}`)
  assert(Number.isInteger(header.pageId) && header.pageId >= 0 && header.pageId <= PAGE_ID_MAX, `page id ${header.pageId}`)
  assert(Number.isSafeInteger(header.epoch) && header.epoch >= 0, `epoch ${header.epoch}`)
  const view = viewOf(page)
  view.setUint32(HeaderOffset.MAGIC, PAGE_MAGIC, true)
  view.setUint8(HeaderOffset.TYPE, header.type)
  view.setUint8(HeaderOffset.VERSION, FORMAT_VERSION)
  view.setUint16(HeaderOffset.RESERVED_6, 0, true)
  view.setUint32(HeaderOffset.PAGE_ID, header.pageId, true)
  view.setUint32(HeaderOffset.EPOCH, header.epoch % TWO_POW_32, true)
  view.setUint32(HeaderOffset.EPOCH + 4, Math.floor(header.epoch / TWO_POW_32), true)
  view.setUint32(HeaderOffset.RESERVED_24, 0, true)
  view.setUint32(HeaderOffset.RESERVED_24 + 4, 0, true)
  view.setUint32(HeaderOffset.CHECKSUM, 0, true)
}

/**
 * Verifies a page read from `file` at page `expectedPageId` (checksum first, then magic, version,
 * type and id) and returns its header. Throws CORRUPTION naming the file, the page id and the byte
 * offset of the page; never returns data from a page that fails.
 */
export function checkPage(page: Uint8Array, expectedPageId: number, file: string): PageHeader {
  const type = checkPageType(page, expectedPageId, file)
  return { type, pageId: expectedPageId, epoch: pageEpoch(page) }
}

/**
 * `checkPage` for the read path (every page read from the file): the same checks, returning only the
 * type, and allocating nothing unless a check fails (a read of a small page paid ~600 bytes of
 * garbage here: its message, a closure, views, a result object).
 */
export function checkPageType(page: Uint8Array, expectedPageId: number, file: string): PageType {
  if (page.byteLength < PAGE_HEADER_BYTES) failPage(file, expectedPageId, page, `page is only ${page.byteLength} bytes`)
  const stored = readU32(page, HeaderOffset.CHECKSUM)
  const actual = pageChecksum(page)
  if (stored !== actual) failPage(file, expectedPageId, page, `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`)
  if (readU32(page, HeaderOffset.MAGIC) !== PAGE_MAGIC) failPage(file, expectedPageId, page, 'bad magic')
  const version = page[HeaderOffset.VERSION]!
  if (version !== FORMAT_VERSION) failPage(file, expectedPageId, page, `format version ${version}, expected ${FORMAT_VERSION}`)
  const type = page[HeaderOffset.TYPE]!
  if (!PAGE_TYPES.has(type)) failPage(file, expectedPageId, page, `unknown page type ${type}`)
  const pageId = readU32(page, HeaderOffset.PAGE_ID)
  if (pageId !== expectedPageId) failPage(file, expectedPageId, page, `page claims to be page ${pageId} (a misdirected write)`)
  return type as PageType
}

function failPage(file: string, pageId: number, page: Uint8Array, what: string): never {
  throw new StoreError(ErrorCode.CORRUPTION, `${file}: page ${pageId} at offset ${pageId * page.byteLength}: ${what}`)
}

/** The write epoch of a page that has passed `checkPage`. */
export function pageEpoch(page: Uint8Array): number {
  const view = viewOf(page)
  return view.getUint32(HeaderOffset.EPOCH, true) + view.getUint32(HeaderOffset.EPOCH + 4, true) * TWO_POW_32
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}
