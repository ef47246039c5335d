/**
 * Values every system stores: bytes 0..8 the key (f64, little-endian), bytes 8..12 a version
 * (u32), the rest a pattern derived from both. Values are at least 12 bytes.
 */

export const VALUE_HEADER_BYTES = 12

/** A fresh value for (key, version) of `size` bytes. */
export function makeValue(key: number, version: number, size: number): Uint8Array {
  if (size < VALUE_HEADER_BYTES) throw new RangeError(`values are at least ${VALUE_HEADER_BYTES} bytes, not ${size}`)
  const value = new Uint8Array(size)
  const view = new DataView(value.buffer)
  view.setFloat64(0, key, true)
  view.setUint32(8, version, true)
  let state = (version * 0x9e3779b1 + (key % 0x7fffffff)) >>> 0
  for (let i = VALUE_HEADER_BYTES; i < size; i++) {
    state = (state * 1103515245 + 12345) >>> 0
    value[i] = state >>> 24
  }
  return value
}
