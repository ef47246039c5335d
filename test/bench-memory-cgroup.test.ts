/**
 * The comparison's memory cap (bench/lib/compare/memory-cgroup.ts) on the real kernel: a child in a
 * capped group that allocates past the cap is killed by the OOM killer and the group says so; one
 * that stays under it runs to the end; the groups are gone afterwards. Skipped where the bench could
 * not cap either (not root, no memory controller).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MemoryGroup, probeMemoryController, wrapInGroup } from '../bench/lib/compare/memory-cgroup.js'

const MiB = 1024 * 1024
const probe = probeMemoryController()

/** Runs `node -e script` inside `group`; resolves with how it exited and what it printed. */
function runIn(group: MemoryGroup, script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const { command, args } = wrapInGroup(group, process.execPath, ['-e', script])
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({ code, signal, stdout }))
  })
}

/** Touches `mib` MiB of memory outside the V8 heap, 1 MiB at a time, then prints 'done'. */
const allocate = (mib: number): string => `const kept = []; for (let i = 0; i < ${mib}; i++) kept.push(Buffer.alloc(1 << 20, 1)); console.log('done')`

describe.skipIf(!probe.usable)('memory cgroup cap', () => {
  const controller = probe.usable ? probe.controller : undefined

  it('gets a child that allocates past the cap killed by the OOM killer, and counts it', async () => {
    const group = MemoryGroup.create(controller!, 'test-over', 96 * MiB)
    try {
      const outcome = await runIn(group, allocate(256))
      expect(outcome.signal).toBe('SIGKILL')
      expect(outcome.stdout).not.toContain('done')
      expect(group.oomKills()).toBe(1)
      expect(group.limitHits()).toBeGreaterThan(0)
      expect(group.peakBytes()).toBeLessThanOrEqual(96 * MiB)
    } finally {
      group.remove()
    }
    expect(existsSync(group.dir)).toBe(false)
  })

  it('lets a child under the cap finish, and reads its peak', async () => {
    const group = MemoryGroup.create(controller!, 'test-under', 256 * MiB)
    try {
      const outcome = await runIn(group, allocate(32))
      expect(outcome.code).toBe(0)
      expect(outcome.stdout).toContain('done')
      expect(group.oomKills()).toBe(0)
      expect(group.peakBytes()).toBeGreaterThan(32 * MiB)
      expect(group.peakBytes()).toBeLessThanOrEqual(256 * MiB)
    } finally {
      group.remove()
    }
    expect(existsSync(group.dir)).toBe(false)
  })

  it('refuses a limit that is not a positive whole number of bytes', () => {
    expect(() => MemoryGroup.create(controller!, 'test-bad', 0)).toThrow(RangeError)
    expect(() => MemoryGroup.create(controller!, 'test-bad', 1.5)).toThrow(RangeError)
  })
})

describe('memory cgroup probe', () => {
  it('says why when the cap cannot be enforced', () => {
    if (probe.usable) expect(probe.description).toContain('memory controller')
    else expect(probe.reason.length).toBeGreaterThan(0)
  })
})
