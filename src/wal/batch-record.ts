/**
 * The payload of a BATCH record: the operations of one `put`, `del` or `batch`, applied atomically
 * on replay. Little-endian:
 *   @0  4  operation count
 *   then per operation: u8 kind (1 put, 2 del), f64 key, and for a put: u32 value bytes, the bytes.
 */

import { ErrorCode, StoreError, assert } from '../errors.js'

export const OpKind = { PUT: 1, DEL: 2 } as const

export function batchRecordBytes(count: number, valueBytes: number, puts: number): number {
  return 4 + count * 9 + puts * 4 + valueBytes
}

/** Writes one batch record into out[0, bytes) (`bytes` = batchRecordBytes of these operations). */
export function encodeBatchRecord(
  out: Uint8Array,
  bytes: number,
  keys: Float64Array,
  isPut: Uint8Array,
  values: readonly (Uint8Array | undefined)[],
): void {
  const view = viewOf(out)
  const base = out.byteOffset
  view.setUint32(base, keys.length, true)
  let at = 4
  for (let i = 0; i < keys.length; i++) {
    view.setUint8(base + at, isPut[i] === 1 ? OpKind.PUT : OpKind.DEL)
    view.setFloat64(base + at + 1, keys[i]!, true)
    at += 9
    if (isPut[i] === 1) {
      const value = values[i]!
      view.setUint32(base + at, value.byteLength, true)
      out.set(value, at + 4)
      at += 4 + value.byteLength
    }
  }
  assert(at === bytes, `batch record of ${at} bytes, ${bytes} expected`)
}

/** Writes the record of one put (a value) or delete (undefined) into out (long enough). */
export function encodeOneRecord(out: Uint8Array, key: number, value: Uint8Array | undefined): void {
  const view = viewOf(out)
  const base = out.byteOffset
  view.setUint32(base, 1, true)
  view.setUint8(base + 4, value === undefined ? OpKind.DEL : OpKind.PUT)
  view.setFloat64(base + 5, key, true)
  if (value === undefined) return
  const n = value.byteLength
  view.setUint32(base + 13, n, true)
  if (n <= 32) {
    for (let i = 0; i < n; i++) out[17 + i] = value[i]!
  } else {
    out.set(value, 17)
  }
}

let encodeBuffer: ArrayBufferLike | null = null
let encodeView: DataView | null = null

/** A DataView over all of `bytes`' buffer (offsets are the buffer's), kept while the buffer is. */
function viewOf(bytes: Uint8Array): DataView {
  if (bytes.buffer !== encodeBuffer) {
    encodeBuffer = bytes.buffer
    encodeView = new DataView(bytes.buffer)
  }
  return encodeView!
}

/**
 * Calls `put(key, value)` / `del(key)` for each operation of a batch record (value is a view into
 * `payload`). Throws CORRUPTION naming `where` if the payload is malformed: a record that passed its
 * CRC but does not parse is damage the checksum could not see, or a bug.
 */
export function decodeBatchRecord(
  payload: Uint8Array,
  where: string | (() => string),
  put: (key: number, value: Uint8Array) => void,
  del: (key: number) => void,
): void {
  if (payload.byteLength < 4) malformed(where, 'shorter than its count')
  // Records of one segment share its buffer: one DataView serves them all.
  if (payload.buffer !== viewBuffer) {
    viewBuffer = payload.buffer
    cachedView = new DataView(payload.buffer)
  }
  const view = cachedView!
  const base = payload.byteOffset
  const end = payload.byteLength
  const count = view.getUint32(base, true)
  let at = 4
  for (let i = 0; i < count; i++) {
    if (at + 9 > end) malformed(where, `operation ${i} runs past the end`)
    const kind = view.getUint8(base + at)
    const key = view.getFloat64(base + at + 1, true)
    if (!Number.isFinite(key)) malformed(where, `operation ${i} has key ${key}`)
    at += 9
    if (kind === OpKind.PUT) {
      if (at + 4 > end) malformed(where, `operation ${i} runs past the end`)
      const length = view.getUint32(base + at, true)
      if (at + 4 + length > end) malformed(where, `operation ${i}'s value runs past the end`)
      put(key, payload.subarray(at + 4, at + 4 + length))
      at += 4 + length
    } else if (kind === OpKind.DEL) {
      del(key)
    } else {
      malformed(where, `operation ${i} has kind ${kind}`)
    }
  }
  if (at !== end) malformed(where, `${end - at} bytes after the last operation`)
}

function malformed(where: string | (() => string), what: string): never {
  throw new StoreError(ErrorCode.CORRUPTION, `${typeof where === 'string' ? where : where()}: batch record: ${what}`)
}

let viewBuffer: ArrayBufferLike | null = null
let cachedView: DataView | null = null
