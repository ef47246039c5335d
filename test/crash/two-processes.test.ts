/**
 * Two processes on one store: while a writer child runs (writing at 'fsync'), every other open, in
 * this process or in a second writer child, fails at once with LOCKED and harms nothing; once the
 * first writer is SIGKILLed the kernel drops its lock, the store opens, and it holds everything the
 * killed writer had acknowledged (oracle.mjs).
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadEngine, runWriter, tempRoot } from './driver.mjs'
import { History, readState } from './oracle.mjs'
import { STORE_OPTIONS, planGeneration } from './workload.mjs'

const root = tempRoot('learned-storage-crash-lock-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe('two processes', () => {
  it('the second open is LOCKED while the writer runs, and succeeds after the writer is killed, with every acknowledged write', async () => {
    const { open, ErrorCode } = await loadEngine()
    const dir = path.join(root, 'store')
    fs.mkdirSync(dir)
    const seed = 31
    const planLength = 60_000
    const attempts: string[] = []
    // The first writer: killed by the parent 1.5 s after it opened; meanwhile, other opens try.
    const first = runWriter({ dir, seed, gen: 0, durability: 'fsync', planLength }, { killAfterMs: 1500 })
    await new Promise((resolve) => setTimeout(resolve, 700))
    for (const options of [{ ...STORE_OPTIONS }, { readOnly: true }, { durability: 'none' as const }]) {
      attempts.push(await open(dir, options).then(
        async (db) => {
          await db.close()
          return 'opened'
        },
        (error: { code?: string }) => error.code ?? 'no code',
      ))
    }
    const second = await runWriter({ dir, seed: seed + 1, gen: 1, durability: 'fsync', planLength: 10 }, { timeoutMs: 10_000 })
    const run = await first
    expect(attempts).toEqual([ErrorCode.LOCKED, ErrorCode.LOCKED, ErrorCode.LOCKED])
    expect(second.opened).toBeNull()
    expect(second.code).not.toBe(0)
    expect(second.stderr).toContain('LOCKED')
    expect(run.killedByParent).toBe(true)
    expect(run.acked.size).toBeGreaterThan(50)
    // The lock died with its holder: the store opens, checks, and holds the acknowledged writes.
    const db = await open(dir, { ...STORE_OPTIONS })
    try {
      await db.check()
      const verdict = new History('fsync').verify(readState(db), { gen: 0, plan: planGeneration(seed, 0, planLength), issued: run.issued, acked: run.acked })
      expect(verdict.messages).toEqual([])
      expect(verdict.ok).toBe(true)
    } finally {
      await db.close()
    }
  })
})
