/**
 * `open(dir, options)`: checks the options, makes the store directory (durable at 'fsync'), takes
 * the directory's lock and hands over to Store.openLocked, which creates or loads the store and
 * replays its log (recovery.ts). The lock is released if the open fails.
 */

import path from 'node:path'
import { ErrorCode, StoreError, describeValue } from '../errors.js'
import { realFileSystem, type FileSystem } from '../io/file.js'
import { lockDirectory } from '../io/lock.js'
import type { Durability, OpenOptions } from './api.js'
import { invalid } from './arguments.js'
import { checkOpenOptions } from './options.js'
import { DATA_FILE_NAME } from './recovery.js'
import { Store } from './store.js'

/**
 * Makes `dir` (and any missing parent) and, at 'fsync', makes their directory entries durable before
 * open returns, so before any write is acknowledged: the parent of every directory made here is
 * fsynced, innermost last, and so is the parent of `dir` even when `dir` was there already (an
 * earlier open may have made it and died before its parent was synced; one directory fsync per
 * read-write open). Without it a power cut can undo the store directory's own creation, and every
 * acknowledged write with it. At 'os' and 'none' nothing is synced: a directory entry survives a
 * process kill without it, and those levels promise nothing across a power loss.
 */
function makeStoreDirectory(fs: FileSystem, dir: string, durability: Durability): void {
  const missing: string[] = []
  for (let d = path.resolve(dir); !fs.exists(d); d = path.dirname(d)) {
    missing.push(d)
    if (path.dirname(d) === d) break
  }
  fs.mkdir(dir)
  if (durability !== 'fsync') return
  const parents = new Set<string>([path.dirname(path.resolve(dir))])
  for (const d of missing) parents.add(path.dirname(d))
  // Outermost first: a directory's own entry is durable before the entries inside it are synced.
  for (const parent of [...parents].sort((a, b) => a.length - b.length)) fs.syncDirectory(parent)
}

/** Opens (creating if needed, unless read-only) the store in directory `dir`. */
export async function open(dir: string, options?: OpenOptions): Promise<Store> {
  return openWithFileSystem(dir, options, realFileSystem)
}

/** `open` over another file system (the crash suite's fault-injecting one). */
export async function openWithFileSystem(dir: string, options: OpenOptions | undefined, fs: FileSystem): Promise<Store> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid(`dir must be a non-empty string, got ${describeValue(dir)}`)
  const checked = checkOpenOptions(options)
  if (!checked.readOnly) {
    makeStoreDirectory(fs, dir, checked.durability)
  } else if (!fs.exists(path.join(dir, DATA_FILE_NAME))) {
    throw new StoreError(ErrorCode.IO, `no store in ${dir} to open read-only (${DATA_FILE_NAME} is missing)`)
  }
  const lock = lockDirectory(dir, checked.readOnly)
  try {
    return await Store.openLocked(dir, checked, lock, fs)
  } catch (error) {
    lock.release()
    throw error
  }
}
