/**
 * SIGKILL at a random moment (a third within 30 ms of the store opening, the rest within half a
 * second), at each durability level: six generations per directory, each writer recovering the
 * previous crash and writing on, the store verified after every kill (oracle.mjs: every
 * acknowledged write present at 'fsync' and 'os', in-flight writes old or new, batches all or
 * nothing, a prefix of the issued writes at every level, no value never written).
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { killPointCount, loadEngine, randomDelayMs, runDirectories, tempRoot, type DirectorySpec, type Durability } from './driver.mjs'

const root = tempRoot('learned-storage-crash-random-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const { KILL_POINTS } = await loadEngine()
const POINTS: string[] = Object.values(KILL_POINTS).filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)

describe('SIGKILL at random moments', () => {
  it.each(['fsync', 'os', 'none'] as Durability[])("%s: 2 directories x 6 generations", async (durability) => {
    const seed = { fsync: 5000, os: 6000, none: 7000 }[durability]
    const specs: DirectorySpec[] = [0, 1].map((i) => ({
      root,
      seed: seed + i,
      durability,
      power: false,
      generations: 6,
      killFor: (_gen, rng) => ({ kind: 'random', afterMs: randomDelayMs(rng) }),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expect(failures).toEqual([])
    expect(figures.cycles).toBe(12)
    expect(figures.acknowledgedWritesVerified).toBeGreaterThan(0)
  })

  it('mixed: random kill points and random delays across generations, all three levels', async () => {
    const specs: DirectorySpec[] = (['fsync', 'os', 'none'] as Durability[]).map((durability, i) => ({
      root,
      seed: 8000 + i,
      durability,
      power: false,
      generations: 6,
      killFor: (_gen, rng) => {
        if (rng.chance(0.5)) return { kind: 'random', afterMs: randomDelayMs(rng) }
        const point = rng.pick(POINTS)
        return { kind: 'point', point, n: killPointCount(point, rng, KILL_POINTS) }
      },
      replayKillFor: (_gen, rng) => (rng.chance(0.3) ? 1 + rng.int(8) : undefined),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expect(failures).toEqual([])
    expect(figures.cycles).toBe(18)
  })
})
