// A FileSystem (src/io/file.ts) for the crash suite, over the engine's real one. Types: crash-fs.d.mts.
//
// 1. Power loss (`holdUnsynced: true`). Every write and truncate of a file is kept in this process's
//    memory, and reaches the real file only when the file is datasynced; reads, and size(), see the
//    unsynced changes laid over the real file. So when the process dies (SIGKILL from the parent, a
//    kill point, or `tearAndDie`), exactly what was never synced is gone, as in a power cut.
//    - A sync in flight: datasyncAsync takes a mark, yields to the event loop (a kill then loses
//      everything after the last completed sync), then writes the marked changes and fdatasyncs.
//    - Directory entries (`journalPath`): creating a file, making a directory, removing and renaming
//      are done on the real file system at once, but each is first written to a journal file, and
//      every syncDirectory after it is journaled too. After the process is dead, `powerCut(journal)`
//      (run by the parent) undoes every entry whose directory was not synced after it: a created file
//      or directory is removed (with everything in it), a removed file comes back (removal moves it
//      into `graveDir` instead of deleting it), a rename is reversed. A rename counts as durable once
//      both its directories were synced after it. `mkdir` journals every directory it makes, parents
//      included, so a store created under a directory that does not exist yet has its own creation
//      undone unless its parent was synced (create-power-loss.test.ts; elsewhere the suite makes the
//      store directory itself and treats it as durable). Not modelled: the LOCK file (the engine
//      makes it through node:fs, not this interface).
//    - `tearAndDie(rng)`: the power cut with torn writes, as SQLite's crash VFS does. Each unsynced
//      write is lost (40%), reaches the file whole (35%), or is torn: cut into 512-byte sectors (of
//      file offset), each dropped, written, or written as garbage; each unsynced truncate happens or
//      not; so any subset of the unsynced writes may survive, in any order. Then the process
//      SIGKILLs itself. Garbage stays inside the bytes the write covered ("powersafe overwrite": a
//      torn sector never damages bytes the application did not write). A process can only do this to
//      itself, so the child arms it: with a timer at a random moment, at the n-th sync of a file
//      (`tearAtSync`: the power goes while that sync is in flight, with everything since the last
//      one unsynced: where a missing or misordered sync shows), or at a kill point.
//
//      `tearAtSync.directories`: directory syncs count as syncs too (the power may go as one starts).
//
// 2. Injected errors (`failNext`): the (after + 1)-th matching call of an operation fails with EIO or
//    ENOSPC, converted by the engine's own ioError (IO or NO_SPACE), one shot. Operations: 'write'
//    (write, writev), 'sync' (datasync, datasyncAsync), 'open', 'truncate', 'rename', 'remove',
//    'syncDirectory'. `calls` counts every operation (`callsByPath` per file), for "fail the N-th,
//    for rising N".
//    - fsyncgate (`dropUnsynced: true` on a 'sync' fault, with `holdUnsynced`): the failed sync
//      marks the file's unsynced writes clean, as Linux does after a writeback error: they never
//      reach the file (a later sync or a power cut drops them; reads see them until the next sync),
//      and a retried sync succeeds without them. `droppedWrites` counts them.
//    - A disk that stays full (`fillDisk`): from the (after + 1)-th write of a matching file on,
//      every call that needs space fails with ENOSPC, retries included, until `freeSpace()`: every
//      write and every growing truncate, or with `growOnly` only the writes past a file's end and
//      growing truncates (an overwrite of preallocated bytes still succeeds).
//
// The engine's file module (dist/io/file.js) is passed in, so that errors are the engine's own
// StoreError class and the same code runs in the writer child and in-process.

import nodeFs from 'node:fs'
import path from 'node:path'

const ERRNO = { EIO: -5, ENOSPC: -28 }
/** process.kill as it was when this module loaded (the writer wraps it to tear at kill points). */
const realKill = process.kill.bind(process)
const SECTOR_BYTES = 512

function errnoError(code, syscall, file) {
  const error = new Error(`${code}: injected fault, ${syscall} '${file}'`)
  error.code = code
  error.errno = ERRNO[code]
  error.syscall = syscall
  error.path = file
  return error
}

