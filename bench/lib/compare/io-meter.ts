/**
 * What a workload read from the device, per operation, the same way for every engine: deltas of the
 * process's /proc/self/io counters around each timed region (all threads of the process: RocksDB's
 * background threads, lmdb-js's writer and libuv's pool included).
 *
 * - read_bytes: bytes the process caused to be read from the block device (submitted reads, mmap
 *   page faults and readahead included). Page-cache hits do not count. Pages = read_bytes / 4096.
 * - rchar: bytes through read-like system calls (read, pread, ...), page-cache hits included; mmap
 *   reads (LMDB) do not count, and neither does anything served from the engine's own cache.
 * - write_bytes: bytes the process caused to be sent to the device (dirty pages it wrote back).
 *
 * Reading /proc/self/io costs one small read (about 10 µs), twice per timed repetition.
 */
import { readFileSync } from 'node:fs'
import type { IoFigures } from './types.js'

export const PAGE_BYTES = 4096

interface IoCounters {
  readBytes: number
  rchar: number
  writeBytes: number
}

/** The process's I/O counters now, or undefined where /proc/self/io cannot be read (not Linux). */
export function readProcessIo(): IoCounters | undefined {
  let text: string
  try {
    text = readFileSync('/proc/self/io', 'latin1')
  } catch {
    return undefined
  }
  const field = (name: string): number => {
    const match = new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)
    return match === null ? Number.NaN : Number(match[1])
  }
  const counters = { readBytes: field('read_bytes'), rchar: field('rchar'), writeBytes: field('write_bytes') }
  return Number.isFinite(counters.readBytes) && Number.isFinite(counters.rchar) ? counters : undefined
}

/** Sums the I/O of a workload's timed regions and the operations done in them. */
export class IoMeter {
  private ops = 0
  private readBytes = 0
  private rchar = 0
  private writeBytes = 0
  private started: IoCounters | undefined
  private available = true

  start(): void {
    this.started = readProcessIo()
    if (this.started === undefined) this.available = false
  }

  /** Ends a timed region in which `ops` operations were done. */
  stop(ops: number): void {
    const now = readProcessIo()
    const before = this.started
    this.started = undefined
    if (now === undefined || before === undefined) {
      this.available = false
      return
    }
    this.ops += ops
    this.readBytes += now.readBytes - before.readBytes
    this.rchar += now.rchar - before.rchar
    this.writeBytes += now.writeBytes - before.writeBytes
  }

  /** Sets `result.io` when every region was measured. */
  into<T extends { io?: IoFigures }>(result: T): T {
    if (this.available && this.ops > 0) result.io = { ops: this.ops, readBytes: this.readBytes, rchar: this.rchar, writeBytes: this.writeBytes }
    return result
  }
}
