/**
 * SIGKILL during `bulkLoad`, in a child process: at the steps of its checkpoint (kill points: pages
 * written, meta page torn, meta page synced) and at random moments. After each kill the parent
 * reopens the store, runs check(), and requires one of two states, never a mix: empty, or every
 * entry with its value. Once the child said the load resolved, only the full state is allowed.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { onLines } from '../support/wal-helpers.js'

const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url))
const CHILD = fileURLToPath(new URL('./bulk-loader.mjs', import.meta.url))
const COUNT = 40_000
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-bulk-kill-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** The entry the child loads at index i (bulk-loader.mjs makes the same). */
function expectedValue(i: number): Uint8Array {
  const value = new Uint8Array(8 + (i % 50))
  for (let b = 0; b < value.length; b++) value[b] = (i * 31 + b * 7) & 0xff
  return value
}

interface Run {
  lines: string[]
  signal: NodeJS.Signals | null
}

/** Runs the child; kills it `killAfterMs` after it said `open` (or lets a kill point do it). */
function runChild(dir: string, env: Record<string, string>, killAfterMs: number | null, count = COUNT, form = 'entries'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, DIST_INDEX, dir, String(count), form], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    const run: Run = { lines: [], signal: null }
    let stderr = ''
    // A hung child is a failure, not a kill: it must not pass as one.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child timed out; stderr: ${stderr}`))
    }, 30_000)
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    onLines(child.stdout, (line) => {
      run.lines.push(line)
      if (line === 'open' && killAfterMs !== null) setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      // With a kill point armed, a child that finishes the load was not killed by it.
      if (line === 'loaded' && killAfterMs === null) child.kill('SIGKILL')
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      run.signal = signal
      if (signal === null && code !== 0) reject(new Error(`child exited with ${code}: ${stderr}`))
      else resolve(run)
    })
  })
}

/** 'empty' or 'full' (checked entry by entry); throws on anything else. */
async function verify(dir: string, count = COUNT): Promise<'empty' | 'full'> {
  const db = await open(dir, { cacheBytes: 1 << 20 })
  try {
    await db.check()
    const records = db.stats().records
    if (records === 0) return 'empty'
    expect(records, 'a partial load').toBe(count)
    let i = 0
    let bad = ''
    for (const [key, value] of db.range()) {
      const expected = expectedValue(i)
      if (key !== i * 3 + 0.5 || Buffer.compare(Buffer.from(value), Buffer.from(expected)) !== 0) {
        bad = `entry ${i}: key ${key}`
        break
      }
      i++
    }
    expect(bad).toBe('')
    expect(i).toBe(count)
    return 'full'
  } finally {
    await db.close()
  }
}

describe('SIGKILL during bulkLoad', () => {
  // The first checkpoint is the new store's own; the second is the load's. A torn meta page has its
  // second half zeroed, which may leave it whole (a meta page's fields sit in its first half): then
  // the load is there; either way it is all or nothing.
  it.each([
    ['checkpoint-after-pages:2', ['empty']],
    ['checkpoint-meta-torn:2', ['empty', 'full']],
    ['checkpoint-after-meta:2', ['full']],
  ] as const)('killed at %s: the store is %j', async (point, allowed) => {
    const dir = fs.mkdtempSync(path.join(root, 'point-'))
    const run = await runChild(dir, { LEARNED_STORAGE_KILL_POINT: point }, null)
    expect(run.signal).toBe('SIGKILL')
    expect(run.lines).not.toContain('loaded')
    const state = await verify(dir)
    expect(allowed).toContain(state)
    const expected = state
    // And the store is usable after: a load into it if empty, writes on top either way.
    const db = await open(dir)
    try {
      if (expected === 'empty') await db.bulkLoad([[1, Uint8Array.of(1)]])
      await db.put(-1, Uint8Array.of(2))
      expect(db.get(-1)).toEqual(Uint8Array.of(2))
    } finally {
      await db.close()
    }
  })

  it('killed at random moments: empty or complete, and complete once acknowledged', async () => {
    const seen = { empty: 0, full: 0 }
    for (const delay of [0, 5, 20, 40, 80, 120, 200, 400]) {
      const dir = fs.mkdtempSync(path.join(root, 'random-'))
      const run = await runChild(dir, {}, delay)
      const state = await verify(dir)
      if (run.lines.includes('loaded')) expect(state, `acknowledged load, killed ${delay} ms after open`).toBe('full')
      seen[state]++
    }
    // The delays span the load: some kills land before it is durable, the last after.
    expect(seen.full).toBeGreaterThan(0)
  })

  it('a load of many writer slots from columns (a second thread writing, O_DIRECT where the file system takes it), killed at random moments: empty or complete', async () => {
    // 4 KiB pages: 2,048 a slot; 500,000 entries fill about 7,000 value pages and 3,000 leaf pages.
    const count = 500_000
    const seen = { empty: 0, full: 0 }
    for (const delay of [10, 60, 150, 300, 600, 1500]) {
      const dir = fs.mkdtempSync(path.join(root, 'slots-'))
      const run = await runChild(dir, {}, delay, count, 'columns')
      const state = await verify(dir, count)
      if (run.lines.includes('loaded')) expect(state, `acknowledged load, killed ${delay} ms after open`).toBe('full')
      seen[state]++
    }
    expect(seen.full).toBeGreaterThan(0)
    expect(seen.empty).toBeGreaterThan(0)
  })
})
