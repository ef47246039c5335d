/**
 * The fault-injecting file system the WAL and crash tests stand on (test/support/faulty-fs.ts):
 * faults fire on exactly the call asked for, with the engine's error codes; a kill keeps written
 * bytes; a power loss keeps exactly what was synced, and new names only once their directory was.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../../src/errors.js'
import { FaultyFileSystem } from '../support/faulty-fs.js'
import { useTempDirs } from '../support/wal-helpers.js'

const tempDir = useTempDirs('learned-storage-faulty-fs-')

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    return error instanceof StoreError ? error.code : `not a StoreError: ${String(error)}`
  }
  return 'ok'
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const read = (file: string): string => fs.readFileSync(file, 'utf8')

describe('FaultyFileSystem', () => {
  it('fails the (after + 1)-th matching call once, with NO_SPACE for ENOSPC and IO for EIO, and counts calls', async () => {
    const dir = tempDir()
    const ffs = new FaultyFileSystem()
    const a = ffs.openFile(path.join(dir, 'a.wal'), { create: true })
    const b = ffs.openFile(path.join(dir, 'b.dat'), { create: true })
    ffs.failNext({ op: 'write', path: /\.wal$/, code: 'ENOSPC', after: 2 })
    const results: string[] = []
    for (let i = 0; i < 4; i++) {
      results.push(codeOf(() => b.write(bytes('x'), 0, 1, i)))
      results.push(codeOf(() => a.write(bytes('y'), 0, 1, i)))
    }
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'NO_SPACE', 'ok', 'ok'])
    expect(ffs.injected).toEqual([{ op: 'write', path: path.join(dir, 'a.wal'), code: 'ENOSPC' }])
    expect(ffs.calls.write).toBe(8)
    expect(read(path.join(dir, 'a.wal'))).toBe('yy\0y')

    ffs.failNext({ op: 'sync', code: 'EIO' })
    const rejected = a.datasyncAsync()
    expect(rejected).toBeInstanceOf(Promise)
    await expect(rejected).rejects.toMatchObject({ code: 'IO' })
    await expect(a.datasyncAsync()).resolves.toBeUndefined()

    ffs.failNext({ op: 'write', code: 'EIO', partialBytes: 3 })
    expect(codeOf(() => b.writev([bytes('ab'), bytes('cdef')], 10))).toBe('IO')
    expect(read(path.join(dir, 'b.dat')).slice(10)).toBe('abc')

    for (const op of ['truncate', 'open', 'rename', 'remove', 'syncDirectory'] as const) ffs.failNext({ op, code: 'EIO' })
    expect(codeOf(() => b.truncate(0))).toBe('IO')
    expect(codeOf(() => ffs.openFile(path.join(dir, 'c'), { create: true }))).toBe('IO')
    expect(codeOf(() => ffs.rename(path.join(dir, 'b.dat'), path.join(dir, 'd')))).toBe('IO')
    expect(codeOf(() => ffs.remove(path.join(dir, 'b.dat')))).toBe('IO')
    expect(codeOf(() => ffs.syncDirectory(dir))).toBe('IO')
    expect(ffs.pendingFaults).toBe(0)
    expect(fs.existsSync(path.join(dir, 'b.dat'))).toBe(true)
    a.close()
    b.close()
  })

  it('kill(): bytes written stay, every later call fails with IO, files can still be closed', () => {
    const dir = tempDir()
    const ffs = new FaultyFileSystem()
    const f = ffs.openFile(path.join(dir, 'f'), { create: true })
    f.write(bytes('hello'), 0, 5, 0)
    ffs.kill()
    expect(codeOf(() => f.write(bytes('!'), 0, 1, 5))).toBe('IO')
    expect(codeOf(() => f.read(new Uint8Array(5), 0, 5, 0))).toBe('IO')
    expect(codeOf(() => ffs.list(dir))).toBe('IO')
    f.close()
    expect(read(path.join(dir, 'f'))).toBe('hello')
  })

  it('crash(): each file goes back to its last synced content; new names whose directory was never synced vanish', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'old'), 'original')
    const ffs = new FaultyFileSystem()
    // A file that existed before: its content then counts as durable.
    const old = ffs.openFile(path.join(dir, 'old'))
    old.write(bytes('ORIG'), 0, 4, 0)
    old.datasync()
    old.write(bytes('XX'), 0, 2, 6)
    old.truncate(7)
    // A new file, synced, in a synced directory.
    const kept = ffs.openFile(path.join(dir, 'kept'), { create: true })
    kept.write(bytes('synced'), 0, 6, 0)
    await kept.datasyncAsync()
    kept.write(bytes(' and not'), 0, 8, 6)
    ffs.syncDirectory(dir)
    // A rename carries the file's durable state.
    const moved = ffs.openFile(path.join(dir, 'kept2'), { create: true })
    moved.write(bytes('moved'), 0, 5, 0)
    moved.datasync()
    ffs.rename(path.join(dir, 'kept2'), path.join(dir, 'renamed'))
    ffs.syncDirectory(dir)
    moved.write(bytes('!'), 0, 1, 5)
    // A new file, synced, whose directory was never synced afterwards.
    ffs.mkdir(path.join(dir, 'sub'))
    ffs.syncDirectory(dir)
    const lost = ffs.openFile(path.join(dir, 'sub', 'lost'), { create: true })
    lost.write(bytes('gone'), 0, 4, 0)
    lost.datasync()
    // A new directory never made durable in its parent, with a synced file in it.
    ffs.mkdir(path.join(dir, 'newdir'))
    const inside = ffs.openFile(path.join(dir, 'newdir', 'x'), { create: true })
    inside.write(bytes('x'), 0, 1, 0)
    inside.datasync()
    ffs.syncDirectory(path.join(dir, 'newdir'))

    ffs.crash()
    for (const f of [old, kept, lost, inside, moved]) f.close()
    expect(read(path.join(dir, 'old'))).toBe('ORIGinal')
    expect(read(path.join(dir, 'kept'))).toBe('synced')
    expect(fs.existsSync(path.join(dir, 'sub'))).toBe(true)
    expect(fs.existsSync(path.join(dir, 'sub', 'lost'))).toBe(false)
    expect(fs.existsSync(path.join(dir, 'newdir'))).toBe(false)
    expect(read(path.join(dir, 'renamed'))).toBe('moved')
    expect(codeOf(() => ffs.exists(dir))).toBe('IO')
  })
})