export class CrashFileSystem {
  /**
   * @param fileModule the engine's io/file.js (realFileSystem, ioError)
   * @param options { holdUnsynced?: boolean, journalPath?: string, graveDir?: string,
   *   tearAtSync?: { n, pattern: RegExp, rng } }
   */
  constructor(fileModule, options = {}) {
    this.real = fileModule.realFileSystem
    this.ioError = fileModule.ioError
    this.hold = options.holdUnsynced === true
    this.calls = { write: 0, sync: 0, open: 0, truncate: 0, rename: 0, remove: 0, syncDirectory: 0 }
    /** op -> path -> calls (for faults aimed at one file: "the n-th sync of the log"). */
    this.callsByPath = Object.fromEntries(Object.keys(this.calls).map((op) => [op, new Map()]))
    this.injected = []
    this.faults = []
    /** The fault that fired last (check), so that a sync can tell whether it drops the dirty pages. */
    this.lastFired = null
    /** Unsynced writes thrown away by failed syncs (fsyncgate). */
    this.droppedWrites = 0
    /** A disk that stays full (fillDisk), or null; and how many calls a full disk refused. */
    this.full = null
    this.spaceRefusals = 0
    /** Writes that counted towards filling the disk (with `after: Infinity`: how many there are). */
    this.spaceMatches = 0
    /** inode -> { path, ops: [{ seq, kind, position, bytes } | { seq, kind, size }], seq } */
    this.inodes = new Map()
    this.journalFd = -1
    this.graveDir = options.graveDir ?? null
    this.graves = 0
    this.dead = false
    /** { n, pattern: RegExp, rng }: tear and die at the n-th sync of a file matching pattern. */
    this.tearAtSync = options.tearAtSync ?? null
    this.syncsSeen = 0
    if (options.journalPath !== undefined) {
      if (this.graveDir === null) throw new Error('a journal needs a graveDir')
      nodeFs.mkdirSync(this.graveDir, { recursive: true })
      this.journalFd = nodeFs.openSync(options.journalPath, 'a')
    }
  }

  failNext(fault) {
    this.faults.push({ ...fault, left: fault.after ?? 0 })
  }

  /**
   * A disk that fills up and stays full (see the file comment): the (after + 1)-th call matching
   * `path` that needs space fails with ENOSPC, and from then on every call of any file that needs
   * space does, retries included, until freeSpace(). A growing truncate needs space, and so does
   * every write, or with `growOnly` only a write past the file's end (an overwrite of allocated
   * bytes, such as the log's preallocated tail, still succeeds).
   */
  fillDisk({ after = 0, path: pattern, growOnly = false } = {}) {
    this.full = { left: after, path: pattern ?? null, growOnly, triggered: false, refused: 0 }
  }

  /** Space returns: writes succeed again. Returns how many calls the full disk refused. */
  freeSpace() {
    const refused = this.full?.refused ?? 0
    this.full = null
    return refused
  }

  /** After this, every call fails with EIO (an in-process "kill": bytes already written stay). */
  die() {
    this.dead = true
  }

  // ---- faults and the journal -----------------------------------------------------------------

  check(op, file) {
    this.calls[op]++
    const byPath = this.callsByPath[op]
    byPath.set(file, (byPath.get(file) ?? 0) + 1)
    if (this.dead) throw this.ioError(errnoError('EIO', op, file), file, `${op} (after the crash)`)
    let fired = null
    for (const fault of this.faults) {
      if (fault.op !== op || (fault.path !== undefined && !fault.path.test(file))) continue
      if (fault.left === 0 && fired === null) fired = fault
      else fault.left--
    }
    if (fired === null) return
    this.faults = this.faults.filter((f) => f !== fired)
    this.injected.push({ op, path: file, code: fired.code })
    this.lastFired = fired
    throw this.ioError(errnoError(fired.code, op, file), file, op)
  }

  /**
   * A write or truncate (`growsFile()`: whether it would grow the file) on a disk that may be full
   * (fillDisk). It needs space if it grows the file, or if it is a write and not `growOnly`.
   */
  checkSpace(op, file, growsFile) {
    const full = this.full
    if (full === null) return
    const needsSpace = op === 'write' && !full.growOnly ? true : growsFile()
    if (!needsSpace) return
    if (!full.triggered) {
      if (full.path !== null && !full.path.test(file)) return
      this.spaceMatches++
      if (full.left > 0) {
        full.left--
        return
      }
      full.triggered = true
      this.injected.push({ op, path: file, code: 'ENOSPC' })
    }
    full.refused++
    this.spaceRefusals++
    throw this.ioError(errnoError('ENOSPC', op, file), file, op)
  }

