/**
 * Hostile on-disk fields (issue 16): one field of a real store changed and its checksum re-sealed,
 * so that the damage reaches the parsers. Each case is a bug the crafted-file fuzzer
 * (test/crash/fuzz.mjs) found, named after it. Checksums and layouts come from docs/FORMAT.md and
 * docs/WAL.md (the `crc-32` package), not from the engine.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import CRC32 from 'crc-32'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import { STORE_FORMAT_VERSION } from '../../src/pages/meta-page.js'
import { bytesEqual, bytesFromSeed, closeQuietly, codeOfError, makeTempDir, removeDir, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-hostile-')
const PAGE = 4096
const OPTIONS = { pageSizeBytes: PAGE, walSegmentBytes: 65536, checkpointWalBytes: 64 << 20, checkpointIntervalMs: 3_600_000, durability: 'os' as const }
/** docs/FORMAT.md: meta page fields. */
const META = { VERSION: 36, PAGE_COUNT: 44, GENERATION: 48, TREE_BYTES: 72, FREE_ENTRIES: 80, REDO_LSN: 88, CELL_BYTES: 100 }

let image = ''
const model = new Map<number, Uint8Array>()

beforeAll(async () => {
  const live = makeTempDir('learned-storage-hostile-live-')
  image = makeTempDir('learned-storage-hostile-image-')
  const db = await open(live, OPTIONS)
  for (let i = 0; i < 600; i++) {
    const key = (i * 7919) % 1000
    const value = bytesFromSeed(i % 29 === 0 ? 1500 : i > 300 ? 300 + (i % 500) : 20 + (i % 150), i)
    await db.put(key, value)
    model.set(key, value)
    if (i === 150 || i === 300) await db.checkpoint()
  }
  // A crash image at 'os': every resolved write is in the files; the last 299 only in the log.
  fs.rmSync(image, { recursive: true, force: true })
  fs.cpSync(live, image, { recursive: true })
  await db.close()
  removeDir(live)
})

afterAll(() => removeDir(image))

function copyImage(): string {
  const dir = tempDir()
  fs.rmSync(dir, { recursive: true, force: true })
  fs.cpSync(image, dir, { recursive: true })
  return dir
}

function pageChecksum(page: Uint8Array): number {
  let crc = CRC32.buf(page.subarray(0, 12))
  crc = CRC32.buf(new Uint8Array(4), crc)
  return CRC32.buf(page.subarray(16), crc) >>> 0
}

/** Changes the data file's page `pageId` with `edit` and re-seals its checksum. */
function editPage(dir: string, pageId: number, edit: (page: Buffer) => void): void {
  const file = path.join(dir, 'data.lsp')
  const bytes = fs.readFileSync(file)
  const page = bytes.subarray(pageId * PAGE, (pageId + 1) * PAGE)
  edit(page)
  page.writeUInt32LE(pageChecksum(page), 12)
  fs.writeFileSync(file, bytes)
}

function newestMeta(dir: string): number {
  const bytes = fs.readFileSync(path.join(dir, 'data.lsp'))
  return bytes.readDoubleLE(META.GENERATION) > bytes.readDoubleLE(PAGE + META.GENERATION) ? 0 : 1
}

/** The ids of pages of `type` (docs/FORMAT.md: the type byte at 4) below the newest page count. */
function pagesOfType(dir: string, type: number): number[] {
  const bytes = fs.readFileSync(path.join(dir, 'data.lsp'))
  const count = bytes.readUInt32LE(newestMeta(dir) * PAGE + META.PAGE_COUNT)
  const ids: number[] = []
  for (let p = 2; p < count; p++) if (bytes[p * PAGE + 4] === type && pageChecksum(bytes.subarray(p * PAGE, (p + 1) * PAGE)) === bytes.readUInt32LE(p * PAGE + 12)) ids.push(p)
  return ids
}

/** The first leaf the newest tree image names (docs/FORMAT.md: tree image records from byte 56). */
function firstLeafOfTree(dir: string): number {
  const bytes = fs.readFileSync(path.join(dir, 'data.lsp'))
  const treeHead = bytes.readUInt32LE(newestMeta(dir) * PAGE + 64)
  const payload = treeHead * PAGE + 40
  let at = 56
  while (bytes[payload + at] === 1) at += 48
  expect(bytes[payload + at]).toBe(2)
  return bytes.readUInt32LE(payload + at + 4)
}

/**
 * With the newest meta page refused, the store opens the older checkpoint and replays the log: the
 * older checkpoint's pages and log segments are kept while its meta page is on disk (free-space.ts
 * rule 2), so all data is right.
 */
