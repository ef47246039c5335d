/**
 * A disk that stays full: from the N-th write to the log, or to the page file (checkpoints and
 * evictions), every write and every growing truncate fails with ENOSPC, retries included, until space
 * returns (crash-fs.mjs `fillDisk`; in process, faults.mjs). Either every write fails, or only writes
 * that grow a file (an overwrite of allocated bytes, such as the log's preallocated tail, succeeds).
 * What must hold: writes are refused with NO_SPACE, and once one is refused every write issued after
 * it is too (stable, never acknowledged); reads keep working and return the right values (gets and
 * scans while writing and after); close() settles (a typed error or none); and after space returns,
 * a reopen with the real file system holds every acknowledged write, passes check() and takes writes.
 * One seed runs over the power-loss model and cuts the power while the disk is full.
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { tempRoot } from './driver.mjs'
import { callsTo, faultTrial, risingN } from './faults.mjs'

const root = tempRoot('learned-storage-crash-full-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const TARGETS = [
  { name: 'the log', path: /\.wal$/ },
  { name: 'the page file', path: /data\.lsp$/ },
]

describe('a disk that stays full', () => {
  it.each([
    { seed: 51, durability: 'fsync' as const, growOnly: false, power: false },
    { seed: 52, durability: 'fsync' as const, growOnly: true, power: false },
    { seed: 53, durability: 'os' as const, growOnly: false, power: false },
    { seed: 54, durability: 'fsync' as const, growOnly: false, power: true },
  ])('seed $seed at $durability (growing writes only: $growOnly, power cut while full: $power): NO_SPACE from the N-th write of the log or the page file on', async ({ seed, durability, growOnly, power }) => {
    const options = { durability, planLength: 800, power: power === true }
    const dry = await faultTrial(root, seed, null, options)
    expect(dry.problems).toEqual([])
    const problems: string[] = []
    let trials = 0
    let fired = 0
    let refused = 0
    for (const target of TARGETS) {
      // Growing writes only: count those (a disk that never fills), not every write.
      const writes = growOnly
        ? (await faultTrial(root, seed, { op: 'write', code: 'ENOSPC', n: Infinity, path: target.path, diskFull: { growOnly } }, options)).spaceMatches
        : callsTo(dry, 'write', target.path)
      expect(writes).toBeGreaterThan(0)
      for (const n of risingN(writes, 4, 10)) {
        const result = await faultTrial(root, seed, { op: 'write', code: 'ENOSPC', n, path: target.path, diskFull: { growOnly } }, options)
        trials++
        if (result.fired) fired++
        refused += result.refused
        problems.push(...result.problems)
      }
    }
    console.info(`disk full seed ${seed} at ${durability}${growOnly ? ' (growing writes only)' : ''}: ${trials} trials, ${fired} filled the disk, ${refused} calls refused, ${problems.length} problems`)
    expect(problems).toEqual([])
    expect(fired).toBeGreaterThan(trials / 2)
    // The disk stayed full: the engine was refused more than once per trial (writes after the first).
    // With only growing writes refused, a store that stops growing after its first NO_SPACE (the
    // rest of its writes go to pages it already has) is refused just once per trial.
    if (growOnly) expect(refused).toBeGreaterThanOrEqual(fired)
    else expect(refused).toBeGreaterThan(fired)
  }, 240_000)
})
