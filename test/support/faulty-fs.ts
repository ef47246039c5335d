/**
 * A fault-injecting `FileSystem` (src/io/file.ts) over the real one, for the WAL and crash tests.
 *
 * 1. Injected errors. `failNext({ op, path, code, after })` arms a one-shot fault: the matching calls
 *    are counted and the one after `after` of them (the first, by default) fails with an errno-style
 *    error (`code` 'EIO' or 'ENOSPC'), converted with the engine's own `ioError`, just as the real file
 *    layer does, so EIO surfaces as code IO and ENOSPC as NO_SPACE. For 'write', `partialBytes` lets
 *    that many bytes of the failing call reach the file first (a short write, then the error).
 *    Operations: 'write' (write and writev), 'sync' (datasync and datasyncAsync), 'open', 'truncate'
 *    (of a StorageFile), 'rename', 'remove', 'syncDirectory'. `injected` lists the faults that fired.
 *
 * 2. Crashes. Two ways for "the process" to die, after which every call through this file system or
 *    any file it opened fails with EIO (closing a file still works, so the dead store can be closed
 *    to release its descriptors and its lock; then reopen with a fresh file system):
 *    - `kill()`: a process kill. Every byte already handed to the OS stays; nothing more is written.
 *    - `crash()`: a power loss (only with `trackDurability`, the default). What it models, exactly:
 *        * file content: every file written or truncated through this file system goes back to its
 *          content as of its last successful datasync (the content it had when this file system
 *          first touched it counts as durable). A datasync makes durable the writes and truncates
 *          made before the sync started, on any handle of that path.
 *        * names: a file created (`openFile` with create, when it did not exist) or a directory made
 *          (`mkdir`, when it did not exist) through this file system is durable only once its parent
 *          directory was synced (`syncDirectory`) afterwards; at the crash, those whose parent never
 *          was are removed (a directory with everything in it).
 *        * not modelled: renames and removals are durable at once; there is no tearing inside a
 *          sync (all of the unsynced writes are dropped, none partly kept); reads see the real file.
 *      Files and directories that existed before this file system touched them count as durable.
 *
 * 3. Counters: `calls` counts every operation by name.
 */

import fs from 'node:fs'
import path from 'node:path'
import { ioError, realFileSystem, type FileSystem, type OpenOptions, type StorageFile } from '../../src/io/file.js'

export type FaultOp = 'write' | 'sync' | 'open' | 'truncate' | 'rename' | 'remove' | 'syncDirectory'
export type FaultCode = 'EIO' | 'ENOSPC'

export interface Fault {
  op: FaultOp
  /** Only calls on a matching path count (for rename, the source path). Default: every path. */
  path?: RegExp
  code: FaultCode
  /** Matching calls that succeed before the one that fails. Default 0. */
  after?: number
  /** 'write' only: bytes of the failing call written before the error. Default 0. */
  partialBytes?: number
}

export type CountedOp = FaultOp | 'read' | 'size' | 'close' | 'list' | 'exists' | 'mkdir'

interface ArmedFault {
  fault: Fault
  left: number
}

type PendingChange = { kind: 'write'; position: number; bytes: Uint8Array } | { kind: 'truncate'; size: number }

interface Durable {
  /** The file's content as of its last datasync. */
  content: Uint8Array
  /** Writes and truncates since then, in order. */
  pending: PendingChange[]
}

const ERRNO: Record<FaultCode, number> = { EIO: -5, ENOSPC: -28 }

