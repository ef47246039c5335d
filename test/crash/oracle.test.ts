/**
 * The crash suite checks its own checkers: the oracle rejects every kind of wrong recovered state
 * (so a crash test that passes means something), values tell damage from right, and the power-loss
 * file system drops exactly what was never synced.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CrashFileSystem, powerCut } from './crash-fs.mjs'
import { loadEngine, tempRoot } from './driver.mjs'
import { History } from './oracle.mjs'
import { decodeValue, encodeValue, planGeneration, valueMatches, writeId, type Plan, type PlanItem } from './workload.mjs'

const root = tempRoot('learned-storage-crash-oracle-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

function plan(items: PlanItem[]): Plan {
  return { items, window: 4, checkpointIntervalMs: 1000 }
}

/** The value item `index` of generation `gen` wrote under `key` (member `member` of a batch of `size`). */
function v(gen: number, index: number, key: number, len = 40, member = 0, size = 0): Uint8Array {
  return encodeValue(gen, index, member, size, key, len)
}

// Generation 1 of a directory whose generation 0 left key 1 = write 0.0 and key 2 = write 0.1.
const items: PlanItem[] = [
  { t: 'put', k: 1, len: 40 }, // 0
  { t: 'del', k: 2 }, // 1
  { t: 'batch', ops: [{ t: 'put', k: 3, len: 40 }, { t: 'put', k: 4, len: 50 }, { t: 'del', k: 1 }] }, // 2
  { t: 'get', k: 3 }, // 3
  { t: 'put', k: 5, len: 60 }, // 4
  { t: 'put', k: 3, len: 40 }, // 5
]

function history(durability: 'fsync' | 'os' | 'none' = 'fsync'): History {
  const h = new History(durability)
  h.base = new Map([
    [1, writeId(0, 0, 0)],
    [2, writeId(0, 1, 0)],
  ])
  h.generation = 1
  return h
}

const base = (): Map<number, Uint8Array> =>
  new Map([
    [1, v(0, 0, 1)],
    [2, v(0, 1, 2)],
  ])

/** The state after the first n items of `items`. */
function after(n: number): Map<number, Uint8Array> {
  const s = base()
  if (n > 0) s.set(1, v(1, 0, 1))
  if (n > 1) s.delete(2)
  if (n > 2) {
    s.set(3, v(1, 2, 3, 40, 0, 3))
    s.set(4, v(1, 2, 4, 50, 1, 3))
    s.delete(1)
  }
  if (n > 4) s.set(5, v(1, 4, 5, 60))
  if (n > 5) s.set(3, v(1, 5, 3))
  return s
}

const gen = (acked: number[], issued = 6) => ({ gen: 1, plan: plan(items), issued, acked: new Set(acked), commit: false })

describe('the oracle', () => {
  it('accepts every prefix that holds the acknowledged writes, and nothing shorter', () => {
    for (let n = 0; n <= 6; n++) {
      expect(history().verify(after(n), gen([])).ok, `n = ${n}`).toBe(true)
      expect(history().verify(after(n), gen([0, 1, 2])).ok, `n = ${n}, items 0-2 acknowledged`).toBe(n >= 3)
    }
    // 'none' promises no acknowledged write, only a prefix.
    expect(history('none').verify(after(1), gen([0, 1, 2, 4, 5])).ok).toBe(true)
  })

  it('an acknowledged write that is missing is counted as lost', () => {
    const state = after(6)
    state.delete(5)
    const verdict = history().verify(state, gen([0, 1, 2, 4, 5]))
    expect(verdict.ok).toBe(false)
    expect(verdict.lost).toBe(1)
    expect(verdict.messages.join()).toContain('acknowledged write lost: item 4')
  })

  it('a hole (a later write present, an earlier issued one missing) is not a prefix', () => {
    const state = after(6)
    state.set(2, v(0, 1, 2)) // item 1 (del 2) undone while items 2-5 are there
    const verdict = history().verify(state, gen([]))
    expect(verdict.ok).toBe(false)
    expect(verdict.notAPrefix).toBe(1)
  })

  it('a torn batch (some members applied, some not) is not a prefix', () => {
    const state = after(2)
    state.set(3, v(1, 2, 3, 40, 0, 3)) // one member of batch 2 without the others
    expect(history().verify(state, gen([])).ok).toBe(false)
  })

  it('a value never issued, a value under another key, and damaged bytes are wrong values', () => {
    const never = after(4)
    never.set(5, v(1, 4, 5, 60))
    expect(history().verify(never, gen([], 4)).wrong).toBe(1) // item 4 was not issued yet
    const moved = after(6)
    moved.set(4, v(1, 2, 3, 40, 0, 3))
    expect(history().verify(moved, gen([])).wrong).toBe(1)
    const damaged = after(6)
    const bytes = v(1, 4, 5, 60)
    bytes[45]! ^= 1
    damaged.set(5, bytes)
    expect(history().verify(damaged, gen([])).wrong).toBe(1)
    const garbage = after(6)
    garbage.set(5, new Uint8Array(60).fill(7))
    expect(history().verify(garbage, gen([])).wrong).toBe(1)
  })

  it('a rejected write may show or not, without breaking the prefix', () => {
    const withIt = after(6)
    const without = after(6)
    without.set(3, v(1, 2, 3, 40, 0, 3)) // item 5 (put 3) rejected and absent: key 3 keeps batch 2's value
    const rejected = { ...gen([0, 1, 2, 4]), rejected: new Set([5]) }
    expect(history().verify(withIt, rejected).ok).toBe(true)
    expect(history().verify(without, rejected).ok).toBe(true)
    expect(history().verify(without, gen([0, 1, 2, 4])).ok).toBe(true)
    expect(history().verify(without, gen([0, 1, 2, 4, 5])).ok).toBe(false)
  })

  it('a key verified earlier and not written since must not change', () => {
    const state = after(6)
    state.set(7, v(0, 3, 7)) // appears from an earlier generation that never had it
    expect(history().verify(state, gen([])).ok).toBe(false)
  })

  it('values name their write and catch any damaged byte', () => {
    const bytes = encodeValue(3, 77, 2, 9, -12.5, 300)
    const header = decodeValue(bytes)
    expect(header).toEqual({ gen: 3, index: 77, member: 2, batchSize: 9, key: -12.5, length: 300 })
    for (const at of [0, 5, 20, 31, 32, 299]) {
      const copy = bytes.slice()
      copy[at]! ^= 0x10
      const h = decodeValue(copy)
      expect(h === null || !valueMatches(copy, h), `byte ${at}`).toBe(true)
    }
  })

  it('a plan is the same on every call (the parent regenerates what the child ran)', () => {
    expect(planGeneration(9, 2, 500)).toEqual(planGeneration(9, 2, 500))
    expect(planGeneration(9, 2, 500)).not.toEqual(planGeneration(9, 3, 500))
  })
})

