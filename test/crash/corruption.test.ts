/**
 * Damage to a crashed store's files (corrupt.mjs): bits flipped in WAL segments, data pages and meta
 * pages, WAL segments and the page file cut short, a segment deleted. Each trial damages a fresh copy
 * and opens it (read-only or read-write), runs check() and reads everything. It must either fail with
 * CORRUPTION naming the damaged file, or come back right: exactly the state verified before the
 * damage, or, where the damage looks like a crash (a flip in the log's last write group, a cut
 * through or deletion of the last segment), a prefix that drops no record before the damage.
 * A wrong value, a silent loss, or an error without a code fails the test.
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { corruptionTrials, makeCrashedStore, type DamageKind, type TrialOutcome } from './corrupt.mjs'
import { tempRoot } from './driver.mjs'

const root = tempRoot('learned-storage-crash-corrupt-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe('corrupted files of a crashed store', () => {
  it.each([
    { seed: 11, durability: 'fsync' as const, killAfterMs: 120 },
    { seed: 12, durability: 'fsync' as const, killAfterMs: 400 },
    { seed: 13, durability: 'os' as const, killAfterMs: 250 },
    { seed: 14, durability: 'none' as const, killAfterMs: 300 },
  ])('seed $seed, $durability, killed after $killAfterMs ms: 48 damaged copies', async ({ seed, durability, killAfterMs }) => {
    const store = await makeCrashedStore(root, seed, { durability, killAfterMs })
    const outcomes = await corruptionTrials(store, root, seed, 48)
    const bad = outcomes.filter((o) => !isAcceptable(o))
    expect(bad.map((o) => `${o.kind} ${o.outcome}: ${o.detail}`)).toEqual([])
    // The trials did reach damage that matters: some of it was detected.
    expect(outcomes.filter((o) => o.outcome === 'detected').length).toBeGreaterThan(5)
  })
})

function isAcceptable(o: TrialOutcome & { kind: DamageKind }): boolean {
  return o.outcome === 'detected' || o.outcome === 'right'
}