function errnoError(code: FaultCode, syscall: string, file: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${syscall} '${file}'`)
  error.code = code
  error.errno = ERRNO[code]
  error.syscall = syscall
  error.path = file
  return error
}

function applyChange(content: Uint8Array, change: PendingChange): Uint8Array {
  if (change.kind === 'truncate') {
    if (change.size <= content.length) return content.slice(0, change.size)
    const grown = new Uint8Array(change.size)
    grown.set(content)
    return grown
  }
  const end = change.position + change.bytes.length
  let out = content
  if (end > content.length) {
    out = new Uint8Array(end)
    out.set(content)
  }
  out.set(change.bytes, change.position)
  return out
}

export interface FaultyFileSystemOptions {
  /** Keep what `crash()` needs (a copy of every unsynced write). Default true. */
  trackDurability?: boolean
}

export class FaultyFileSystem implements FileSystem {
  readonly calls: Record<CountedOp, number> = {
    write: 0, sync: 0, open: 0, truncate: 0, rename: 0, remove: 0, syncDirectory: 0,
    read: 0, size: 0, close: 0, list: 0, exists: 0, mkdir: 0,
  }
  /** Faults that fired, in order. */
  readonly injected: { op: FaultOp; path: string; code: FaultCode }[] = []
  private armed: ArmedFault[] = []
  private dead = false
  private readonly track: boolean
  private readonly durable = new Map<string, Durable>()
  /** Files and directories created whose parent directory has not been synced since. */
  private readonly unsyncedNames = new Set<string>()

  constructor(
    options: FaultyFileSystemOptions = {},
    private readonly real: FileSystem = realFileSystem,
  ) {
    this.track = options.trackDurability ?? true
  }

  failNext(fault: Fault): void {
    this.armed.push({ fault, left: fault.after ?? 0 })
  }

  /** Disarms every fault that has not fired. */
  clearFaults(): void {
    this.armed = []
  }

  /** Faults armed that have not fired. */
  get pendingFaults(): number {
    return this.armed.length
  }

  get isDead(): boolean {
    return this.dead
  }

  /** A process kill: bytes already written stay; every later call fails. */
  kill(): void {
    this.dead = true
  }

  /** A power loss: unsynced writes and unsynced new names are undone (see the file comment). */
  crash(): void {
    if (!this.track) throw new Error('crash() needs trackDurability')
    this.dead = true
    // Names first: a directory that goes takes its files with it.
    const names = [...this.unsyncedNames].sort((a, b) => a.length - b.length)
    for (const name of names) fs.rmSync(name, { recursive: true, force: true })
    for (const [file, state] of this.durable) {
      if (!fs.existsSync(file)) continue
      fs.writeFileSync(file, state.content)
    }
    this.durable.clear()
    this.unsyncedNames.clear()
  }

  // ---- fault matching -------------------------------------------------------------------------

  /** Counts a call and throws if the file system is dead or an armed fault fires on it. */
  private check(op: FaultOp, file: string): { code: FaultCode; partialBytes: number } | null {
    this.calls[op]++
    if (this.dead) throw ioError(errnoError('EIO', op, file), file, `${op} (after the crash)`)
    let fired: Fault | null = null
    for (const armed of this.armed) {
      if (armed.fault.op !== op || (armed.fault.path !== undefined && !armed.fault.path.test(file))) continue
      if (armed.left === 0 && fired === null) fired = armed.fault
      else armed.left--
    }
    if (fired === null) return null
    this.armed = this.armed.filter((a) => a.fault !== fired)
    this.injected.push({ op, path: file, code: fired.code })
    return { code: fired.code, partialBytes: fired.partialBytes ?? 0 }
  }

  private fail(op: FaultOp, file: string, code: FaultCode, operation: string): never {
    throw ioError(errnoError(code, op, file), file, operation)
  }

  private alive(op: CountedOp, file: string, count = true): void {
    if (count) this.calls[op]++
    if (this.dead) throw ioError(errnoError('EIO', op, file), file, `${op} (after the crash)`)
  }

  // ---- durability bookkeeping -----------------------------------------------------------------

  /** The durable state of `file`, taken from the real file the first time it is changed. */
  private durableOf(file: string): Durable | null {
    if (!this.track) return null
    let state = this.durable.get(file)
    if (state === undefined) {
      state = { content: fs.existsSync(file) ? new Uint8Array(fs.readFileSync(file)) : new Uint8Array(0), pending: [] }
      this.durable.set(file, state)
    }
    return state
  }

  /** @internal */ noteWrite(file: string, bytes: Uint8Array, position: number): void {
    this.durableOf(file)?.pending.push({ kind: 'write', position, bytes: bytes.slice() })
  }

  /** @internal */ noteTruncate(file: string, size: number): void {
    this.durableOf(file)?.pending.push({ kind: 'truncate', size })
  }

  /** @internal How many changes a sync starting now covers. */ syncMark(file: string): number {
    return this.durable.get(file)?.pending.length ?? 0
  }

  /** @internal */ synced(file: string, upTo: number): void {
    const state = this.durable.get(file)
    if (state === undefined) return
    for (const change of state.pending.splice(0, upTo)) state.content = applyChange(state.content, change)
  }

  // ---- FileSystem -----------------------------------------------------------------------------

  openFile(file: string, options: OpenOptions = {}): StorageFile {
    const resolved = path.resolve(file)
    const fault = this.check('open', resolved)
    if (fault !== null) this.fail('open', resolved, fault.code, 'open')
    const existed = fs.existsSync(resolved)
    const inner = this.real.openFile(file, options)
    if (!existed && this.track) {
      this.unsyncedNames.add(resolved)
      this.durable.set(resolved, { content: new Uint8Array(0), pending: [] })
    }
    return new FaultyFile(this, inner, resolved)
  }

  list(dir: string): string[] {
    this.alive('list', dir)
    return this.real.list(dir)
  }

  exists(file: string): boolean {
    this.alive('exists', file)
    return this.real.exists(file)
  }

  mkdir(dir: string): void {
    this.alive('mkdir', dir)
    const created: string[] = []
    for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) created.push(d)
    this.real.mkdir(dir)
    if (this.track) for (const d of created) this.unsyncedNames.add(d)
  }

  remove(file: string): void {
    const resolved = path.resolve(file)
    const fault = this.check('remove', resolved)
    if (fault !== null) this.fail('remove', resolved, fault.code, 'remove')
    this.real.remove(file)
    this.durable.delete(resolved)
    this.unsyncedNames.delete(resolved)
  }

  rename(from: string, to: string): void {
    const source = path.resolve(from)
    const target = path.resolve(to)
    const fault = this.check('rename', source)
    if (fault !== null) this.fail('rename', source, fault.code, 'rename')
    this.real.rename(from, to)
    const state = this.durable.get(source)
    this.durable.delete(source)
    if (state !== undefined) this.durable.set(target, state)
    else this.durable.delete(target)
    this.unsyncedNames.delete(target)
    if (this.unsyncedNames.delete(source)) this.unsyncedNames.add(target)
  }

  syncDirectory(dir: string): void {
    const resolved = path.resolve(dir)
    const fault = this.check('syncDirectory', resolved)
    if (fault !== null) this.fail('syncDirectory', resolved, fault.code, 'fsync directory')
    this.real.syncDirectory(dir)
    for (const name of [...this.unsyncedNames]) if (path.dirname(name) === resolved) this.unsyncedNames.delete(name)
  }

  /** @internal Used by FaultyFile. */
  checkFile(op: FaultOp, file: string): { code: FaultCode; partialBytes: number } | null {
    return this.check(op, file)
  }

  /** @internal Used by FaultyFile. */
  aliveFile(op: CountedOp, file: string, count = true): void {
    this.alive(op, file, count)
  }

  /** @internal */
  failFile(op: FaultOp, file: string, code: FaultCode, operation: string): never {
    this.fail(op, file, code, operation)
  }
}

class FaultyFile implements StorageFile {
  constructor(
    private readonly owner: FaultyFileSystem,
    private readonly inner: StorageFile,
    readonly path: string,
  ) {}

  read(buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.owner.aliveFile('read', this.path)
    return this.inner.read(buffer, offset, length, position)
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): void {
    const fault = this.owner.checkFile('write', this.path)
    const bytes = buffer.subarray(offset, offset + length)
    if (fault !== null) {
      const partial = Math.min(fault.partialBytes, length)
      if (partial > 0) this.writeThrough(bytes.subarray(0, partial), position)
      this.owner.failFile('write', this.path, fault.code, 'write')
    }
    this.writeThrough(bytes, position)
  }

  writev(buffers: readonly Uint8Array[], position: number): void {
    let total = 0
    for (const b of buffers) total += b.byteLength
    const joined = new Uint8Array(total)
    let at = 0
    for (const b of buffers) {
      joined.set(b, at)
      at += b.byteLength
    }
    this.write(joined, 0, total, position)
  }

  private writeThrough(bytes: Uint8Array, position: number): void {
    this.inner.write(bytes, 0, bytes.byteLength, position)
    this.owner.noteWrite(this.path, bytes, position)
  }

  size(): number {
    this.owner.aliveFile('size', this.path)
    return this.inner.size()
  }

  truncate(size: number): void {
    const fault = this.owner.checkFile('truncate', this.path)
    if (fault !== null) this.owner.failFile('truncate', this.path, fault.code, 'truncate')
    this.inner.truncate(size)
    this.owner.noteTruncate(this.path, size)
  }

  datasync(): void {
    const fault = this.owner.checkFile('sync', this.path)
    if (fault !== null) this.owner.failFile('sync', this.path, fault.code, 'fdatasync')
    const mark = this.owner.syncMark(this.path)
    this.inner.datasync()
    this.owner.synced(this.path, mark)
  }

  async datasyncAsync(): Promise<void> {
    const fault = this.owner.checkFile('sync', this.path)
    if (fault !== null) this.owner.failFile('sync', this.path, fault.code, 'fdatasync')
    const mark = this.owner.syncMark(this.path)
    await this.inner.datasyncAsync()
    // A crash while the sync was in flight: the sync never "returned".
    this.owner.aliveFile('sync', this.path, false)
    this.owner.synced(this.path, mark)
  }

  close(): void {
    this.owner.calls.close++
    this.inner.close()
  }
}
