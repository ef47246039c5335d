/**
 * Bytes a system's directory takes on disk, for `KvSystem.diskBytes`: every file under it, counted
 * either by logical size or by the blocks the file system allocated (st_blocks × 512, for files that
 * may be sparse or preallocated, as LMDB's data.mdb can be). Called a few times per run, not on a hot
 * path.
 */
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

export type DiskMeasure = 'size' | 'allocated'

export function directoryBytes(directory: string, measure: DiskMeasure): number {
  let total = 0
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const file = path.join(directory, entry.name)
    if (entry.isDirectory()) {
      total += directoryBytes(file, measure)
    } else if (entry.isFile()) {
      // A file may go between the listing and the stat (RocksDB deletes compacted tables).
      const stats = statSync(file, { throwIfNoEntry: false })
      if (stats !== undefined) total += measure === 'size' ? stats.size : stats.blocks * 512
    }
  }
  return total
}