function expectOlder(result: Attempt): void {
  expect(result.message).toBe('')
  expect(result.code).toBe('ok')
  expect(result.right).toBe(true)
}

function hashDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, name)
    out[name] = fs.statSync(full).isDirectory() ? 'dir' : crypto.createHash('sha1').update(fs.readFileSync(full)).digest('hex')
  }
  return out
}

interface Attempt {
  code: string
  message: string
  right: boolean
  biggestAllocation: number
}

/**
 * Opens `dir` (read-only unless `readWrite`), reads everything and compares it with the model;
 * watches typed-array allocations meanwhile (the largest one asked for).
 */
async function attempt(dir: string, readWrite = false): Promise<Attempt> {
  const Original = globalThis.Uint8Array
  let biggest = 0
  const Watched = class extends Original {
    constructor(...args: unknown[]) {
      if (typeof args[0] === 'number') biggest = Math.max(biggest, args[0])
      super(...(args as []))
    }
    static override [Symbol.hasInstance](x: unknown): boolean {
      return x instanceof Original
    }
  }
  globalThis.Uint8Array = Watched as unknown as Uint8ArrayConstructor
  let db: Store | undefined
  try {
    db = await open(dir, readWrite ? { cacheBytes: 8 * PAGE } : { readOnly: true })
    let right = db.stats().records === model.size
    for (const [key, value] of db.range()) {
      const expected = model.get(key)
      if (expected === undefined || !bytesEqual(value, expected)) right = false
    }
    return { code: 'ok', message: '', right, biggestAllocation: biggest }
  } catch (error) {
    return { code: codeOfError(error), message: error instanceof Error ? error.message : String(error), right: false, biggestAllocation: biggest }
  } finally {
    globalThis.Uint8Array = Original
    await closeQuietly(db)
  }
}

