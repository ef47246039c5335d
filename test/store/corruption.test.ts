/**
 * Damaged page files: one flipped byte in a page that holds records or values must surface as a
 * CORRUPTION StoreError naming the page (at open or at the read that touches the page) and must never
 * produce a wrong value. A damaged meta page falls back to the other one (an older, consistent
 * generation) or fails with CORRUPTION; both meta pages damaged is CORRUPTION, never an empty store.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { beforeAll, afterAll, describe, expect, it } from 'vitest'
import { ErrorCode, open } from '../../src/index.js'
import type { BatchOperation } from '../../src/store/api.js'
import {
  Model,
  Rng,
  bytesEqual,
  bytesFromSeed,
  closeQuietly,
  codeOfError,
  describeBytes,
  describeKey,
  makeTempDir,
  removeDir,
  useTempDirs,
  type Store,
} from './helpers.js'

const tempDir = useTempDirs('learned-storage-corrupt-')

const PAGE = 4096
const DATA_FILE = 'data.lsp'
/** Page types of docs/FORMAT.md. */
const META = 1
const FREE_LIST = 4
const MODEL_PAGE = 5

function copyStore(from: string): string {
  const to = tempDir()
  fs.cpSync(from, to, { recursive: true })
  return to
}

function flipByte(file: string, offset: number, mask = 0x5a): void {
  const fd = fs.openSync(file, 'r+')
  try {
    const byte = Buffer.alloc(1)
    expect(fs.readSync(fd, byte, 0, 1, offset)).toBe(1)
    byte[0] = (byte[0] as number) ^ mask
    fs.writeSync(fd, byte, 0, 1, offset)
  } finally {
    fs.closeSync(fd)
  }
}

/** The page-type byte of every page in the file. */
function pageTypes(file: string): number[] {
  const bytes = fs.readFileSync(file)
  const types: number[] = []
  for (let offset = 0; offset + PAGE <= bytes.length; offset += PAGE) types.push(bytes[offset + 4] as number)
  return types
}

interface Outcome {
  /** 'ok', or the code of the StoreError met (at open or at a read). */
  result: string
  where: string
  message: string
  /** Mismatches against every allowed model: a non-empty list is a wrong value returned. */
  wrong: string[]
}

/**
 * Opens `dir` read-only and reads everything: get of every key of every allowed model, then a full
 * range scan. Stops at the first error. A value is wrong unless one of the allowed models agrees with
 * the whole store (so a fallback must be a consistent snapshot, not a mix).
 */
async function readAll(dir: string, allowed: Model[]): Promise<Outcome> {
  let db: Store | undefined
  let where = 'open'
  const seen = new Map<number, Uint8Array | undefined>()
  try {
    db = await open(dir, { readOnly: true, cacheBytes: 8 * PAGE })
    const keys = new Set<number>()
    for (const model of allowed) for (const key of model.keys()) keys.add(key)
    for (const key of keys) {
      where = `get(${describeKey(key)})`
      seen.set(key, db.get(key))
    }
    where = 'range'
    const scanned = new Map<number, Uint8Array>()
    for (const [key, value] of db.range()) scanned.set(key, value)
    where = 'stats'
    const records = db.stats().records
    // Which models does what we read agree with?
    const diffs = allowed.map((model) => {
      for (const [key, value] of seen) {
        const expected = model.get(key)
        if ((value === undefined) !== (expected === undefined) || (value !== undefined && !bytesEqual(value, expected as Uint8Array))) {
          return `get(${describeKey(key)}) = ${describeBytes(value)}, expected ${describeBytes(expected)}`
        }
      }
      if (scanned.size !== model.size) return `range returned ${scanned.size} entries, expected ${model.size}`
      for (const [key, value] of scanned) {
        const expected = model.get(key)
        if (expected === undefined || !bytesEqual(value, expected)) return `range entry ${describeKey(key)} = ${describeBytes(value)}, expected ${describeBytes(expected)}`
      }
      if (records !== model.size) return `stats().records = ${records}, expected ${model.size}`
      return ''
    })
    return { result: 'ok', where: '', message: '', wrong: diffs.includes('') ? [] : diffs }
  } catch (error) {
    // Whatever was read before the error must still be right for some model.
    const wrong = allowed.every((model) => [...seen].some(([key, value]) => {
      const expected = model.get(key)
      return (value === undefined) !== (expected === undefined) || (value !== undefined && !bytesEqual(value, expected as Uint8Array))
    }))
      ? ['values read before the error match no allowed model']
      : []
    return { result: codeOfError(error), where, message: error instanceof Error ? error.message : String(error), wrong }
  } finally {
    await closeQuietly(db)
  }
}

