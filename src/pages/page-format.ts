/**
 * Constants of the page format shared by every page reader and writer (docs/FORMAT.md is the byte
 * table). Every page, whatever its type, starts with this 32-byte header, little-endian:
 *
 *   offset size field
 *        0    4 magic        0x4750534c ("LSPG" in file order)
 *        4    1 type         PageType
 *        5    1 version      FORMAT_VERSION
 *        6    2 reserved     0
 *        8    4 page id      the page's own index in the file (catches misdirected writes)
 *       12    4 checksum     CRC-32 of the whole page with these 4 bytes taken as zero
 *       16    8 epoch        write epoch: the generation of the first checkpoint that can reference
 *                            the page as written (durable generation + 1 when it was sealed); 0 for
 *                            meta pages. A page a checkpoint references never has a higher epoch
 *                            than that checkpoint's generation, unless it was rewritten since.
 *       24    8 reserved     0
 */

export const PAGE_MAGIC = 0x4750534c
export const FORMAT_VERSION = 1
export const PAGE_HEADER_BYTES = 32

export const HeaderOffset = {
  MAGIC: 0,
  TYPE: 4,
  VERSION: 5,
  RESERVED_6: 6,
  PAGE_ID: 8,
  CHECKSUM: 12,
  EPOCH: 16,
  RESERVED_24: 24,
} as const

export const PageType = {
  META: 1,
  DATA: 2,
  OVERFLOW: 3,
  FREE_LIST: 4,
  MODEL: 5,
  VALUE: 6,
  PAGE_MAP: 7,
} as const
export type PageType = (typeof PageType)[keyof typeof PageType]

export const PAGE_SIZE_MIN_BYTES = 4096
export const PAGE_SIZE_MAX_BYTES = 1 << 20
/** Page ids are u32; the largest is reserved as "no page". */
export const PAGE_ID_MAX = 0xfffffffe
export const NO_PAGE = 0xffffffff

export function isValidPageSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= PAGE_SIZE_MIN_BYTES && bytes <= PAGE_SIZE_MAX_BYTES && (bytes & (bytes - 1)) === 0
}

if (HeaderOffset.RESERVED_24 + 8 !== PAGE_HEADER_BYTES) throw new Error('page header layout and size disagree')
