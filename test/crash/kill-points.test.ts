/**
 * Every named kill point (src/io/kill-point.ts KILL_POINTS), at every durability level and under
 * power loss: a writer child runs a seeded workload until the armed point kills it (at a random n-th
 * hit), the parent reopens the store with the real file system, runs check(), and verifies it against
 * what the writer issued and had acknowledged (oracle.mjs); three generations per directory, each
 * recovering the previous crash. The recovery-replay point crashes the reopen itself (twice) before
 * the verification. Every kill point must fire: a new one added to KILL_POINTS fails this file until
 * the suite reaches it.
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { killPointCount, loadEngine, runDirectories, tempRoot, type DirectorySpec, type Durability } from './driver.mjs'
import type { Figures } from './oracle.mjs'

const root = tempRoot('learned-storage-crash-points-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const { KILL_POINTS } = await loadEngine()
const ALL_POINTS: string[] = Object.values(KILL_POINTS)
const WRITER_POINTS = ALL_POINTS.filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)
const hits: Record<string, number> = {}
let cycles = 0

const CONFIGS: { name: string; durability: Durability; power: boolean; seed: number }[] = [
  { name: "'fsync'", durability: 'fsync', power: false, seed: 1000 },
  { name: "'os'", durability: 'os', power: false, seed: 2000 },
  { name: "'none'", durability: 'none', power: false, seed: 3000 },
  { name: "'fsync' with power loss (unsynced writes dropped at the kill)", durability: 'fsync', power: true, seed: 4000 },
]

function expectClean(figures: Figures, failures: string[]): void {
  expect(failures).toEqual([])
  expect(figures.acknowledgedWritesLost).toBe(0)
  expect(figures.wrongValuesReturned).toBe(0)
  expect(figures.notAPrefix).toBe(0)
  expect(figures.otherFailures).toBe(0)
}

describe('SIGKILL at every kill point', () => {
  it.each(CONFIGS)('$name: every kill point, 3 generations each, store verified after each crash', async ({ durability, power, seed }) => {
    const specs: DirectorySpec[] = WRITER_POINTS.map((point, i) => ({
      root,
      seed: seed + i,
      durability,
      power,
      generations: 3,
      killFor: (_gen, rng) => ({ kind: 'point', point, n: killPointCount(point, rng, KILL_POINTS) }),
      // Every third directory also crashes its reopen during replay, after generation 1.
      replayKillFor: (gen, rng) => (i % 3 === 0 && gen === 1 ? 1 + rng.int(4) : undefined),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expectClean(figures, failures)
    for (const [point, n] of Object.entries(figures.killPointsHit)) hits[point] = (hits[point] ?? 0) + n
    cycles += figures.cycles
    for (const point of WRITER_POINTS) expect(figures.killPointsHit[point] ?? 0, `${point} never fired`).toBeGreaterThan(0)
    expect(figures.killPointsHit[KILL_POINTS.RECOVERY_REPLAY] ?? 0, 'recovery-replay never fired').toBeGreaterThan(0)
  })

  it('every kill point in KILL_POINTS fired', () => {
    expect(ALL_POINTS.filter((p) => !(hits[p]! > 0))).toEqual([])
    expect(cycles).toBeGreaterThanOrEqual(120)
  })
})