// ---------------------------------------------------------------------------------------------
// A store built once: several thousand small records and some overflow values
// ---------------------------------------------------------------------------------------------

let built = ''
let builtModel = new Model()
/** Pages (other than meta) that creating an empty store writes. */
let pagesOfEmptyStore = new Set<number>()

beforeAll(async () => {
  built = makeTempDir('learned-storage-corrupt-base-')
  const model = new Model()
  const db = await open(built, { pageSizeBytes: PAGE, cacheBytes: 4096 * PAGE })
  try {
    const batch: BatchOperation[] = []
    for (let i = 0; i < 3000; i++) {
      const key = i * 3.5 - 2000
      const value = bytesFromSeed(20 + (i % 90), i)
      batch.push({ type: 'put', key, value })
      model.put(key, value)
    }
    for (let i = 0; i < 6; i++) {
      const key = 100_000 + i
      const value = bytesFromSeed(9000 + i * 3000, 77 + i)
      batch.push({ type: 'put', key, value })
      model.put(key, value)
    }
    await db.batch(batch)
  } finally {
    await db.close()
  }
  builtModel = model

  const empty = makeTempDir('learned-storage-corrupt-empty-')
  try {
    await (await open(empty, { pageSizeBytes: PAGE })).close()
    pagesOfEmptyStore = new Set(pageTypes(path.join(empty, DATA_FILE)).flatMap((type, id) => (id >= 2 && type !== 0 ? [id] : [])))
  } finally {
    removeDir(empty)
  }
})

afterAll(() => {
  if (built !== '') removeDir(built)
})