  /**
   * A sync of a held file: a fault with `dropUnsynced` fails it as Linux does after a writeback
   * error ("fsyncgate"): the file's unsynced writes are marked clean, so they never reach the disk
   * (reads still see them until the next sync evicts them) and a retried sync succeeds without them.
   */
  checkSync(state, file) {
    try {
      this.check('sync', file)
    } catch (error) {
      if (this.lastFired?.dropUnsynced === true && state !== null) {
        for (const op of state.ops) {
          if (op.kind === 'write' && op.lost !== true) this.droppedWrites++
          op.lost = true
        }
      }
      this.lastFired = null
      throw error
    }
  }

  alive(op, file) {
    if (this.dead) throw this.ioError(errnoError('EIO', op, file), file, `${op} (after the crash)`)
  }

  journal(entry) {
    if (this.journalFd >= 0) nodeFs.writeSync(this.journalFd, JSON.stringify(entry) + '\n')
  }

  grave() {
    return path.join(this.graveDir, String(this.graves++))
  }

  // ---- unsynced changes -----------------------------------------------------------------------

  inode(file) {
    const ino = nodeFs.statSync(file).ino
    let state = this.inodes.get(ino)
    if (state === undefined) this.inodes.set(ino, (state = { path: file, ops: [], seq: 0 }))
    state.path = file
    return state
  }

  /** Writes the held changes with seq < mark to the real file (through `inner`). */
  apply(state, inner, mark) {
    while (state.ops.length > 0 && state.ops[0].seq < mark) {
      const op = state.ops.shift()
      if (op.lost === true) continue
      if (op.kind === 'write') inner.write(op.bytes, 0, op.bytes.byteLength, op.position)
      else inner.truncate(op.size)
    }
  }

  /** Called as a held file's sync starts: the power may go right then (`tearAtSync`). */
  syncStarting(file) {
    const tear = this.tearAtSync
    if (tear === null || !tear.pattern.test(file)) return
    if (++this.syncsSeen === tear.n) this.tearAndDie(tear.rng)
  }

  /**
   * The power cut with torn writes (see the file comment), then SIGKILL. Directory entries are
   * left to powerCut(journal), which the parent runs after this process is gone.
   */
  tearAndDie(rng) {
    for (const state of this.inodes.values()) {
      if (state.ops.length === 0) continue
      let fd
      try {
        fd = nodeFs.openSync(state.path, 'r+')
      } catch {
        continue
      }
      for (const op of state.ops) {
        if (op.lost === true) continue
        if (op.kind === 'truncate') {
          if (rng.chance(0.5)) nodeFs.ftruncateSync(fd, op.size)
          continue
        }
        // Each write is lost, reaches the disk whole, or is torn sector by sector.
        const fate = rng.next()
        if (fate < 0.4) continue
        if (fate < 0.75) {
          nodeFs.writeSync(fd, op.bytes, 0, op.bytes.byteLength, op.position)
          continue
        }
        let at = 0
        while (at < op.bytes.byteLength) {
          const sectorEnd = (Math.floor((op.position + at) / SECTOR_BYTES) + 1) * SECTOR_BYTES
          const end = Math.min(op.bytes.byteLength, sectorEnd - op.position)
          const x = rng.next()
          if (x < 0.4) nodeFs.writeSync(fd, op.bytes, at, end - at, op.position + at)
          else if (x < 0.6) {
            const garbage = new Uint8Array(end - at)
            for (let i = 0; i < garbage.length; i++) garbage[i] = rng.int(256)
            nodeFs.writeSync(fd, garbage, 0, garbage.length, op.position + at)
          }
          at = end
        }
      }
      nodeFs.closeSync(fd)
    }
    realKill(process.pid, 'SIGKILL')
    for (;;) {
      // SIGKILL lands before this loop ends.
    }
  }

  // ---- FileSystem -----------------------------------------------------------------------------

