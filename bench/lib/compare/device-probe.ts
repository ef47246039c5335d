/**
 * The device's random-read rate, measured in the same run (BENCH.md rule 9: cold reads are bound by
 * the device; report each system's cold gets as a fraction of what it can do).
 *
 * A 1 GiB file of random bytes is written beside the stores, in a memory group of its own whose page
 * cache is then dropped (memory.force_empty / memory.reclaim: that file's pages only); then a child in
 * a group limited to 96 MiB, page cache included, reads random 4 KiB blocks of it for 3 s at queue
 * depth 1 (a loop of synchronous preads: how an engine that waits for each read goes) and 3 s at
 * depth 32 (32 chains of asynchronous preads on libuv's thread pool of 32). With at most ~40 MiB of
 * the file cached, at least 96% of reads go to the device; the child reports the device bytes per
 * read (/proc/self/io read_bytes) to show it. The file is removed at the end. Without a usable memory
 * controller the probe is skipped (the page cache could not be kept from answering) and says why.
 */
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { MemoryGroup, wrapInGroup, type ControllerProbe } from './memory-cgroup.js'
import type { DeviceRateFigures } from './types.js'

/** 4 KiB random reads per second at queue depth 1 and 32, and the device bytes per read at each (4096: all from the device). */
export type DeviceRate = DeviceRateFigures

const FILE_BYTES = 1 << 30
const READ_LIMIT_BYTES = 96 << 20
const SECONDS = 3
const DEEP = 32

export function probeDevice(childPath: string, probe: ControllerProbe, directory: string): DeviceRate | { skipped: string } {
  if (!probe.usable) return { skipped: `no usable memory controller (${probe.reason}): the page cache could not be kept from answering` }
  const script = path.join(path.dirname(childPath), 'device-probe-child.js')
  const file = path.join(directory, 'device-probe.bin')
  const run = (group: MemoryGroup, args: string[], env: NodeJS.ProcessEnv = process.env): string => {
    const wrapped = wrapInGroup(group, process.execPath, [script, ...args])
    const result = spawnSync(wrapped.command, wrapped.args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    if (result.status !== 0) throw new Error(`device probe (${args[0]}) failed: ${result.status ?? result.signal} ${result.stderr.slice(-500)}`)
    return result.stdout
  }
  try {
    const writer = MemoryGroup.create(probe.controller, 'device-write')
    try {
      run(writer, ['write', file, String(FILE_BYTES)])
      if (writer.dropPageCache() === undefined) return { skipped: 'could not drop the probe file from the page cache' }
    } finally {
      writer.remove()
    }
    const reader = MemoryGroup.create(probe.controller, 'device-read', READ_LIMIT_BYTES)
    let out: string
    try {
      out = run(reader, ['read', file, String(SECONDS), `1,${DEEP}`], { ...process.env, UV_THREADPOOL_SIZE: String(DEEP) })
    } finally {
      reader.remove()
    }
    const [qd1, deep] = out.trim().split('\n').map((line) => JSON.parse(line) as { perSecond: number; deviceBytesPerRead: number })
    return {
      qd1PerSecond: qd1!.perSecond,
      deepPerSecond: deep!.perSecond,
      deepDepth: DEEP,
      qd1DeviceBytesPerRead: qd1!.deviceBytesPerRead,
      deepDeviceBytesPerRead: deep!.deviceBytesPerRead,
      fileBytes: FILE_BYTES,
      how: `random 4 KiB preads of a ${FILE_BYTES >> 20} MiB file beside the stores, ${SECONDS} s at each depth, in a group limited to ${READ_LIMIT_BYTES >> 20} MiB (page cache included) after the file's pages were dropped; depth 1 synchronous, depth ${DEEP} asynchronous on a thread pool of ${DEEP}`,
    }
  } catch (error) {
    return { skipped: error instanceof Error ? error.message : String(error) }
  } finally {
    rmSync(file, { force: true })
  }
}
