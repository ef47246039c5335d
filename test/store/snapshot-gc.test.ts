/**
 * Snapshots (src/store/snapshot.ts) and the garbage collector: an iterator the caller drops
 * unfinished must not be kept by the store (its frozen copy and the records whose release waits for
 * it are let go once it is collected), and a loop of short scans in one job must not keep the
 * iterators it made. Runs in a child with --expose-gc (against dist/, which npm test builds first).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const SNAPSHOT_MODULE = new URL('../../dist/store/snapshot.js', import.meta.url).href

const SCRIPT = `
const { SnapshotCursor, Snapshots } = await import(${JSON.stringify(SNAPSHOT_MODULE)})
const freed = []
const snapshots = new Snapshots((handle) => freed.push(handle))
const source = (n, calls) => {
  let i = 0
  return { next: () => { calls.count++; return i < n ? [i, ++i * 10] : undefined }, return() {} }
}
const tick = () => new Promise((resolve) => setTimeout(resolve, 10))
const out = {}

// 1. Frozen, then dropped unfinished: the deferred release happens once it is collected.
{
  const calls = { count: 0 }
  let cursor = new SnapshotCursor(source(5, calls), 5)
  snapshots.add(cursor)
  out.first = cursor.next()
  snapshots.freeze()
  snapshots.release(42)
  out.deferredWhileAlive = freed.length
  out.afterFreeze = cursor.next()
  cursor = null
}
for (let i = 0; i < 5 && freed.length === 0; i++) { globalThis.gc(); await tick() }
out.freedAfterGc = [...freed]

// 2. Dropped unfinished before any write: a later write does not freeze (read) it.
{
  const calls = { count: 0 }
  out.calls = calls
  let cursor = new SnapshotCursor(source(1000, calls), 1000)
  snapshots.add(cursor)
  cursor.next()
  cursor = null
}
for (let i = 0; i < 5; i++) { globalThis.gc(); await tick() }
snapshots.freeze()
out.sourceCallsAfterFreeze = out.calls.count

// 3. Many short iterators made and finished in one job: none is kept once it ends.
const before = process.memoryUsage().heapUsed
for (let i = 0; i < 20000; i++) {
  const cursor = new SnapshotCursor(source(100, { count: 0 }), 100)
  snapshots.add(cursor)
  while (cursor.next() !== undefined) {}
  snapshots.end(cursor.ticket)
}
globalThis.gc()
out.heapGrowth = process.memoryUsage().heapUsed - before
snapshots.release(7)
out.freedAtOnce = freed.includes(7)
console.log(JSON.stringify(out))
`

describe('snapshots and the garbage collector', () => {
  it('an iterator dropped unfinished is collected and its deferred releases run; finished iterators are not kept', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-snapshot-gc-'))
    try {
      const script = path.join(dir, 'child.mjs')
      fs.writeFileSync(script, SCRIPT)
      const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8' })) as Record<string, unknown>
      expect(out.first).toEqual([0, 10])
      expect(out.deferredWhileAlive).toBe(0)
      expect(out.afterFreeze).toEqual([1, 20])
      expect(out.freedAfterGc).toEqual([42])
      // One read before it was dropped; the freeze after its collection read nothing more.
      expect(out.sourceCallsAfterFreeze).toBe(1)
      expect(out.heapGrowth as number).toBeLessThan(4 << 20)
      expect(out.freedAtOnce).toBe(true)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
