import CRC32 from 'crc-32'
/**
 * Round trips of every page type through its codec and the page header, against the input image
 * (an independent copy), and detection of a flipped byte anywhere in a sealed page.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { AlexIndex } from '../../src/alex/alex-index.js'
import type { LeafImage } from '../../src/alex/leaf-store.js'
import { StoreError } from '../../src/errors.js'
import { openFile } from '../../src/io/file.js'
import { BufferPool } from '../../src/pages/buffer-pool.js'
import { encodeChain, readChain, chainPagesFor } from '../../src/pages/chain-page.js'
import { FreeSpace } from '../../src/pages/free-space.js'
import { decodeLeafPage, encodeLeafPage, leafBytes, leafCapacityMax } from '../../src/pages/leaf-page.js'
import { decodeMetaPage, encodeMetaPage, type Meta } from '../../src/pages/meta-page.js'
import { NO_PAGE, PageType } from '../../src/pages/page-format.js'
import { PageFile } from '../../src/pages/page-file.js'
import { checkPage, sealPage } from '../../src/pages/page-header.js'
import {
  HANDLE_PAGE_FACTOR,
  appendRecord,
  initValuePage,
  makeHandle,
  recordAt,
  valuePageRoom,
} from '../../src/pages/value-page.js'

const dirs: string[] = []
function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-pages-'))
  dirs.push(dir)
  return path.join(dir, 'data.lsp')
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const pageSizes = fc.constantFrom(4096, 8192, 16384, 65536)

/** `count` distinct keys from a seeded generator (fast-check's arrays stay short by default). */
function keysFrom(count: number, seed: number, integers: boolean): number[] {
  let state = seed | 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const keys = new Set<number>()
  while (keys.size < count) keys.add(integers ? Math.floor((next() - 0.5) * 2e9) : (next() - 0.5) * 2 * 10 ** (next() * 12))
  return [...keys]
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return error instanceof StoreError ? error.code : `not a StoreError: ${String(error)}`
  }
  return undefined
}

/** Leaves of a real index over `keys`, valued by random handles: realistic gapped arrays. */
function leavesOf(keys: number[], pageSizeBytes: number, seed: number): LeafImage<number>[] {
  const handles = keys.map((_, i) => makeHandle(2 + ((i * 7919 + seed) % 100000), ((i * 13 + seed) % 4000) + 40, i % 17 === 0))
  const index = AlexIndex.bulkLoad(keys, handles, { maxDataNodeSlots: leafCapacityMax(pageSizeBytes) })
  for (let i = 0; i < keys.length; i += 3) index.set(keys[i]! + 0.5, makeHandle(3, 40, false))
  return [...index.leaves()]
}

describe('leaf pages', () => {
  it('round-trip model, slots, keys (gaps included), bitmap and value handles of real leaves', () => {
    fc.assert(
      fc.property(pageSizes, fc.integer({ min: 0, max: 3000 }), fc.nat(1000), (size, count, seed) => {
        const keys = keysFrom(count, seed, true)
        for (const leaf of leavesOf(keys, size, seed)) {
          expect(leafBytes(leaf.capacity)).toBeLessThanOrEqual(size)
          const page = new Uint8Array(size)
          encodeLeafPage(page, leaf)
          // Every byte past the header is written: a page full of old bytes encodes the same.
          const reused = new Uint8Array(size).fill(0xa5)
          encodeLeafPage(reused, leaf)
          expect(Buffer.from(reused.subarray(32)).equals(Buffer.from(page.subarray(32)))).toBe(true)
          sealPage(page, { type: PageType.DATA, pageId: 9, epoch: 0 })
          const copy = page.slice()
          checkPage(copy, 9, 'f')
          const back = decodeLeafPage(copy, 'f')
          expect([back.m1, back.c, back.m2, back.b]).toEqual([leaf.m1, leaf.c, leaf.m2, leaf.b])
          expect([back.capacity, back.numKeys, back.expectedIterations, back.expectedShifts]).toEqual([
            leaf.capacity, leaf.numKeys, leaf.expectedIterations, leaf.expectedShifts,
          ])
          expect(Array.from(back.keys)).toEqual(Array.from(leaf.keys.subarray(0, leaf.capacity)))
          expect(Array.from(back.bitmap)).toEqual(Array.from(leaf.bitmap))
          expect(Array.from(back.values)).toEqual(Array.from(leaf.values).slice(0, leaf.capacity))
        }
      }),
      { numRuns: 40 },
    )
  })

  it('leafCapacityMax is the largest capacity that fits', () => {
    for (let size = 4096; size <= 1 << 20; size *= 2) {
      const max = leafCapacityMax(size)
      expect(leafBytes(max)).toBeLessThanOrEqual(size)
      expect(leafBytes(max + 1)).toBeGreaterThan(size)
      expect(max).toBeGreaterThanOrEqual(64)
    }
  })

  it('a value slot that disagrees with the bitmap is CORRUPTION, not a wrong value', () => {
    const [leaf] = leavesOf([1, 2, 3, 4, 5], 4096, 1)
    const page = new Uint8Array(4096)
    encodeLeafPage(page, leaf!)
    const view = new DataView(page.buffer)
    // Clear the bitmap word: every occupied slot's value now disagrees.
    view.setUint32(136, 0, true)
    expect(codeOf(() => decodeLeafPage(page, 'f'))).toBe('CORRUPTION')
  })
})

