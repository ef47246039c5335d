/** Checking `open()` options: unknown names and bad values are INVALID_ARGUMENT, before any file is touched. */

import { describeValue } from '../errors.js'
import { PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES, isValidPageSize } from '../pages/page-format.js'
import type { Durability, OpenOptions } from './api.js'
import { invalid } from './arguments.js'
import { CELL_BYTES_MAX } from '../alex/node-layout.js'
import { cellBytesFit, cellBytesRule } from '../pages/meta-page.js'

/** Default page size: chosen by `npm run bench:store -- --page-sizes` (docs/FORMAT.md has the figures). */
export const DEFAULT_PAGE_SIZE_BYTES = 65536
export const DEFAULT_CACHE_BYTES = 64 << 20
export const DEFAULT_DURABILITY: Durability = 'fsync'

export const DEFAULT_WAL_SEGMENT_BYTES = 64 << 20
/**
 * The largest `walSegmentBytes`. A segment is read whole at open, and one read takes at most 2 GiB;
 * a segment passes its size by at most one write group, so segments stay readable.
 */
export const WAL_SEGMENT_BYTES_MAX = 512 << 20
export const DEFAULT_CHECKPOINT_WAL_BYTES = 128 << 20
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5 * 60_000

const OPTION_NAMES = new Set([
  'pageSizeBytes',
  'leafValueBytes',
  'cacheBytes',
  'recordCacheBytes',
  'durability',
  'readOnly',
  'walSegmentBytes',
  'checkpointWalBytes',
  'checkpointIntervalMs',
  'walArchive',
  'walRecovery',
  'readAhead',
])
const DURABILITIES = new Set<unknown>(['fsync', 'os', 'none'])

export interface CheckedOptions {
  /** undefined: the store's own size, or the default for a new store. */
  pageSizeBytes: number | undefined
  /** undefined: the store's own width, or the default for a new store (leafValueBytesFor). */
  leafValueBytes: number | undefined
  cacheBytes: number
  recordCacheBytes: number
  durability: Durability
  readOnly: boolean
  walSegmentBytes: number
  checkpointWalBytes: number
  checkpointIntervalMs: number
  walArchive: boolean
  walRecovery: 'strict' | 'salvage'
  readAhead: 'auto' | 'on' | 'off'
}

function positiveInteger(value: unknown, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in [${min}, ${max}], got ${describeValue(value)}`)
  }
  return value
}

export function checkOpenOptions(options: unknown): CheckedOptions {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid(`options must be an object, got ${describeValue(options)}`)
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw invalid(`unknown option ${JSON.stringify(name)} (known: ${[...OPTION_NAMES].join(', ')})`)
  }
  const o = options as OpenOptions
  if (o.pageSizeBytes !== undefined && !isValidPageSize(o.pageSizeBytes)) {
    throw invalid(`pageSizeBytes must be a power of two in [${PAGE_SIZE_MIN_BYTES}, ${PAGE_SIZE_MAX_BYTES}], got ${describeValue(o.pageSizeBytes)}`)
  }
  if (o.leafValueBytes !== undefined) {
    const width = o.leafValueBytes
    if (typeof width !== 'number' || !Number.isSafeInteger(width) || width < 0 || width % 8 !== 0 || width > CELL_BYTES_MAX) {
      throw invalid(`leafValueBytes must be a multiple of 8 in [0, ${CELL_BYTES_MAX}], got ${describeValue(width)}`)
    }
    if (o.pageSizeBytes !== undefined && !cellBytesFit(width, o.pageSizeBytes)) {
      throw invalid(`leafValueBytes ${width} leaves no room in ${o.pageSizeBytes}-byte pages: it must be ${cellBytesRule(o.pageSizeBytes)}`)
    }
  }
  const cacheBytes = o.cacheBytes ?? DEFAULT_CACHE_BYTES
  if (typeof cacheBytes !== 'number' || !Number.isSafeInteger(cacheBytes) || cacheBytes < 0) {
    throw invalid(`cacheBytes must be a non-negative integer, got ${describeValue(o.cacheBytes)}`)
  }
  const recordCacheBytes = o.recordCacheBytes ?? 0
  if (typeof recordCacheBytes !== 'number' || !Number.isSafeInteger(recordCacheBytes) || recordCacheBytes < 0) {
    throw invalid(`recordCacheBytes must be a non-negative integer, got ${describeValue(o.recordCacheBytes)}`)
  }
  const durability = o.durability ?? DEFAULT_DURABILITY
  if (!DURABILITIES.has(durability)) throw invalid(`durability must be 'fsync', 'os' or 'none', got ${describeValue(o.durability)}`)
  const readOnly = o.readOnly ?? false
  if (typeof readOnly !== 'boolean') throw invalid(`readOnly must be a boolean, got ${describeValue(o.readOnly)}`)
  const walArchive = o.walArchive ?? false
  if (typeof walArchive !== 'boolean') throw invalid(`walArchive must be a boolean, got ${describeValue(o.walArchive)}`)
  const walRecovery = o.walRecovery ?? 'strict'
  if (walRecovery !== 'strict' && walRecovery !== 'salvage') throw invalid(`walRecovery must be 'strict' or 'salvage', got ${describeValue(o.walRecovery)}`)
  const readAhead = o.readAhead ?? 'auto'
  if (readAhead !== 'auto' && readAhead !== 'on' && readAhead !== 'off') throw invalid(`readAhead must be 'auto', 'on' or 'off', got ${describeValue(o.readAhead)}`)
  return {
    pageSizeBytes: o.pageSizeBytes,
    leafValueBytes: o.leafValueBytes,
    cacheBytes,
    recordCacheBytes,
    durability,
    readOnly,
    walSegmentBytes: positiveInteger(o.walSegmentBytes, 'walSegmentBytes', DEFAULT_WAL_SEGMENT_BYTES, 64 * 1024, WAL_SEGMENT_BYTES_MAX),
    checkpointWalBytes: positiveInteger(o.checkpointWalBytes, 'checkpointWalBytes', DEFAULT_CHECKPOINT_WAL_BYTES, 64 * 1024),
    checkpointIntervalMs: positiveInteger(o.checkpointIntervalMs, 'checkpointIntervalMs', DEFAULT_CHECKPOINT_INTERVAL_MS, 1),
    walArchive,
    walRecovery,
    readAhead,
  }
}

/** Default leafValueBytes: 16-byte values (the benchmark's, and many keys' payloads) sit in the leaf. */
export const DEFAULT_LEAF_VALUE_BYTES = 16

/**
 * The cell width of a new store of `pageSizeBytes`: the option (checked to fit), or the default, or
 * the widest the page size allows if that is less.
 */
export function leafValueBytesFor(options: CheckedOptions, pageSizeBytes: number): number {
  const asked = options.leafValueBytes
  if (asked !== undefined) {
    if (!cellBytesFit(asked, pageSizeBytes)) throw invalid(`leafValueBytes ${asked} leaves no room in ${pageSizeBytes}-byte pages: it must be ${cellBytesRule(pageSizeBytes)}`)
    return asked
  }
  let width = DEFAULT_LEAF_VALUE_BYTES
  while (width > 0 && !cellBytesFit(width, pageSizeBytes)) width -= 8
  return width
}
