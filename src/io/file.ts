/**
 * The one file interface: every byte the engine reads or writes goes through `StorageFile`. The real
 * implementation uses positioned, synchronous `fs` calls on a descriptor; a fault-injecting one (crash
 * suite) implements the same interface. Errors come out typed: ENOSPC as NO_SPACE, anything else as IO,
 * naming the file and the operation.
 */

import fs from 'node:fs'
import { ErrorCode, StoreError } from '../errors.js'

export interface StorageFile {
  readonly path: string
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; returns the bytes read (0 at EOF). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): number
  /** Writes all of `buffer[offset..offset+length)` at `position` (loops over short writes). */
  write(buffer: Uint8Array, offset: number, length: number, position: number): void
  /** Writes the buffers back to back starting at `position`, in as few calls as the OS allows. */
  writev(buffers: readonly Uint8Array[], position: number): void
  size(): number
  truncate(size: number): void
  /** Makes written data durable (fdatasync: data and the metadata needed to read it). */
  datasync(): void
  /** `datasync` off the event loop (libuv's thread pool), so writers can queue the next group. */
  datasyncAsync(): Promise<void>
  close(): void
  /**
   * The open descriptor, for a bulk load's writer thread (pages/bulk-writer.ts), which cannot share
   * this object, to write through this interface on its side (`fileOnDescriptor`); absent where
   * writes must stay with this object (the fault-injecting files of test/), which then take them on
   * the calling thread.
   */
  descriptor?(): number
  /**
   * Whether the descriptor was opened for writing: a bulk load's writer thread may then open the
   * path again for direct writes (O_DIRECT). False or absent: it must not.
   */
  readonly writable?: boolean
}

/**
 * Every directory operation the engine makes, so that a fault-injecting implementation can stand in
 * for the real one (test/crash). Errors are typed as in `openFile`.
 */
export interface FileSystem {
  openFile(path: string, options?: OpenOptions): StorageFile
  /** Names in a directory (not paths), sorted. */
  list(dir: string): string[]
  exists(path: string): boolean
  /** Makes `dir` and any missing parent (not synced: `open` syncs each new entry's parent at 'fsync'). */
  mkdir(dir: string): void
  remove(path: string): void
  rename(from: string, to: string): void
  syncDirectory(dir: string): void
}

export interface OpenOptions {
  /** Create the file if it does not exist. */
  create?: boolean
  readOnly?: boolean
}

/** Maps a Node fs error to a StoreError naming the file and operation. */
export function ioError(error: unknown, path: string, operation: string): StoreError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const message = `${operation} ${path}: ${error instanceof Error ? error.message : String(error)}`
  return new StoreError(code === 'ENOSPC' || code === 'EDQUOT' ? ErrorCode.NO_SPACE : ErrorCode.IO, message, { cause: error })
}

export function openFile(path: string, options: OpenOptions = {}): StorageFile {
  const { O_RDONLY, O_RDWR, O_CREAT } = fs.constants
  const flags = options.readOnly === true ? O_RDONLY : options.create === true ? O_RDWR | O_CREAT : O_RDWR
  let fd: number
  try {
    fd = fs.openSync(path, flags, 0o644)
  } catch (error) {
    throw ioError(error, path, 'open')
  }
  return new RealFile(path, fd, options.readOnly !== true, true)
}

/**
 * The file interface over a descriptor another `StorageFile` opened and owns (its `descriptor()`),
 * as a worker thread gets it: the same positioned calls and typed errors, naming `path`. `close`
 * only forgets the descriptor; the file that opened it closes it.
 */
export function fileOnDescriptor(path: string, fd: number, writable: boolean): StorageFile {
  return new RealFile(path, fd, writable, false)
}

/** The largest buffer alignment `openDirect` looks for, and its step. */
export const DIRECT_ALIGN_MAX = 4096
const DIRECT_PROBE_STEP = 16

/**
 * Opens `path` a second time, for writing with O_DIRECT: the bytes go from the caller's buffer to the
 * device without a copy in the page cache (nothing is durable before a `datasync` of the file all the
 * same: O_DIRECT neither flushes the device's cache nor commits metadata). Such writes want the
 * buffer's address aligned to the device's logical block (512 or 4096 bytes), which JavaScript
 * cannot see: `bufferOffset` is the first offset into `buffer`, in steps of DIRECT_PROBE_STEP below
 * DIRECT_ALIGN_MAX, from which a DIRECT_ALIGN_MAX-byte O_DIRECT write to a scratch file beside `path`
 * (`<path>.direct-probe`, deleted after) succeeds; it fails with EINVAL before it. (A read cannot
 * tell: one over a hole is answered without the device, at any address.) Null where there is no
 * O_DIRECT (other platforms, tmpfs) or no such offset: write through the page cache then. `buffer`
 * needs DIRECT_ALIGN_MAX bytes to spare.
 */