describe('value pages', () => {
  it('return every appended record, in place, until the page is full', () => {
    fc.assert(
      fc.property(pageSizes, fc.array(fc.uint8Array({ maxLength: 900 }), { maxLength: 200 }), (size, values) => {
        const page = new Uint8Array(size)
        initValuePage(page)
        const placed: [number, Uint8Array][] = []
        for (const value of values) {
          // The header the format names: 5 bytes up to 127 payload bytes, 8 beyond.
          const header = value.byteLength <= 127 ? 5 : 8
          if (valuePageRoom(page) < header + value.byteLength) break
          placed.push([appendRecord(page, 5, value.byteLength, value), value])
        }
        sealPage(page, { type: PageType.VALUE, pageId: 5, epoch: 0 })
        checkPage(page, 5, 'f')
        const view = new DataView(page.buffer, page.byteOffset)
        let expectedOffset = 40
        for (const [offset, value] of placed) {
          // Back to back from byte 40, each header as the format's table spells it.
          expect(offset).toBe(expectedOffset)
          const short = value.byteLength <= 127
          const header = short ? 5 : 8
          expectedOffset += header + value.byteLength
          if (short) {
            expect(page[offset]).toBe(value.byteLength)
          } else {
            expect(page[offset]).toBe(0x80)
            expect(page[offset + 1]! | (page[offset + 2]! << 8) | (page[offset + 3]! << 16)).toBe(value.byteLength)
          }
          const word = recordAt(page, offset, 'f')
          expect(word).toBe(value.byteLength)
          expect(page.subarray(offset + header, offset + header + word)).toEqual(value)
          // The record's own check: CRC-32 of (page id, offset, word) then the payload (crc-32 package).
          const prefix = new Uint8Array(12)
          new DataView(prefix.buffer).setUint32(0, 5, true)
          new DataView(prefix.buffer).setUint32(4, offset, true)
          new DataView(prefix.buffer).setUint32(8, word, true)
          const expected = CRC32.buf(value, CRC32.buf(prefix)) >>> 0
          expect(view.getUint32(offset + header - 4, true)).toBe(expected)
        }
        expect(view.getUint32(32, true)).toBe(expectedOffset)
        expect(view.getUint32(36, true)).toBe(placed.length)
        // An offset past the records is refused.
        expect(codeOf(() => recordAt(page, size - 2, 'f'))).toBe('CORRUPTION')
      }),
      { numRuns: 100 },
    )
  })

  it('a record header no writer makes is CORRUPTION: unknown form byte, or a long form for a short payload', () => {
    const page = new Uint8Array(4096)
    initValuePage(page)
    const long = appendRecord(page, 5, 200, new Uint8Array(200).fill(7))
    const short = appendRecord(page, 5, 3, new Uint8Array([1, 2, 3]))
    expect(recordAt(page, long, 'f')).toBe(200)
    expect(recordAt(page, short, 'f')).toBe(3)
    for (const form of [0x82, 0xff]) {
      const copy = page.slice()
      copy[long] = form
      expect(codeOf(() => recordAt(copy, long, 'f'))).toBe('CORRUPTION')
    }
    const copy = page.slice()
    copy[long + 1] = 100 // a long inline form claiming 100 bytes: a writer would have used the short form
    copy[long + 2] = 0
    expect(codeOf(() => recordAt(copy, long, 'f'))).toBe('CORRUPTION')
    // A short length that runs past the records' end.
    const past = page.slice()
    past[short] = 120
    expect(codeOf(() => recordAt(past, short, 'f'))).toBe('CORRUPTION')
  })

  it('handles keep page id, offset and the overflow bit up to the largest page id', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffffffe }), fc.integer({ min: 0, max: (1 << 20) - 1 }), fc.boolean(), (pageId, offset, overflow) => {
        const handle = makeHandle(pageId, offset, overflow)
        expect(Number.isSafeInteger(handle)).toBe(true)
        expect(Math.floor(handle / HANDLE_PAGE_FACTOR)).toBe(pageId)
        expect((handle % HANDLE_PAGE_FACTOR) >>> 1).toBe(offset)
        expect((handle & 1) === 1).toBe(overflow)
      }),
    )
  })
})