describe('hostile on-disk fields, re-sealed', () => {
  it('the image opens to the model (the baseline every case changes one field of)', async () => {
    const dir = copyImage()
    expect(await attempt(dir)).toMatchObject({ code: 'ok', right: true })
  })

  // A damaged newest meta page may fall back to the older one (its pages intact, its log still
  // there): then the data must be right. Both damaged: CORRUPTION naming the field.
  it('meta tree image bytes of 2^53 - 1: the older meta page or CORRUPTION naming the field, no allocation sized by it', async () => {
    const dir = copyImage()
    editPage(dir, newestMeta(dir), (page) => page.writeDoubleLE(2 ** 53 - 1, META.TREE_BYTES))
    for (const readWrite of [false, true]) {
      const result = await attempt(dir, readWrite)
      expectOlder(result)
      expect(result.biggestAllocation).toBeLessThan(64 << 20)
    }
    const both = copyImage()
    for (const meta of [0, 1]) editPage(both, meta, (page) => page.writeDoubleLE(2 ** 53 - 1, META.TREE_BYTES))
    const result = await attempt(both)
    expect(result.code).toBe('CORRUPTION')
    expect(result.message).toContain('tree image bytes field')
    expect(result.biggestAllocation).toBeLessThan(64 << 20)
  })

  it('meta free-list entries of 815,895,256: no 3 GB allocation; CORRUPTION naming the field', async () => {
    const dir = copyImage()
    editPage(dir, newestMeta(dir), (page) => page.writeDoubleLE(815_895_256, META.FREE_ENTRIES))
    const result = await attempt(dir)
    expectOlder(result)
    expect(result.biggestAllocation).toBeLessThan(64 << 20)
    editPage(dir, 1 - newestMeta(dir), (page) => page.writeDoubleLE(815_895_256, META.FREE_ENTRIES))
    const both = await attempt(dir)
    expect(both.code).toBe('CORRUPTION')
    expect(both.message).toContain('free-list entries field')
    expect(both.biggestAllocation).toBeLessThan(64 << 20)
  })

  it('a newer store format version: FORMAT_VERSION naming both versions, never a fallback to the older meta page, no file changed', async () => {
    const dir = copyImage()
    editPage(dir, newestMeta(dir), (page) => page.writeUInt32LE(STORE_FORMAT_VERSION + 1, META.VERSION))
    const before = hashDir(dir)
    for (const readWrite of [false, true]) {
      const result = await attempt(dir, readWrite)
      expect(result.code).toBe('FORMAT_VERSION')
      expect(result.message).toContain(`store format version ${STORE_FORMAT_VERSION + 1}`)
      expect(result.message).toContain(`reads store format version ${STORE_FORMAT_VERSION}`)
    }
    expect(hashDir(dir)).toEqual(before)
    // The older meta page claiming a newer version refuses the open just the same.
    const other = copyImage()
    editPage(other, 1 - newestMeta(other), (page) => page.writeUInt32LE(9, META.VERSION))
    expect((await attempt(other)).code).toBe('FORMAT_VERSION')
  })

  it('meta generations that are not consecutive: CORRUPTION, not the older checkpoint', async () => {
    const dir = copyImage()
    const newest = newestMeta(dir)
    const bytes = fs.readFileSync(path.join(dir, 'data.lsp'))
    const generation = bytes.readDoubleLE(newest * PAGE + META.GENERATION)
    // The older slot's parity kept, three above the newest: it would win.
    editPage(dir, 1 - newest, (page) => page.writeDoubleLE(generation + 3, META.GENERATION))
    const result = await attempt(dir)
    expect(result.code).toBe('CORRUPTION')
    expect(result.message).toContain('not consecutive')
  })

  it('a redo LSN past the end of the log: the log is set aside, never deleted', async () => {
    const dir = copyImage()
    const segments = fs.readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.wal'))
    const hashes = new Set(segments.map((n) => crypto.createHash('sha1').update(fs.readFileSync(path.join(dir, 'wal', n))).digest('hex')))
    editPage(dir, newestMeta(dir), (page) => page.writeDoubleLE(2 ** 31, META.REDO_LSN))
    const result = await attempt(dir, true)
    expect(result.code).toBe('ok')
    const kept = new Set(Object.values(hashDir(dir)))
    for (const hash of hashes) expect(kept.has(hash)).toBe(true)
    expect(fs.readdirSync(path.join(dir, 'wal', 'set-aside')).length).toBeGreaterThan(0)
  })

  it('a leaf value slot naming page 0xfffffffe: CORRUPTION naming the slot', async () => {
    const dir = copyImage()
    const leaf = firstLeafOfTree(dir)
    editPage(dir, leaf, (page) => {
      const capacity = page.readUInt32LE(64)
      const k = (136 + 4 * ((capacity + 31) >>> 5) + 7) & ~7
      const slots = k + 8 * capacity
      for (let s = 0; s < capacity; s++) {
        // Value slots are f64 handles (page id * 2^21 + record ref), 0 in a gap.
        if (page.readDoubleLE(slots + 8 * s) === 0) continue
        page.writeDoubleLE(0xfffffffe * 2 ** 21 + 2 * 40, slots + 8 * s)
        return
      }
    })
    const result = await attempt(dir)
    expect(result.code).toBe('CORRUPTION')
    expect(result.message).toMatch(/value slot \d+ holds \d+ \(page 4294967294, ref 80\)/)
  })

  it('meta leaf cell bytes that no leaf can have (12, 48 at 4 KiB, 2^31): the older meta page, or CORRUPTION naming the field', async () => {
    for (const bad of [12, 48, 2 ** 31]) {
      const dir = copyImage()
      editPage(dir, newestMeta(dir), (page) => page.writeUInt32LE(bad, META.CELL_BYTES))
      expectOlder(await attempt(dir))
      editPage(dir, 1 - newestMeta(dir), (page) => page.writeUInt32LE(bad, META.CELL_BYTES))
      const both = await attempt(dir)
      expect(both.code).toBe('CORRUPTION')
      expect(both.message).toContain(`leaf cell bytes field: ${bad}`)
    }
  })

  it('a leaf value slot claiming a value longer than its cell, or a cell with bytes past its value: CORRUPTION naming the slot', async () => {
    const cases: [string, (page: Buffer, slots: number, cells: number, s: number) => void, RegExp][] = [
      ['too long', (page, slots, _cells, s) => page.writeDoubleLE(-100, slots + 8 * s), /value slot \d+ holds -100: a value of 99 bytes in a 16-byte cell/],
      ['bytes past', (page, slots, cells, s) => {
        page.writeDoubleLE(-1, slots + 8 * s)
        page[cells + 16 * s + 3] = 0x55
      }, /the cell of slot \d+ holds bytes past its 0-byte value/],
    ]
    for (const [, edit, message] of cases) {
      const dir = copyImage()
      const leaf = firstLeafOfTree(dir)
      editPage(dir, leaf, (page) => {
        const capacity = page.readUInt32LE(64)
        const k = (136 + 4 * ((capacity + 31) >>> 5) + 7) & ~7
        const slots = k + 8 * capacity
        const cells = k + 16 * capacity
        for (let s = 0; s < capacity; s++) {
          if (page.readDoubleLE(slots + 8 * s) === 0) continue
          edit(page, slots, cells, s)
          return
        }
      })
      const result = await attempt(dir)
      expect(result.code).toBe('CORRUPTION')
      expect(result.message).toMatch(message)
    }
  })

  it('a leaf page whose model or expected cost is unusable (m1 0, m2 NaN, b +Infinity, expected iterations -1): CORRUPTION naming the field', async () => {
    // docs/FORMAT.md "Leaf page": the model at bytes 32-63, the expected costs at 72 and 80. Since
    // format 8 the page is the model's only copy (the tree image holds the leaf's sizes alone).
    const cases: [number, number, RegExp][] = [
      [32, 0, /model fields m1 0, c /],
      [48, NaN, /m2 NaN, b /],
      [56, Infinity, /b Infinity: not an increasing finite line/],
      [72, -1, /expected cost field at byte 72 is -1/],
    ]
    for (const [offset, value, message] of cases) {
      const dir = copyImage()
      const leaf = firstLeafOfTree(dir)
      editPage(dir, leaf, (page) => page.writeDoubleLE(value, offset))
      const result = await attempt(dir)
      expect(result.code).toBe('CORRUPTION')
      expect(result.message).toMatch(message)
      expect(result.message).toContain(`page ${leaf}`)
    }
  })

  it('a value record length changed in a re-sealed value page: CORRUPTION, never a shorter value', async () => {
    const dir = copyImage()
    const valuePage = pagesOfType(dir, 6)[0]!
    // The first record (docs/FORMAT.md: at byte 40), short or long form: its length one less.
    editPage(dir, valuePage, (page) => {
      if (page[40]! < 0x80) page[40] = page[40]! - 1
      else page.writeUIntLE(page.readUIntLE(41, 3) - 1, 41, 3)
    })
    const result = await attempt(dir)
    expect(result.code).toBe('CORRUPTION')
    expect(result.message).toContain(`page ${valuePage}`)
  })

  it('a short value record cut to length 0, the records after it lining up again: CORRUPTION, never an empty value', async () => {
    // Found by the fuzzer's long run (seed 20261204, trial 13409: a length of 4 set to 0): a walk
    // of the page's records without their own checks lined up again after the shortened record,
    // and a get returned 0 bytes. Every short record of the first value pages, one at a time.
    const pages = pagesOfType(copyImage(), 6).slice(0, 3)
    let trials = 0
    for (const valuePage of pages) {
      const bytes = fs.readFileSync(path.join(image, 'data.lsp')).subarray(valuePage * PAGE, (valuePage + 1) * PAGE)
      const end = bytes.readUInt32LE(32)
      // docs/FORMAT.md: a short record is u8 length (< 0x80), u32 check, payload; a long one
      // u8 form, u24 length, u32 check, payload.
      for (let at = 40; at < end && trials < 40; ) {
        const short = bytes[at]! < 0x80
        const length = short ? bytes[at]! : bytes.readUIntLE(at + 1, 3)
        if (short && length > 0) {
          const dir = copyImage()
          editPage(dir, valuePage, (page) => {
            page[at] = 0
          })
          const result = await attempt(dir)
          expect(result.code === 'CORRUPTION' || result.right, `page ${valuePage} record at ${at} (length ${length} -> 0): ${result.code} ${result.message}`).toBe(true)
          trials++
        }
        at += (short ? 5 : 8) + length
      }
    }
    expect(trials).toBeGreaterThan(10)
  })

  it('a failed read-write open changes no file: a malformed batch record late in the log, after replay had to evict pages', async () => {
    const dir = copyImage()
    const walDir = path.join(dir, 'wal')
    const last = fs.readdirSync(walDir).filter((n) => n.endsWith('.wal')).sort().at(-1)!
    const file = path.join(walDir, last)
    const bytes = fs.readFileSync(file)
    // docs/WAL.md: walk the fragments; in the last FULL one, the batch's operation count + 1, its
    // CRC (over bytes 4.. of the header and the payload) re-sealed.
    let pos = 0
    let lastFull = -1
    while (pos + 32 <= bytes.length) {
      const length = bytes.readUInt32LE(pos + 4)
      if (bytes[pos + 8] === 0 || pos + 32 + length > bytes.length) break
      if (bytes[pos + 8] === 1) lastFull = pos
      pos += 32 + length
    }
    expect(lastFull).toBeGreaterThanOrEqual(0)
    bytes.writeUInt32LE(bytes.readUInt32LE(lastFull + 32) + 1, lastFull + 32)
    const length = bytes.readUInt32LE(lastFull + 4)
    bytes.writeUInt32LE(CRC32.buf(bytes.subarray(lastFull + 4, lastFull + 32 + length)) >>> 0, lastFull)
    fs.writeFileSync(file, bytes)
    const before = hashDir(dir)
    const result = await attempt(dir, true)
    expect(result.code).toBe('CORRUPTION')
    expect(result.message).toContain('batch record')
    expect(hashDir(dir)).toEqual(before)
  })
})
