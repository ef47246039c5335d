/**
 * SIGKILL at moments the seed draws (driver.mjs seededKill): the writer kills itself right after its
 * k-th acknowledgement or right after it issued its k-th write (writes still in flight), a sixth
 * within the first 20, at each durability level: six generations per directory, each writer
 * recovering the previous crash and writing on, the store verified after every kill (oracle.mjs:
 * every acknowledged write present at 'fsync' and 'os', in-flight writes old or new, batches all or
 * nothing, a prefix of the issued writes at every level, no value never written). The moments are
 * the seed's, not the clock's, so a failing seed fails again: the last case proves it.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { killPointCount, loadEngine, runDirectories, runWriter, seededKill, tempRoot, type DirectorySpec, type Durability } from './driver.mjs'
import { isWrite, planGeneration } from './workload.mjs'

const root = tempRoot('learned-storage-crash-random-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const { KILL_POINTS } = await loadEngine()
const POINTS: string[] = Object.values(KILL_POINTS).filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)

describe('SIGKILL at moments the seed draws', () => {
  it.each(['fsync', 'os', 'none'] as Durability[])('%s: 2 directories x 6 generations, killed after the k-th acknowledgement or issue', async (durability) => {
    const seed = { fsync: 5000, os: 6000, none: 7000 }[durability]
    const specs: DirectorySpec[] = [0, 1].map((i) => ({
      root,
      seed: seed + i,
      durability,
      power: false,
      generations: 6,
      killFor: (_gen, rng) => seededKill(rng, 1000),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expect(failures).toEqual([])
    expect(figures.cycles).toBe(12)
    expect(figures.acknowledgedWritesVerified).toBeGreaterThan(0)
    // Every generation ended by the writer's own kill, or at the end of its plan (a k past its writes).
    const selfKills = (figures.killPointsHit['after-ack'] ?? 0) + (figures.killPointsHit['after-issue'] ?? 0)
    expect(selfKills).toBeGreaterThanOrEqual(10)
  })

  it('mixed: seeded moments and random kill points across generations, all three levels', async () => {
    const specs: DirectorySpec[] = (['fsync', 'os', 'none'] as Durability[]).map((durability, i) => ({
      root,
      seed: 8000 + i,
      durability,
      power: false,
      generations: 6,
      killFor: (_gen, rng) => {
        if (rng.chance(0.5)) return seededKill(rng, 1000)
        const point = rng.pick(POINTS)
        return { kind: 'point', point, n: killPointCount(point, rng, KILL_POINTS) }
      },
      replayKillFor: (_gen, rng) => (rng.chance(0.3) ? 1 + rng.int(8) : undefined),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expect(failures).toEqual([])
    expect(figures.cycles).toBe(18)
  })

  it('a seed replays its kill: the same acknowledgements, the same issued writes, twice', async () => {
    // Window 8 at 'fsync' (seed 5003: several writes in flight at each kill).
    const seed = 5003
    const plan = planGeneration(seed, 0, 4000)
    expect(plan.window).toBeGreaterThan(1)
    const writesBefore = (n: number): number => plan.items.slice(0, n).filter(isWrite).length
    for (const kill of [
      { after: 'ack' as const, k: 37 },
      { after: 'issue' as const, k: 211 },
    ]) {
      const runs = []
      for (const attempt of [0, 1]) {
        const dir = path.join(root, `replay-${kill.after}-${attempt}`)
        fs.mkdirSync(dir)
        runs.push(await runWriter({ dir, seed, gen: 0, durability: 'fsync', planLength: 4000, kill }))
      }
      for (const run of runs) {
        expect(run.signal).toBe('SIGKILL')
        expect(run.killedByParent).toBe(false)
        if (kill.after === 'ack') expect(run.acked.size).toBe(kill.k)
        else expect(writesBefore(run.issued) + plan.items.slice(0, run.issued).filter((item) => item.t === 'checkpoint').length).toBe(kill.k)
      }
      // (After an acknowledgement, how far issuing got beside it is timing; the acknowledged are not.)
      if (kill.after === 'ack') expect([...runs[1]!.acked].sort((a, b) => a - b)).toEqual([...runs[0]!.acked].sort((a, b) => a - b))
      else expect(runs[1]!.issued).toBe(runs[0]!.issued)
    }
  })
})