describe('meta pages', () => {
  it('round-trip every field, and a meta page in the wrong slot is refused', () => {
    fc.assert(
      fc.property(pageSizes, fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 16, max: 1e6 }), fc.maxSafeNat(), (size, generation, pageCount, records) => {
        const meta: Meta = {
          pageSizeBytes: size, pageCount, generation, records, treeHead: 2, freeListHead: pageCount - 1,
          treeBytes: 123, freeListEntries: 7, redoLsn: 0, pageMapHead: pageCount - 2, pageMapEntries: pageCount,
          cellBytes: size >= 8192 ? 32 : 16,
        }
        const page = encodeMetaPage(meta)
        expect(decodeMetaPage(page, generation % 2, 'f')).toEqual(meta)
        expect(codeOf(() => decodeMetaPage(page, 1 - (generation % 2), 'f'))).toBe('CORRUPTION')
      }),
      { numRuns: 100 },
    )
  })
})

describe('chains (tree image and free list)', () => {
  it('read back the stream written over scattered pages, and refuse a wrong length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30000 }), fc.nat(1000), (stream, seed) => {
        const size = 4096
        const count = chainPagesFor(stream.byteLength, size)
        const ids = Array.from({ length: count }, (_, i) => 2 + ((i * 37 + seed) % 500) * 1 + i * 500)
        const file = new PageFile(openFile(tempFile(), { create: true }), size)
        try {
          file.writePages(encodeChain(stream, ids, PageType.MODEL, size, 1))
          const back = readChain(file, ids[0]!, stream.byteLength, PageType.MODEL, 1 << 20)
          expect(back.stream).toEqual(stream)
          expect(back.pageIds).toEqual(ids)
          expect(codeOf(() => readChain(file, ids[0]!, stream.byteLength + 1, PageType.MODEL, 1 << 20))).toBe('CORRUPTION')
          expect(codeOf(() => readChain(file, ids[0]!, stream.byteLength, PageType.FREE_LIST, 1 << 20))).toBe('CORRUPTION')
        } finally {
          file.close()
        }
      }),
      { numRuns: 25 },
    )
  })
})

