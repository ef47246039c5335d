/**
 * fsyncgate: an `fdatasync` fails as Linux's does after a writeback error: the file's unsynced writes
 * are marked clean and never reach the disk, and a retried sync succeeds without them
 * (crash-fs.mjs `checkSync`, a `dropUnsynced` fault). In process, over the power-loss model
 * (faults.mjs, `power`): for N over a spread, the N-th sync of the log, or of the page file (its
 * checkpoints), fails so; the plan settles; then the power goes (unsynced writes dropped, unsynced
 * directory entries undone) and the store is reopened with the real file system. What must hold:
 * the sync fault surfaces as a rejected write (or open, or checkpoint), never as an acknowledgement;
 * nothing issued after it is acknowledged (the engine fail-stops rather than retrying); after the
 * power cut every acknowledged write is there, nothing unissued is, and check() passes.
 * A planted retry (the log's writer retries a failed fdatasync and acknowledges) fails this file.
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { tempRoot } from './driver.mjs'
import { callsTo, faultTrial, risingN } from './faults.mjs'

const root = tempRoot('learned-storage-crash-fsyncgate-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const TARGETS = [
  { name: 'the log', path: /\.wal$/ },
  { name: 'the page file', path: /data\.lsp(\.new)?$/ },
]

describe('fsyncgate: a failed fdatasync drops the unsynced writes', () => {
  it.each([
    { seed: 41, target: TARGETS[0]! },
    { seed: 42, target: TARGETS[1]! },
    { seed: 43, target: TARGETS[1]! },
  ])('seed $seed, the N-th sync of $target.name fails, then a power cut: nothing acknowledged lost', async ({ seed, target }) => {
    const options = { durability: 'fsync' as const, planLength: 800, power: true }
    const dry = await faultTrial(root, seed, null, options)
    expect(dry.problems).toEqual([])
    const syncs = callsTo(dry, 'sync', target.path)
    expect(syncs).toBeGreaterThan(3)
    const problems: string[] = []
    let fired = 0
    let dropped = 0
    let trials = 0
    for (const n of risingN(syncs, 6, 10)) {
      const result = await faultTrial(root, seed, { op: 'sync', code: 'EIO', n, path: target.path, dropUnsynced: true }, options)
      trials++
      if (result.fired) fired++
      dropped += result.dropped
      problems.push(...result.problems)
    }
    console.info(`fsyncgate seed ${seed}, ${target.name}: ${trials} trials, ${fired} fired, ${dropped} unsynced writes dropped, ${problems.length} problems`)
    expect(problems).toEqual([])
    // Every N but the one past the last sync fires, and the failed syncs really threw writes away.
    expect(fired).toBe(trials - 1)
    expect(dropped).toBeGreaterThan(fired)
  }, 180_000)
})