describe('a flipped byte in a record page', () => {
  it('is reported as CORRUPTION naming the page, and no wrong value is ever returned', async () => {
    const types = pageTypes(path.join(built, DATA_FILE))
    expect(types.length).toBeGreaterThan(10)
    // Every written page but the meta pages: leaves, values, overflow runs, tree image, free list.
    const candidates = types.flatMap((type, id) => (id >= 2 && type !== 0 && type !== META ? [id] : []))
    expect(candidates.length).toBeGreaterThan(20)
    // The pages written when the store was created empty are stale now (their checkpoint was
    // superseded); each of the others was written by the one checkpoint that holds all the data (no
    // key was ever overwritten or deleted), so a damaged one must be noticed when everything is read.
    const live = new Set(candidates.filter((id) => !pagesOfEmptyStore.has(id)))
    expect(live.size).toBeGreaterThan(20)

    const rng = new Rng(0xc0ffee)
    const picks = new Set<number>([candidates[0] as number, candidates[candidates.length - 1] as number])
    // One page of each type, then random ones.
    for (const type of new Set(candidates.map((id) => types[id]))) {
      const ofType = candidates.filter((id) => types[id] === type && live.has(id))
      if (ofType.length > 0) picks.add(ofType[rng.int(ofType.length)] as number)
    }
    while (picks.size < Math.min(16, candidates.length)) picks.add(candidates[rng.int(candidates.length)] as number)
    const undetected: string[] = []
    for (const pageId of picks) {
      for (const offsetInPage of [100, PAGE - 1, 13]) {
        const dir = copyStore(built)
        flipByte(path.join(dir, DATA_FILE), pageId * PAGE + offsetInPage)
        const outcome = await readAll(dir, [builtModel])
        const label = `page ${pageId} (type ${types[pageId]}${live.has(pageId) ? '' : ', stale'}) byte ${offsetInPage}`
        expect(outcome.wrong, `${label}: wrong values`).toEqual([])
        expect(['ok', ErrorCode.CORRUPTION], `${label}: ${outcome.message}`).toContain(outcome.result)
        if (outcome.result === ErrorCode.CORRUPTION) {
          expect(outcome.message, label).toMatch(new RegExp(`page ${pageId}\\b`))
        } else if (live.has(pageId)) {
          undetected.push(label)
        }
        removeDir(dir)
      }
    }
    expect(undetected, 'live pages whose damage went unnoticed').toEqual([])
  })

  it('when open survives a damaged page, only the keys on that page fail (CORRUPTION naming it); the others read fine', async () => {
    const types = pageTypes(path.join(built, DATA_FILE))
    const candidates = types.flatMap((type, id) => (id >= 2 && type !== 0 && type !== META && type !== FREE_LIST && type !== MODEL_PAGE ? [id] : []))
    const rng = new Rng(42)
    const picks = new Set<number>([candidates[0] as number, candidates[candidates.length - 1] as number])
    while (picks.size < Math.min(5, candidates.length)) picks.add(candidates[rng.int(candidates.length)] as number)
    for (const id of picks) {
      const trial = copyStore(built)
      flipByte(path.join(trial, DATA_FILE), id * PAGE + 200)
      let db: Store | undefined
      try {
        try {
          db = await open(trial, { readOnly: true, cacheBytes: 8 * PAGE })
        } catch (error) {
          expect(codeOfError(error), `open with page ${id} damaged`).toBe(ErrorCode.CORRUPTION)
          continue
        }
        const failing: number[] = []
        for (const key of builtModel.keys()) {
          let got: Uint8Array | undefined
          try {
            got = db.get(key)
          } catch (error) {
            expect(codeOfError(error), `get(${key}) with page ${id} damaged`).toBe(ErrorCode.CORRUPTION)
            expect((error as Error).message).toMatch(new RegExp(`page ${id}\\b`))
            failing.push(key)
            continue
          }
          expect(got !== undefined && bytesEqual(got, builtModel.get(key) as Uint8Array), `get(${key}) with page ${id} damaged`).toBe(true)
        }
        expect(failing.length, `keys failing with page ${id} damaged`).toBeLessThan(builtModel.size / 2)
      } finally {
        await closeQuietly(db)
        removeDir(trial)
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Meta pages
// ---------------------------------------------------------------------------------------------

describe('a damaged meta page', () => {
  /** Two generations: `old` checkpointed first, then `current` on top of it. */
  async function twoGenerations(): Promise<{ dir: string; old: Model; current: Model }> {
    const dir = tempDir()
    const old = new Model()
    let db = await open(dir, { pageSizeBytes: PAGE })
    try {
      for (let k = 0; k < 400; k++) {
        old.put(k, bytesFromSeed(50, k))
        await db.put(k, bytesFromSeed(50, k))
      }
    } finally {
      await db.close()
    }
    const current = old.clone()
    db = await open(dir, { pageSizeBytes: PAGE })
    try {
      for (let k = 0; k < 400; k += 3) {
        current.put(k, bytesFromSeed(70, k + 5000))
        await db.put(k, bytesFromSeed(70, k + 5000))
      }
      for (let k = 1; k < 400; k += 7) {
        current.del(k)
        await db.del(k)
      }
      current.put(9999, bytesFromSeed(12_000, 1))
      await db.put(9999, bytesFromSeed(12_000, 1))
    } finally {
      await db.close()
    }
    return { dir, old, current }
  }

  for (const metaPage of [0, 1]) {
    it(`meta page ${metaPage} damaged: opens with every acknowledged write (the older meta page plus the log) or fails with CORRUPTION`, async () => {
      const { dir, current } = await twoGenerations()
      for (const offset of [100, 20, PAGE - 1]) {
        const trial = copyStore(dir)
        flipByte(path.join(trial, DATA_FILE), metaPage * PAGE + offset)
        // The older generation alone would lose acknowledged writes: only `current` is allowed.
        const outcome = await readAll(trial, [current])
        expect(outcome.wrong, `meta ${metaPage} byte ${offset}`).toEqual([])
        expect(['ok', ErrorCode.CORRUPTION], outcome.message).toContain(outcome.result)
        if (outcome.result === 'ok') {
          // Writable again after the fallback, and the next checkpoint repairs the meta pages.
          let db: Store | undefined
          try {
            db = await open(trial, { pageSizeBytes: PAGE })
            await db.put(-5, Uint8Array.of(5))
            await db.close()
            db = await open(trial, { readOnly: true })
            expect(db.get(-5)).toEqual(Uint8Array.of(5))
          } finally {
            await closeQuietly(db)
          }
        }
        removeDir(trial)
      }
    })
  }

  it('newest meta page damaged after the older checkpoint\'s pages were reused (a crash image): CORRUPTION or every acknowledged write, never a silent loss', async () => {
    // Rounds of overwrites with a checkpoint after each: each round's values make the previous
    // round's value pages dead, and a checkpoint frees them. After the last checkpoint, more writes
    // through a small cache reuse pages the older meta page still references; the directory copied
    // then (the store open, its log synced) is what a crash would leave.
    const dir = tempDir()
    const current = new Model()
    const image = tempDir()
    const db = await open(dir, { pageSizeBytes: PAGE, cacheBytes: 8 * PAGE, checkpointWalBytes: 1 << 30 })
    try {
      for (let round = 0; round < 4; round++) {
        const batch: BatchOperation[] = []
        for (let k = 0; k < 1500; k++) {
          const value = bytesFromSeed(60 + ((k + round) % 40), k * 10 + round)
          batch.push({ type: 'put', key: k * 2.5, value })
          current.put(k * 2.5, value)
        }
        await db.batch(batch)
        await db.checkpoint()
      }
      for (let k = 0; k < 1500; k++) {
        const value = bytesFromSeed(300, k + 99_000)
        await db.put(k * 2.5, value)
        current.put(k * 2.5, value)
      }
      fs.cpSync(dir, image, { recursive: true })
    } finally {
      await db.close()
    }
    const bytes = fs.readFileSync(path.join(image, DATA_FILE))
    const generationOf = (page: number): number => bytes.readDoubleLE(page * PAGE + 48)
    const newest = generationOf(0) > generationOf(1) ? 0 : 1
    for (const offset of [100, 48, PAGE - 1]) {
      const trial = copyStore(image)
      flipByte(path.join(trial, DATA_FILE), newest * PAGE + offset)
      const outcome = await readAll(trial, [current])
      expect(outcome.wrong, `newest meta ${newest} byte ${offset}: ${outcome.message}`).toEqual([])
      expect(['ok', ErrorCode.CORRUPTION], outcome.message).toContain(outcome.result)
      if (outcome.result === ErrorCode.CORRUPTION) {
        expect(outcome.where).toBe('open')
        expect(outcome.message).toMatch(/meta page/)
      }
      removeDir(trial)
    }
  })

  it('a page the older meta page references, rewritten after it (a higher write epoch), refuses the fallback with CORRUPTION', async () => {
    // What a reused page of the same type looks like: valid, sealed, but written later. Simulated by
    // raising the epoch of a value page both checkpoints reference and sealing it again.
    const { dir, current } = await twoGenerations()
    const file = path.join(dir, DATA_FILE)
    const bytes = fs.readFileSync(file)
    const generationOf = (page: number): number => bytes.readDoubleLE(page * PAGE + 48)
    const newest = generationOf(0) > generationOf(1) ? 0 : 1
    const older = generationOf(1 - newest)
    let victim = -1
    for (let page = 2; page * PAGE < bytes.length; page++) {
      const epoch = bytes.readUInt32LE(page * PAGE + 16)
      if (bytes[page * PAGE + 4] === 6 && epoch >= 1 && epoch <= older && (victim < 0 || epoch < bytes.readUInt32LE(victim * PAGE + 16))) victim = page
    }
    expect(victim, 'a value page written before the older checkpoint').toBeGreaterThan(1)
    const page = bytes.subarray(victim * PAGE, (victim + 1) * PAGE)
    page.writeUInt32LE(older + 5, 16)
    page.writeUInt32LE(0, 12)
    page.writeUInt32LE(zlib.crc32(page), 12)
    fs.writeFileSync(file, bytes)

    // The newest meta page intact: no fallback, nothing to verify, every write there.
    const intact = await readAll(copyStore(dir), [current])
    expect(intact.result, intact.message).toBe('ok')
    expect(intact.wrong).toEqual([])

    flipByte(file, newest * PAGE + 100)
    const outcome = await readAll(dir, [current])
    expect(outcome.result, outcome.message).toBe(ErrorCode.CORRUPTION)
    expect(outcome.where).toBe('open')
    expect(outcome.message).toContain(`page ${victim} at offset ${victim * PAGE} was written after checkpoint ${older}`)
  })

  it("at durability 'none', a checkpoint is not switched in before the log holds its writes: the older meta page plus the log still has them", async () => {
    // At 'none' the log is written lazily. A checkpoint taken right after writes, and a copy of the
    // directory taken the moment it resolves (what a kill then would leave), must not depend on the
    // new meta page alone.
    const dir = tempDir()
    const current = new Model()
    const image = tempDir()
    const db = await open(dir, { pageSizeBytes: PAGE, durability: 'none' })
    try {
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < 300; k++) {
          const value = bytesFromSeed(20 + (k % 30), k * 7 + round)
          void db.put(k * 1.5, value)
          current.put(k * 1.5, value)
        }
        await db.checkpoint()
      }
      fs.cpSync(dir, image, { recursive: true })
    } finally {
      await db.close()
    }
    const bytes = fs.readFileSync(path.join(image, DATA_FILE))
    const newest = bytes.readDoubleLE(48) > bytes.readDoubleLE(PAGE + 48) ? 0 : 1
    flipByte(path.join(image, DATA_FILE), newest * PAGE + 100)
    const outcome = await readAll(image, [current])
    expect(outcome.wrong, outcome.message).toEqual([])
    expect(['ok', ErrorCode.CORRUPTION], outcome.message).toContain(outcome.result)
  })

  it('both meta pages damaged: open fails with CORRUPTION (never an empty or reinitialized store)', async () => {
    const { dir } = await twoGenerations()
    const file = path.join(dir, DATA_FILE)
    const sizeBefore = fs.statSync(file).size
    flipByte(file, 0 * PAGE + 100)
    flipByte(file, 1 * PAGE + 100)
    const damaged = fs.readFileSync(file)
    for (const options of [{}, { readOnly: true }, { pageSizeBytes: PAGE }]) {
      let db: Store | undefined
      let code = 'opened'
      try {
        db = await open(dir, options)
      } catch (error) {
        code = codeOfError(error)
      } finally {
        await closeQuietly(db)
      }
      expect(code, JSON.stringify(options)).toBe(ErrorCode.CORRUPTION)
    }
    // The failed opens did not "repair" the file by overwriting it.
    expect(fs.statSync(file).size).toBe(sizeBefore)
    expect(fs.readFileSync(file).equals(damaged)).toBe(true)
  })

  it('a truncated page file is CORRUPTION (or opens an older consistent generation), never wrong values', async () => {
    const { dir, old, current } = await twoGenerations()
    const file = path.join(dir, DATA_FILE)
    const size = fs.statSync(file).size
    for (const cut of [size - PAGE, size - 1, Math.floor(size / 2)]) {
      const trial = copyStore(dir)
      fs.truncateSync(path.join(trial, DATA_FILE), cut)
      const outcome = await readAll(trial, [current, old])
      expect(outcome.wrong, `truncated to ${cut}`).toEqual([])
      expect(['ok', ErrorCode.CORRUPTION], `${cut}: ${outcome.message}`).toContain(outcome.result)
      removeDir(trial)
    }
  })
})