  openFile(file, options = {}) {
    const resolved = path.resolve(file)
    this.check('open', resolved)
    if (options.create === true && !nodeFs.existsSync(resolved)) this.journal({ op: 'create', path: resolved })
    const inner = this.real.openFile(file, options)
    return this.hold ? new HeldFile(this, inner, resolved, this.inode(resolved)) : new PassFile(this, inner, resolved)
  }

  list(dir) {
    this.alive('list', dir)
    return this.real.list(dir)
  }

  exists(file) {
    this.alive('exists', file)
    return this.real.exists(file)
  }

  mkdir(dir) {
    this.alive('mkdir', dir)
    const missing = []
    for (let d = path.resolve(dir); !nodeFs.existsSync(d); d = path.dirname(d)) missing.unshift(d)
    for (const d of missing) this.journal({ op: 'mkdir', path: d })
    this.real.mkdir(dir)
  }

  remove(file) {
    const resolved = path.resolve(file)
    this.check('remove', resolved)
    if (this.journalFd >= 0 && nodeFs.existsSync(resolved)) {
      const grave = this.grave()
      this.journal({ op: 'remove', path: resolved, grave })
      nodeFs.renameSync(resolved, grave)
      return
    }
    this.real.remove(file)
  }

  rename(from, to) {
    const source = path.resolve(from)
    const target = path.resolve(to)
    this.check('rename', source)
    if (this.journalFd >= 0) {
      let grave = null
      if (nodeFs.existsSync(target)) {
        grave = this.grave()
        nodeFs.renameSync(target, grave)
      }
      this.journal({ op: 'rename', from: source, to: target, grave })
    }
    this.real.rename(from, to)
  }

  syncDirectory(dir) {
    const resolved = path.resolve(dir)
    this.check('syncDirectory', resolved)
    if (this.tearAtSync?.directories === true) this.syncStarting(resolved)
    this.real.syncDirectory(dir)
    this.journal({ op: 'syncdir', path: resolved })
  }
}

/** A file whose changes go straight through (fault injection only). */
class PassFile {
  constructor(owner, inner, file) {
    this.owner = owner
    this.inner = inner
    this.path = file
  }
  read(buffer, offset, length, position) {
    this.owner.alive('read', this.path)
    return this.inner.read(buffer, offset, length, position)
  }
  write(buffer, offset, length, position) {
    this.owner.check('write', this.path)
    this.owner.checkSpace('write', this.path, () => position + length > this.inner.size())
    this.inner.write(buffer, offset, length, position)
  }
  writev(buffers, position) {
    this.owner.check('write', this.path)
    this.owner.checkSpace('write', this.path, () => position + buffers.reduce((n, b) => n + b.byteLength, 0) > this.inner.size())
    this.inner.writev(buffers, position)
  }
  size() {
    this.owner.alive('size', this.path)
    return this.inner.size()
  }
  truncate(size) {
    this.owner.check('truncate', this.path)
    this.owner.checkSpace('truncate', this.path, () => size > this.inner.size())
    this.inner.truncate(size)
  }
  datasync() {
    this.owner.checkSync(null, this.path)
    this.inner.datasync()
  }
  async datasyncAsync() {
    this.owner.checkSync(null, this.path)
    await this.inner.datasyncAsync()
    this.owner.alive('sync', this.path)
  }
  close() {
    this.inner.close()
  }
}

/** A file whose writes and truncates stay in memory until a datasync (power-loss model). */
class HeldFile {
  constructor(owner, inner, file, state) {
    this.owner = owner
    this.inner = inner
    this.path = file
    this.state = state
  }

  virtualSize(realSize) {
    let size = realSize
    for (const op of this.state.ops) size = op.kind === 'write' ? Math.max(size, op.position + op.bytes.byteLength) : op.size
    return size
  }

  read(buffer, offset, length, position) {
    this.owner.alive('read', this.path)
    const realSize = this.inner.size()
    const got = position < realSize ? this.inner.read(buffer, offset, Math.min(length, realSize - position), position) : 0
    if (this.state.ops.length === 0) return got
    buffer.fill(0, offset + got, offset + length)
    const end = position + length
    for (const op of this.state.ops) {
      if (op.kind === 'truncate') {
        if (op.size < end) buffer.fill(0, offset + Math.max(0, op.size - position), offset + length)
        continue
      }
      const from = Math.max(position, op.position)
      const to = Math.min(end, op.position + op.bytes.byteLength)
      if (from < to) buffer.set(op.bytes.subarray(from - op.position, to - op.position), offset + from - position)
    }
    return Math.max(0, Math.min(length, this.virtualSize(realSize) - position))
  }

