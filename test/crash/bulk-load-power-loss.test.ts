/**
 * A bulk load of many writer slots on the power-loss file system (crash-fs.mjs, in process, the
 * built engine). Its files have no descriptor to hand the writer's thread, so every page of the load
 * goes through the file system on the calling thread (src/pages/bulk-writer.ts): a power cut right
 * after the load resolved loses no entry, and one after its checkpoint's sync failed (so nothing of it
 * was synced) leaves the store empty with none of its values on disk.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CrashFileSystem } from './crash-fs.mjs'
import { loadEngine, tempRoot } from './driver.mjs'

const root = tempRoot('learned-storage-crash-bulk-power-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

// 200 bytes a value, 4 KiB pages: about 9,000 value pages, over four 8 MiB slots of 2,048 pages.
const COUNT = 150_000
const OPTIONS = { pageSizeBytes: 4096, cacheBytes: 16 * 4096, checkpointIntervalMs: 3_600_000 }

function valueOf(i: number): Uint8Array {
  const value = new Uint8Array(200)
  for (let b = 0; b < value.length; b++) value[b] = (i * 131 + b * 7 + 1) & 0xff
  return value
}

function keysOf(count: number): Float64Array {
  const keys = new Float64Array(count)
  for (let i = 0; i < count; i++) keys[i] = i * 2 + 0.25
  return keys
}

describe('bulk load under power loss (the crash file system sees every page)', () => {
  it('a power cut right after the load resolved loses no entry', async () => {
    const { openWithFileSystem, open, file } = await loadEngine()
    const dir = path.join(root, 'after')
    fs.mkdirSync(dir)
    const crashFs = new CrashFileSystem(file, { holdUnsynced: true })
    const db = await openWithFileSystem(dir, OPTIONS, crashFs)
    const writesBefore = crashFs.calls.write
    await db.bulkLoad(keysOf(COUNT), valueOf)
    // At least one write a slot (runs of pages), through the file system.
    expect(crashFs.calls.write - writesBefore).toBeGreaterThan(4)
    crashFs.die()
    await db.close().catch(() => {})
    const reopened = await open(dir, OPTIONS)
    try {
      await reopened.check()
      expect(reopened.stats().records).toBe(COUNT)
      let i = 0
      for (const [key, value] of reopened.range()) {
        if (key !== i * 2 + 0.25 || Buffer.compare(Buffer.from(value), Buffer.from(valueOf(i))) !== 0) throw new Error(`entry ${i}: key ${key}`)
        i++
      }
      expect(i).toBe(COUNT)
    } finally {
      await reopened.close()
    }
  })

  it("a power cut after the load's sync failed: the store is empty and none of its values reached the disk", async () => {
    const { openWithFileSystem, open, file, ErrorCode } = await loadEngine()
    const dir = path.join(root, 'before')
    fs.mkdirSync(dir)
    const crashFs = new CrashFileSystem(file, { holdUnsynced: true })
    const db = await openWithFileSystem(dir, OPTIONS, crashFs)
    crashFs.failNext({ op: 'sync', code: 'EIO', path: /data\.lsp$/, dropUnsynced: true })
    const error = await db.bulkLoad(keysOf(COUNT), valueOf).then(
      () => null,
      (e: unknown) => e,
    )
    expect((error as { code?: unknown } | null)?.code).toBe(ErrorCode.IO)
    crashFs.die()
    await db.close().catch(() => {})
    // A value's bytes anywhere in the file would be a page written around the file system.
    const data = fs.readFileSync(path.join(dir, 'data.lsp'))
    for (const i of [0, 1, COUNT >> 1, COUNT - 1]) expect(data.indexOf(Buffer.from(valueOf(i))), `value ${i} on disk`).toBe(-1)
    const reopened = await open(dir, OPTIONS)
    try {
      await reopened.check()
      expect(reopened.stats().records).toBe(0)
    } finally {
      await reopened.close()
    }
  })
})
