/**
 * ENOSPC and EIO on the N-th call of each file operation, for rising N (faults.mjs), in process over
 * CrashFileSystem: a dry run counts the calls, then every N up to 12 and a spread of larger ones
 * (and one past the last) is tried with each error. The operation is rejected with a typed code;
 * after an fsync error nothing issued later is acknowledged; reads go on and show a prefix of the
 * issued writes with every acknowledged one; and the store opens again with the real file system,
 * passes check(), has lost nothing acknowledged, and takes writes.
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { tempRoot } from './driver.mjs'
import { FAULT_OPS, faultTrial, risingN } from './faults.mjs'

const root = tempRoot('learned-storage-crash-faults-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe('ENOSPC and EIO on the N-th call', () => {
  it.each([
    { seed: 21, durability: 'fsync' as const },
    { seed: 22, durability: 'fsync' as const },
    { seed: 23, durability: 'os' as const },
  ])('seed $seed at $durability: every operation, both errors, rising N', async ({ seed, durability }) => {
    const options = { durability, planLength: 800 }
    const dry = await faultTrial(root, seed, null, options)
    expect(dry.problems).toEqual([])
    expect(dry.calls.write).toBeGreaterThan(20)
    const problems: string[] = []
    let trials = 0
    let fired = 0
    for (const op of FAULT_OPS) {
      for (const code of ['EIO', 'ENOSPC'] as const) {
        for (const n of risingN(dry.calls[op], 10, 8)) {
          const result = await faultTrial(root, seed, { op, code, n }, options)
          trials++
          if (result.fired) fired++
          problems.push(...result.problems)
        }
      }
    }
    expect(problems).toEqual([])
    expect(fired).toBeGreaterThan(trials / 2)
  })
})