  write(buffer, offset, length, position) {
    this.owner.check('write', this.path)
    this.owner.checkSpace('write', this.path, () => position + length > this.size())
    this.state.ops.push({ seq: this.state.seq++, kind: 'write', position, bytes: buffer.slice(offset, offset + length) })
  }

  writev(buffers, position) {
    this.owner.check('write', this.path)
    this.owner.checkSpace('write', this.path, () => position + buffers.reduce((n, b) => n + b.byteLength, 0) > this.size())
    let at = position
    for (const b of buffers) {
      this.state.ops.push({ seq: this.state.seq++, kind: 'write', position: at, bytes: b.slice() })
      at += b.byteLength
    }
  }

  size() {
    this.owner.alive('size', this.path)
    return this.virtualSize(this.inner.size())
  }

  truncate(size) {
    this.owner.check('truncate', this.path)
    this.owner.checkSpace('truncate', this.path, () => size > this.size())
    this.state.ops.push({ seq: this.state.seq++, kind: 'truncate', size })
  }

  datasync() {
    this.owner.checkSync(this.state, this.path)
    this.owner.syncStarting(this.path)
    this.owner.apply(this.state, this.inner, this.state.seq)
    this.inner.datasync()
  }

  async datasyncAsync() {
    this.owner.checkSync(this.state, this.path)
    this.owner.syncStarting(this.path)
    const mark = this.state.seq
    // The sync is in flight: a kill now loses everything since the last completed one.
    await new Promise((resolve) => setImmediate(resolve))
    this.owner.alive('sync', this.path)
    this.owner.apply(this.state, this.inner, mark)
    await this.inner.datasyncAsync()
    this.owner.alive('sync', this.path)
  }

  close() {
    this.inner.close()
  }
}

/**
 * After the process that used a journaling CrashFileSystem is dead: undoes every directory change
 * that no later directory sync made durable (see the file comment), empties the grave directory and
 * removes the journal. Returns what it undid (for messages).
 */
export function powerCut(journalPath, graveDir) {
  const undone = []
  if (nodeFs.existsSync(journalPath)) {
    const lines = nodeFs.readFileSync(journalPath, 'utf8').split('\n')
    const entries = []
    for (const line of lines) {
      if (line === '') continue
      try {
        entries.push(JSON.parse(line))
      } catch {
        // A line cut by the kill: its operation may or may not have happened; it never synced.
      }
    }
    const syncedLater = new Set()
    const durable = new Array(entries.length).fill(false)
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]
      if (e.op === 'syncdir') syncedLater.add(e.path)
      else if (e.op === 'rename') durable[i] = syncedLater.has(path.dirname(e.from)) && syncedLater.has(path.dirname(e.to))
      else durable[i] = syncedLater.has(path.dirname(e.path))
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]
      if (e.op === 'syncdir' || durable[i]) continue
      if (e.op === 'create' || e.op === 'mkdir') {
        if (nodeFs.existsSync(e.path)) {
          nodeFs.rmSync(e.path, { recursive: true, force: true })
          undone.push(`${e.op} ${e.path}`)
        }
      } else if (e.op === 'remove') {
        if (nodeFs.existsSync(e.grave) && nodeFs.existsSync(path.dirname(e.path))) {
          nodeFs.renameSync(e.grave, e.path)
          undone.push(`remove ${e.path}`)
        }
      } else if (e.op === 'rename') {
        if (nodeFs.existsSync(e.to) && nodeFs.existsSync(path.dirname(e.from))) nodeFs.renameSync(e.to, e.from)
        if (e.grave !== null && nodeFs.existsSync(e.grave)) nodeFs.renameSync(e.grave, e.to)
        undone.push(`rename ${e.from} -> ${e.to}`)
      }
    }
    nodeFs.rmSync(journalPath, { force: true })
  }
  if (graveDir !== undefined) nodeFs.rmSync(graveDir, { recursive: true, force: true })
  return undone
}