export function openDirect(path: string, buffer: Uint8Array): { file: StorageFile; bufferOffset: number } | null {
  const flag = (fs.constants as { O_DIRECT?: number }).O_DIRECT
  if (flag === undefined) return null
  const probePath = `${path}.direct-probe`
  let bufferOffset = -1
  try {
    const probe = fs.openSync(probePath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | flag)
    try {
      for (let at = 0; at < DIRECT_ALIGN_MAX && bufferOffset < 0; at += DIRECT_PROBE_STEP) {
        try {
          if (fs.writeSync(probe, buffer, at, DIRECT_ALIGN_MAX, 0) === DIRECT_ALIGN_MAX) bufferOffset = at
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'EINVAL') break
        }
      }
    } finally {
      fs.closeSync(probe)
      fs.rmSync(probePath, { force: true })
    }
  } catch {
    return null
  }
  if (bufferOffset < 0) return null
  try {
    return { file: new RealFile(path, fs.openSync(path, fs.constants.O_RDWR | flag), true, true), bufferOffset }
  } catch {
    return null
  }
}

class RealFile implements StorageFile {
  private fd: number

  constructor(
    readonly path: string,
    fd: number,
    readonly writable: boolean,
    /** Whether `close` closes the descriptor (false: another file owns it, `fileOnDescriptor`). */
    private readonly owned: boolean,
  ) {
    this.fd = fd
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): number {
    let done = 0
    try {
      while (done < length) {
        const n = fs.readSync(this.fd, buffer, offset + done, length - done, position + done)
        if (n === 0) break
        done += n
      }
    } catch (error) {
      throw ioError(error, this.path, 'read')
    }
    return done
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): void {
    let done = 0
    try {
      while (done < length) done += fs.writeSync(this.fd, buffer, offset + done, length - done, position + done)
    } catch (error) {
      throw ioError(error, this.path, 'write')
    }
  }

  writev(buffers: readonly Uint8Array[], position: number): void {
    let total = 0
    for (const buffer of buffers) total += buffer.byteLength
    let done = 0
    try {
      done = fs.writevSync(this.fd, buffers as Uint8Array[], position)
    } catch (error) {
      throw ioError(error, this.path, 'write')
    }
    if (done === total) return
    // A short write: finish buffer by buffer from where it stopped.
    let at = 0
    for (const buffer of buffers) {
      const end = at + buffer.byteLength
      if (end > done) {
        const skip = Math.max(0, done - at)
        this.write(buffer, skip, buffer.byteLength - skip, position + at + skip)
      }
      at = end
    }
  }

  descriptor(): number {
    return this.fd
  }

  size(): number {
    try {
      return fs.fstatSync(this.fd).size
    } catch (error) {
      throw ioError(error, this.path, 'stat')
    }
  }

  truncate(size: number): void {
    try {
      fs.ftruncateSync(this.fd, size)
    } catch (error) {
      throw ioError(error, this.path, 'truncate')
    }
  }

  datasync(): void {
    try {
      fs.fdatasyncSync(this.fd)
    } catch (error) {
      throw ioError(error, this.path, 'fdatasync')
    }
  }

  datasyncAsync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.fd, (error) => (error ? reject(ioError(error, this.path, 'fdatasync')) : resolve()))
    })
  }

  close(): void {
    if (this.fd < 0) return
    const fd = this.fd
    this.fd = -1
    if (!this.owned) return
    try {
      fs.closeSync(fd)
    } catch (error) {
      throw ioError(error, this.path, 'close')
    }
  }
}

/** fsyncs a directory, so that files created or renamed in it survive a crash. */
export function syncDirectory(dir: string): void {
  let fd = -1
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch (error) {
    throw ioError(error, dir, 'fsync directory')
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}

function wrap<T>(operation: string, path: string, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw ioError(error, path, operation)
  }
}

/** The real file system (positioned fs calls on descriptors). */
export const realFileSystem: FileSystem = {
  openFile,
  list: (dir) => wrap('list', dir, () => fs.readdirSync(dir).sort()),
  exists: (path) => fs.existsSync(path),
  mkdir: (dir) => wrap('mkdir', dir, () => void fs.mkdirSync(dir, { recursive: true })),
  remove: (path) => wrap('remove', path, () => fs.rmSync(path, { force: true })),
  rename: (from, to) => wrap('rename', from, () => fs.renameSync(from, to)),
  syncDirectory,
}