describe('CrashFileSystem (power loss)', () => {
  it('keeps unsynced writes in memory: visible to reads, absent from the file until datasync', async () => {
    const { file } = await loadEngine()
    const dir = path.join(root, 'held')
    fs.mkdirSync(dir)
    const crashFs = new CrashFileSystem(file, { holdUnsynced: true })
    const f = crashFs.openFile(path.join(dir, 'a'), { create: true })
    f.write(Uint8Array.of(1, 2, 3, 4), 0, 4, 0)
    f.write(Uint8Array.of(9), 0, 1, 10)
    const read = new Uint8Array(16)
    expect(f.read(read, 0, 16, 0)).toBe(11)
    expect([...read.subarray(0, 11)]).toEqual([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 9])
    expect(f.size()).toBe(11)
    expect(fs.statSync(path.join(dir, 'a')).size).toBe(0)
    f.truncate(2)
    expect(f.size()).toBe(2)
    await f.datasyncAsync()
    expect([...fs.readFileSync(path.join(dir, 'a'))]).toEqual([1, 2])
    f.write(Uint8Array.of(7), 0, 1, 1)
    expect([...fs.readFileSync(path.join(dir, 'a'))]).toEqual([1, 2])
    f.close()
  })

  it('powerCut undoes the directory changes no directory sync made durable', async () => {
    const { file } = await loadEngine()
    const dir = path.join(root, 'names')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'old'), 'old')
    fs.writeFileSync(path.join(dir, 'kept'), 'kept')
    const journal = path.join(root, 'names.journal')
    const graves = path.join(root, 'names.graves')
    const crashFs = new CrashFileSystem(file, { holdUnsynced: true, journalPath: journal, graveDir: graves })
    crashFs.openFile(path.join(dir, 'synced'), { create: true }).close()
    crashFs.syncDirectory(dir)
    crashFs.openFile(path.join(dir, 'unsynced'), { create: true }).close()
    crashFs.mkdir(path.join(dir, 'sub', 'deeper'))
    crashFs.remove(path.join(dir, 'old'))
    crashFs.rename(path.join(dir, 'kept'), path.join(dir, 'renamed'))
    expect(fs.readdirSync(dir).sort()).toEqual(['renamed', 'sub', 'synced', 'unsynced'])
    powerCut(journal, graves)
    expect(fs.readdirSync(dir).sort()).toEqual(['kept', 'old', 'synced'])
    expect(fs.readFileSync(path.join(dir, 'old'), 'utf8')).toBe('old')
    expect(fs.existsSync(graves)).toBe(false)
  })

  it('failNext fails the N-th call with the engine’s typed error', async () => {
    const { file, StoreError } = await loadEngine()
    const dir = path.join(root, 'faults')
    fs.mkdirSync(dir)
    const crashFs = new CrashFileSystem(file)
    crashFs.failNext({ op: 'write', code: 'ENOSPC', after: 1 })
    const f = crashFs.openFile(path.join(dir, 'a'), { create: true })
    f.write(Uint8Array.of(1), 0, 1, 0)
    let error: unknown
    try {
      f.write(Uint8Array.of(2), 0, 1, 1)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(StoreError)
    expect((error as InstanceType<typeof StoreError>).code).toBe('NO_SPACE')
    f.write(Uint8Array.of(3), 0, 1, 2)
    f.close()
  })
})
