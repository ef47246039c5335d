/**
 * Power loss at 'fsync': the writer runs over CrashFileSystem (crash-fs.mjs), which keeps every
 * write since the file's last datasync in memory and journals directory changes; when the writer
 * dies, the unsynced bytes die with it and the parent undoes every directory change that no
 * directory sync made durable. Generations end by an outside SIGKILL (everything unsynced dropped),
 * by the writer's own torn power cut (each unsynced 512-byte sector dropped, written or written as
 * garbage) at a random moment or as the n-th sync of the page file or the log starts (so a page
 * written after the sync that should have covered it shows), or at a kill point (torn or not). Acknowledged writes must survive all of it, from
 * a store created under the same model (so a missing directory sync of a new file, segment or
 * directory loses writes here).
 */
import fs from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { killPointCount, loadEngine, randomDelayMs, runDirectories, tearSyncKill, tempRoot, type DirectorySpec } from './driver.mjs'

const root = tempRoot('learned-storage-crash-power-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const { KILL_POINTS } = await loadEngine()
const POINTS: string[] = Object.values(KILL_POINTS).filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)

describe('power loss at fsync', () => {
  it('6 directories x 6 generations: outside SIGKILL, torn power cuts (at a random moment, or as a sync starts) and kill points', async () => {
    const specs: DirectorySpec[] = [0, 1, 2, 3, 4, 5].map((i) => ({
      root,
      seed: 9000 + i,
      durability: 'fsync',
      power: true,
      generations: 6,
      killFor: (_gen, rng) => {
        const x = rng.next()
        if (x < 0.25) return { kind: 'tear', afterMs: randomDelayMs(rng) }
        if (x < 0.65) return tearSyncKill(rng)
        if (x < 0.85) return { kind: 'random', afterMs: randomDelayMs(rng) }
        const point = rng.pick(POINTS)
        return { kind: 'point', point, n: killPointCount(point, rng, KILL_POINTS) }
      },
      replayKillFor: (_gen, rng) => (rng.chance(0.2) ? 1 + rng.int(8) : undefined),
    }))
    const { figures, failures } = await runDirectories(specs, 2)
    expect(failures).toEqual([])
    expect(figures.cycles).toBe(36)
    expect(figures.killPointsHit.tear ?? 0).toBeGreaterThan(2)
    expect(figures.killPointsHit['tear-sync'] ?? 0).toBeGreaterThan(5)
  })
})
