/**
 * One writer per store: an exclusive, non-blocking flock on `<dir>/LOCK` (read-only opens take a
 * shared one). A second open, from another
 * process or from this one, fails at once with LOCKED. The kernel drops the lock when the process dies,
 * so a crash never leaves a store locked.
 */

import fs from 'node:fs'
import path from 'node:path'
import { flockSync } from 'fs-ext'
import { ErrorCode, StoreError } from '../errors.js'
import { ioError } from './file.js'

export const LOCK_FILE_NAME = 'LOCK'

export interface DirectoryLock {
  release(): void
}

/**
 * Locks `dir`: exclusively (one writer), or `shared` (read-only opens, which may coexist with each
 * other but not with a writer).
 */
export function lockDirectory(dir: string, shared = false): DirectoryLock {
  const lockPath = path.join(dir, LOCK_FILE_NAME)
  let fd: number
  try {
    fd = fs.openSync(lockPath, shared ? fs.constants.O_RDONLY | fs.constants.O_CREAT : 'a', 0o644)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // A read-only open of a store on a read-only file system without a LOCK file: no writer can be
    // holding a lock there either (it would have had to create the file).
    if (shared && (code === 'EROFS' || code === 'EACCES')) return { release(): void {} }
    throw ioError(error, lockPath, 'open')
  }
  try {
    flockSync(fd, shared ? 'shnb' : 'exnb')
  } catch (error) {
    fs.closeSync(fd)
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      throw new StoreError(ErrorCode.LOCKED, `store ${dir} is locked by another open (${lockPath})`, { cause: error })
    }
    throw ioError(error, lockPath, 'flock')
  }
  let held = true
  return {
    release(): void {
      if (!held) return
      held = false
      try {
        flockSync(fd, 'un')
      } finally {
        fs.closeSync(fd)
      }
    },
  }
}