describe('a flipped byte anywhere in a sealed page', () => {
  it('is detected for every page type', () => {
    const pages: [number, Uint8Array][] = []
    const [leaf] = leavesOf([10, 20, 30, 40], 4096, 3)
    const leafPage = new Uint8Array(4096)
    encodeLeafPage(leafPage, leaf!)
    sealPage(leafPage, { type: PageType.DATA, pageId: 7, epoch: 0 })
    pages.push([7, leafPage])
    const valuePage = new Uint8Array(4096)
    initValuePage(valuePage)
    appendRecord(valuePage, 8, 3, Uint8Array.of(1, 2, 3))
    sealPage(valuePage, { type: PageType.VALUE, pageId: 8, epoch: 0 })
    pages.push([8, valuePage])
    pages.push([1, encodeMetaPage({ pageSizeBytes: 4096, pageCount: 10, generation: 3, records: 4, treeHead: 9, freeListHead: NO_PAGE, treeBytes: 24, freeListEntries: 0, redoLsn: 0, pageMapHead: NO_PAGE, pageMapEntries: 0, cellBytes: 0 })])
    for (const write of encodeChain(Uint8Array.of(1, 2, 3, 4), [9], PageType.FREE_LIST, 4096, 1)) pages.push([9, write.page])
    for (const write of encodeChain(Uint8Array.of(5, 6), [6], PageType.MODEL, 4096, 1)) pages.push([6, write.page])
    const overflow = new Uint8Array(4096).fill(0xab)
    sealPage(overflow, { type: PageType.OVERFLOW, pageId: 5, epoch: 0 })
    pages.push([5, overflow])
    fc.assert(
      fc.property(fc.nat(pages.length - 1), fc.nat(4095), fc.integer({ min: 1, max: 255 }), (which, at, mask) => {
        const [pageId, page] = pages[which]!
        const damaged = page.slice()
        damaged[at]! ^= mask
        expect(codeOf(() => checkPage(damaged, pageId, 'data.lsp'))).toBe('CORRUPTION')
        expect(checkPage(page.slice(), pageId, 'data.lsp').pageId).toBe(pageId)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('tree image', () => {
  it('restores the same keys, values and routing from the encoding and stored leaf images', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.nat(), (count, seed) => {
        const keys = keysFrom(count, seed, false)
        const index = new AlexIndex<number>({ maxDataNodeSlots: 64, maxFanout: 8 })
        keys.forEach((key, i) => index.set(key, (i + seed) % 1000))
        const stored = new Map<number, LeafImage<number>>()
        let nextId = 100
        for (const leaf of index.leaves()) {
          leaf.leafId = nextId++
          // Field by field: a data node keeps its model and counters in its bytes (getters), which a spread does not copy.
          const { m1, c, m2, b, capacity, numKeys, expectedIterations, expectedShifts } = leaf
          const counters = { adaptSearches: leaf.adaptSearches, adaptSearchIterations: leaf.adaptSearchIterations, adaptInserts: leaf.adaptInserts, adaptShifts: leaf.adaptShifts, adaptRightAppends: leaf.adaptRightAppends, adaptLeftAppends: leaf.adaptLeftAppends }
          stored.set(leaf.leafId, { m1, c, m2, b, capacity, numKeys, expectedIterations, expectedShifts, ...counters, keys: leaf.keys.slice(), bitmap: leaf.bitmap.slice(), values: Array.from(leaf.values) })
        }
        const restored = AlexIndex.restore(index.encodeTree(), (id) => stored.get(id)!, { maxDataNodeSlots: 64, maxFanout: 8 }, 'test', true)
        const expected = keys.map((key, i) => [key === 0 ? 0 : key, (i + seed) % 1000] as [number, number]).sort((a, b) => a[0] - b[0])
        expect([...restored.entries()]).toEqual(expected)
        expect([...restored.leaves()].every((leaf) => !leaf.dirty)).toBe(true)
      }),
      { numRuns: 40 },
    )
  })

  it('refuses a truncated or extended image with CORRUPTION', () => {
    const index = AlexIndex.bulkLoad([1, 2, 3], [1, 2, 3])
    for (const leaf of index.leaves()) leaf.leafId = 5
    const image = index.encodeTree()
    const load = (): LeafImage<number> => [...index.leaves()][0]!
    expect(codeOf(() => AlexIndex.restore(image.subarray(0, image.length - 1), load))).toBe('CORRUPTION')
    const longer = new Uint8Array(image.length + 8)
    longer.set(image)
    expect(codeOf(() => AlexIndex.restore(longer, load))).toBe('CORRUPTION')
  })
})

describe('buffer pool', () => {
  it('returns what was last written to each page through evictions, and coalesces adjacent dirty pages', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ page: fc.integer({ min: 2, max: 40 }), write: fc.boolean(), byte: fc.nat(255) }), { minLength: 1, maxLength: 300 }),
        (steps) => {
          const size = 4096
          const file = new PageFile(openFile(tempFile(), { create: true }), size)
          const pool = new BufferPool(file, 8 * size)
          const model = new Map<number, number>()
          try {
            for (const { page: pageId, write, byte } of steps) {
              if (!model.has(pageId)) {
                const frame = pool.create(pageId)
                pool.page(frame)[4] = PageType.OVERFLOW
                pool.page(frame)[100] = byte
                pool.unpin(frame)
                model.set(pageId, byte)
                continue
              }
              const frame = pool.fetch(pageId, PageType.OVERFLOW)
              expect(pool.page(frame)[100]).toBe(model.get(pageId))
              if (write) {
                pool.page(frame)[100] = byte
                pool.markDirty(frame)
                model.set(pageId, byte)
              }
              pool.unpin(frame)
              expect(pool.residentPages).toBeLessThanOrEqual(pool.frames)
            }
            pool.flush()
            expect(pool.dirtyPages).toBe(0)
            const page = new Uint8Array(size)
            for (const [pageId, byte] of model) {
              file.readPage(pageId, page, PageType.OVERFLOW)
              expect(page[100]).toBe(byte)
            }
            expect(file.counters.writeCalls).toBeLessThanOrEqual(file.counters.pagesWritten)
          } finally {
            file.close()
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('writes eight adjacent dirty pages in one call', () => {
    const file = new PageFile(openFile(tempFile(), { create: true }), 4096)
    const pool = new BufferPool(file, 16 * 4096)
    for (let id = 10; id < 18; id++) {
      const frame = pool.create(id)
      pool.page(frame)[4] = PageType.VALUE
      pool.unpin(frame)
    }
    pool.flush()
    expect(file.counters.pagesWritten).toBe(8)
    expect(file.counters.writeCalls).toBe(1)
    file.close()
  })

  it('never evicts a pinned page', () => {
    const file = new PageFile(openFile(tempFile(), { create: true }), 4096)
    const pool = new BufferPool(file, 8 * 4096)
    const pinned = pool.create(2)
    pool.page(pinned)[4] = PageType.VALUE
    pool.page(pinned)[200] = 77
    for (let id = 3; id < 60; id++) {
      const frame = pool.create(id)
      pool.page(frame)[4] = PageType.VALUE
      pool.unpin(frame)
    }
    expect(pool.page(pinned)[200]).toBe(77)
    expect(pool.fetch(2, PageType.VALUE)).toBe(pinned)
    expect(pool.counters.evictions).toBeGreaterThan(0)
    file.close()
  })
})

describe('free space', () => {
  it('never hands out a page freed since the last commit, and hands out each page once', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('alloc'), fc.constant('run'), fc.constant('release'), fc.constant('commit')), { maxLength: 300 }), fc.nat(), (steps, seed) => {
        const space = new FreeSpace([], 2)
        const inUse = new Set<number>()
        const pending = new Set<number>()
        let r = seed
        for (const step of steps) {
          if (step === 'alloc' || step === 'run') {
            const count = step === 'run' ? 1 + (r++ % 5) : 1
            const first = step === 'run' ? space.allocateRun(count) : space.allocate()
            for (let p = first; p < first + count; p++) {
              expect(inUse.has(p)).toBe(false)
              expect(pending.has(p)).toBe(false)
              inUse.add(p)
            }
          } else if (step === 'release' && inUse.size > 0) {
            const victim = [...inUse][r++ % inUse.size]!
            inUse.delete(victim)
            pending.add(victim)
            space.release(victim)
          } else if (step === 'commit') {
            space.beginCheckpoint()
            space.commit()
            pending.clear()
          }
        }
        expect(inUse.size + space.freeCount + space.pendingCount).toBe(space.frontier - 2)
      }),
      { numRuns: 200 },
    )
  })
})
