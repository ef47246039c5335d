/**
 * The bulk writer (src/pages/bulk-writer.ts): pages filled in its slots come back from the file
 * exactly as filled, with a checksum computed here independently (the crc-32 package over the page
 * with the checksum field zero), whether a thread writes them, the main thread does (a small load,
 * a file without a descriptor), or the main thread takes over from a thread that never starts; and
 * a write error comes out typed, naming the file. The thread seals with the engine's own checksum
 * module, and on the crash suite's power-loss file system every page goes through that file system.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import CRC32 from 'crc-32'
import { describe, expect, it } from 'vitest'
import { ErrorCode, StoreError } from '../../src/errors.js'
import { openFile, type StorageFile } from '../../src/io/file.js'
import { BulkWriter } from '../../src/pages/bulk-writer.js'
import { HeaderOffset, PageType } from '../../src/pages/page-format.js'
import { writePageHeader } from '../../src/pages/page-header.js'
import { PageFile } from '../../src/pages/page-file.js'
import { OVERFLOW_FLAG, VALUE_RECORDS_OFFSET, ValueOffset, recordBytes, writeRecord, writeU32 } from '../../src/pages/value-page.js'
import { Rng, bytesFromSeed, useTempDirs } from '../store/helpers.js'
import { CrashFileSystem } from '../crash/crash-fs.mjs'
import * as fileModule from '../../src/io/file.js'

const PAGE = 4096
const tempDir = useTempDirs('learned-storage-bulk-writer-')

/** Page ids in runs of adjacent ids with gaps between runs (as free-space reuse leaves them). */
function pageIds(count: number, seed: number): number[] {
  const rng = new Rng(seed)
  const ids: number[] = []
  let next = 2 + rng.int(5)
  while (ids.length < count) {
    const run = 1 + rng.int(6)
    for (let i = 0; i < run && ids.length < count; i++) ids.push(next++)
    next += rng.int(4)
  }
  // Not ascending either: a slot may hold ids in any order.
  for (let i = ids.length - 1; i > 0; i--) {
    if (rng.int(4) !== 0) continue
    const j = rng.int(i + 1)
    ;[ids[i], ids[j]] = [ids[j]!, ids[i]!]
  }
  return ids
}

/** Fills pages through `writer` and returns what each page must read back as. */
function fill(writer: BulkWriter, ids: number[], seed: number): Map<number, Uint8Array> {
  const expected = new Map<number, Uint8Array>()
  for (const [i, pageId] of ids.entries()) {
    const page = writer.nextPage(pageId)
    page.set(bytesFromSeed(PAGE, seed + i))
    writePageHeader(page, { type: PageType.OVERFLOW, pageId, epoch: 3 })
    const copy = page.slice()
    new DataView(copy.buffer).setUint32(HeaderOffset.CHECKSUM, CRC32.buf(copy, 0) >>> 0, true)
    expected.set(pageId, copy)
  }
  return expected
}

/**
 * Fills value pages of random records (short and long forms, overflow stubs) written without their
 * checks; what each must read back as has the checks writeRecord computes on this thread.
 */
function fillValuePages(writer: BulkWriter, ids: number[], seed: number): Map<number, Uint8Array> {
  const rng = new Rng(seed)
  const expected = new Map<number, Uint8Array>()
  for (const pageId of ids) {
    const page = writer.nextPage(pageId)
    page.fill(0)
    const copy = new Uint8Array(PAGE)
    let end = VALUE_RECORDS_OFFSET
    let records = 0
    for (;;) {
      const stub = rng.int(10) === 0
      const payload = bytesFromSeed(stub ? 12 : rng.int(rng.int(2) === 0 ? 128 : 400), rng.uint32())
      const word = stub ? (OVERFLOW_FLAG | payload.byteLength) >>> 0 : payload.byteLength
      if (end + recordBytes(word, payload.byteLength) > PAGE) break
      writeRecord(page, pageId, end, word, payload, false)
      end = writeRecord(copy, pageId, end, word, payload)
      records++
    }
    for (const target of [page, copy]) {
      writeU32(target, ValueOffset.END, end)
      writeU32(target, ValueOffset.RECORDS, records)
      writePageHeader(target, { type: PageType.VALUE, pageId, epoch: 5 })
    }
    new DataView(copy.buffer).setUint32(HeaderOffset.CHECKSUM, CRC32.buf(copy, 0) >>> 0, true)
    expected.set(pageId, copy)
  }
  return expected
}

function expectPages(file: PageFile, expected: Map<number, Uint8Array>, type: PageType = PageType.OVERFLOW): void {
  const read = new Uint8Array(PAGE)
  for (const [pageId, bytes] of expected) {
    file.readPage(pageId, read, type)
    expect(Buffer.compare(read, bytes), `page ${pageId}`).toBe(0)
  }
}

function pageFile(dir: string, readOnly = false, pages = 2): PageFile {
  const filePath = path.join(dir, 'pages')
  if (!fs.existsSync(filePath)) fs.writeFileSync(filePath, new Uint8Array(pages * PAGE))
  return new PageFile(openFile(filePath, { readOnly }), PAGE)
}

function writeError(fn: () => unknown): StoreError {
  try {
    fn()
  } catch (error) {
    if (error instanceof StoreError) return error
    throw error
  }
  throw new Error('expected a StoreError')
}

describe('bulk writer', () => {
  it('a thread writes every page of many slots, each as filled, with its checksum', () => {
    const file = pageFile(tempDir())
    try {
      const writer = new BulkWriter(file, { slotBytes: 3 * PAGE })
      const ids = pageIds(200, 1)
      const expected = fill(writer, ids, 100)
      writer.finish()
      expect(writer.threaded).toBe(true)
      expect(writer.tookOver).toBe(false)
      expect(file.counters.pagesWritten).toBe(200)
      expectPages(file, expected)
    } finally {
      file.file.close()
    }
  })

  for (const threaded of [true, false]) {
    it(`value pages get every record's check (${threaded ? 'thread' : 'main thread'}), as writeRecord computes it`, () => {
      const file = pageFile(tempDir())
      try {
        const writer = new BulkWriter(file, { slotBytes: (threaded ? 2 : 64) * PAGE })
        const expected = fillValuePages(writer, pageIds(24, 7), 700)
        writer.finish()
        expect(writer.threaded).toBe(threaded)
        expect(writer.tookOver).toBe(false)
        expectPages(file, expected, PageType.VALUE)
      } finally {
        file.file.close()
      }
    })
  }

  /** Whether a file in `dir` takes an O_DIRECT write from some 16-byte step of an aligned-enough buffer. */
  function directWritesWork(dir: string): boolean {
    const flag = (fs.constants as { O_DIRECT?: number }).O_DIRECT
    if (flag === undefined) return false
    const probe = path.join(dir, 'probe')
    try {
      const fd = fs.openSync(probe, fs.constants.O_RDWR | fs.constants.O_CREAT | flag)
      try {
        const buffer = new Uint8Array(3 * 4096)
        for (let at = 0; at < 4096; at += 16) {
          try {
            fs.writeSync(fd, buffer, at, 4096, 0)
            return true
          } catch {
            // misaligned here: try the next step
          }
        }
        return false
      } finally {
        fs.closeSync(fd)
        fs.rmSync(probe)
      }
    } catch {
      return false
    }
  }

  it('writes through O_DIRECT where the file system takes it, the same bytes as through the page cache', () => {
    const dir = tempDir()
    const expectDirect = directWritesWork(dir)
    for (const directIo of [true, false]) {
      // Every page id below exists, as zeros, and is read once first: in the page cache.
      const file = pageFile(tempDir(), false, 2600)
      try {
        const zeros = new Uint8Array(PAGE)
        for (let pageId = 0; pageId < 2600; pageId++) file.file.read(zeros, 0, PAGE, pageId * PAGE)
        const writer = new BulkWriter(file, { slotBytes: 4 * PAGE, directIo })
        expect(writer.direct).toBe(directIo && expectDirect)
        const ids = pageIds(150, 11)
        const expected = fill(writer, ids, 1100)
        const values = fillValuePages(writer, pageIds(30, 12).map((id) => id + 2000), 1200)
        writer.finish()
        expect(writer.threaded).toBe(true)
        expect(writer.direct).toBe(false)
        // Read back through the store's own (buffered) descriptor: what it may have cached of these
        // pages must not stand in for what went around the cache.
        expectPages(file, expected)
        expectPages(file, values, PageType.VALUE)
        expect(fs.readdirSync(path.dirname(file.path)).sort()).toEqual(['pages'])
      } finally {
        file.file.close()
      }
    }
  })

  it('a load smaller than one slot is written by the main thread, with no thread started', () => {
    const file = pageFile(tempDir())
    try {
      const writer = new BulkWriter(file, { slotBytes: 64 * PAGE })
      const expected = fill(writer, pageIds(40, 2), 200)
      writer.finish()
      expect(writer.threaded).toBe(false)
      expectPages(file, expected)
    } finally {
      file.file.close()
    }
  })

  it('takes over from a thread that never starts: every page still written', () => {
    const file = pageFile(tempDir())
    try {
      const writer = new BulkWriter(file, { slotBytes: 2 * PAGE, startThread: false, startTimeoutMs: 20 })
      const expected = fill(writer, pageIds(60, 3), 300)
      const values = fillValuePages(writer, pageIds(10, 8).map((id) => id + 1000), 800)
      writer.finish()
      expect(writer.tookOver).toBe(true)
      expectPages(file, expected)
      expectPages(file, values, PageType.VALUE)
    } finally {
      file.file.close()
    }
  })

  it('a thread that dies part way (before counting a slot it wrote) is taken over: every page written, no error', () => {
    const file = pageFile(tempDir())
    try {
      const writer = new BulkWriter(file, { slotBytes: 3 * PAGE, exitThreadAfterSlots: 3 })
      const expected = fill(writer, pageIds(90, 13), 1300)
      const values = fillValuePages(writer, pageIds(12, 14).map((id) => id + 3000), 1400)
      writer.finish()
      expect(writer.threaded).toBe(true)
      expect(writer.tookOver).toBe(true)
      expectPages(file, expected)
      expectPages(file, values, PageType.VALUE)
    } finally {
      file.file.close()
    }
  })

  it('writes through the file interface when it has no descriptor (the crash suite)', () => {
    const file = pageFile(tempDir())
    try {
      const real = file.file
      let writes = 0
      const wrapped: StorageFile = {
        path: real.path,
        read: (...args) => real.read(...args),
        write: (...args) => {
          writes++
          real.write(...args)
        },
        writev: (buffers, position) => {
          writes++
          real.writev(buffers, position)
        },
        size: () => real.size(),
        truncate: (size) => real.truncate(size),
        datasync: () => real.datasync(),
        datasyncAsync: () => real.datasyncAsync(),
        close: () => real.close(),
      }
      const through = new PageFile(wrapped, PAGE)
      const writer = new BulkWriter(through, { slotBytes: 3 * PAGE })
      const expected = fill(writer, pageIds(30, 4), 400)
      writer.finish()
      expect(writer.threaded).toBe(false)
      expect(writes).toBeGreaterThan(0)
      expectPages(through, expected)
    } finally {
      file.file.close()
    }
  })

  for (const threaded of [true, false]) {
    it(`a failed write is IO naming the file (${threaded ? 'thread' : 'main thread'})`, () => {
      // Large enough that no page needs the file to grow: the writes themselves fail (a read-only
      // descriptor: EBADF).
      const dir = tempDir()
      pageFile(dir, false, 1024).file.close()
      const file = pageFile(dir, true)
      try {
        const writer = new BulkWriter(file, { slotBytes: (threaded ? 2 : 64) * PAGE })
        const error = writeError(() => {
          fill(writer, pageIds(40, 5), 500)
          writer.finish()
        })
        writer.close()
        expect(writer.threaded).toBe(threaded)
        expect(error.code).toBe(ErrorCode.IO)
        expect(error.message).toContain(path.join(dir, 'pages'))
        expect(error.message).toContain('write')
      } finally {
        file.file.close()
      }
    })
  }

  it('close stops the thread; the writer refuses pages after it', () => {
    const file = pageFile(tempDir())
    try {
      const writer = new BulkWriter(file, { slotBytes: 2 * PAGE })
      fill(writer, pageIds(10, 6), 600)
      writer.close()
      writer.close()
      expect(() => writer.nextPage(1000)).toThrow(/after close/)
    } finally {
      file.file.close()
    }
  })

  it("the thread checks and seals with io/checksum.ts, not a copy: in a build whose checksum module differs, its pages are that module's", async () => {
    // A copy of dist/ whose io/checksum.js wraps the real one, every CRC XORed with a constant. A
    // thread that imports io/checksum.js writes pages that the copy's own sealing (main thread) makes
    // byte for byte; one with its own CRC code writes the standard checks instead.
    const dist = fileURLToPath(new URL('../../dist/', import.meta.url))
    expect(fs.existsSync(path.join(dist, 'pages', 'bulk-writer-thread.js')), 'dist/ (npm run build)').toBe(true)
    const copy = path.join(tempDir(), 'dist')
    fs.cpSync(dist, copy, { recursive: true })
    const real = pathToFileURL(path.join(dist, 'io', 'checksum.js')).href
    fs.writeFileSync(
      path.join(copy, 'io', 'checksum.js'),
      [
        `export * from '${real}'`,
        `import * as real from '${real}'`,
        'const K = 0x5a5a5a5a',
        'export const crc32 = (bytes, seed = 0) => (real.crc32(bytes, seed) ^ K) >>> 0',
        'export const crc32Range = (bytes, start, end, seed = 0) => (real.crc32Range(bytes, start, end, seed) ^ K) >>> 0',
        'export const crc32Words3 = (a, b, c, seed = 0) => (real.crc32Words3(a, b, c, seed) ^ K) >>> 0',
      ].join('\n'),
    )
    const load = async <T,>(name: string): Promise<T> => (await import(pathToFileURL(path.join(copy, name)).href)) as T
    const copied = {
      BulkWriter: (await load<typeof import('../../src/pages/bulk-writer.js')>('pages/bulk-writer.js')).BulkWriter,
      PageFile: (await load<typeof import('../../src/pages/page-file.js')>('pages/page-file.js')).PageFile,
      openFile: (await load<typeof import('../../src/io/file.js')>('io/file.js')).openFile,
      pageChecksum: (await load<typeof import('../../src/pages/page-header.js')>('pages/page-header.js')).pageChecksum,
      fillRecordChecks: (await load<typeof import('../../src/pages/value-page.js')>('pages/value-page.js')).fillRecordChecks,
    }
    const filePath = path.join(tempDir(), 'pages')
    fs.writeFileSync(filePath, new Uint8Array(2 * PAGE))
    const file = new copied.PageFile(copied.openFile(filePath), PAGE)
    try {
      const writer = new copied.BulkWriter(file, { slotBytes: 2 * PAGE })
      // Filled as fill() and fillValuePages() do (their checks are the standard ones: not used here).
      const filled = new Map<number, Uint8Array>()
      const overflowIds = pageIds(20, 21)
      for (const [i, pageId] of overflowIds.entries()) {
        const page = writer.nextPage(pageId)
        page.set(bytesFromSeed(PAGE, 2100 + i))
        writePageHeader(page, { type: PageType.OVERFLOW, pageId, epoch: 3 })
        filled.set(pageId, page.slice())
      }
      const standard = fillValuePages(writer, pageIds(10, 22).map((id) => id + 500), 2200)
      const valueIds = new Set(standard.keys())
      writer.finish()
      expect(writer.threaded).toBe(true)
      expect(writer.tookOver).toBe(false)
      const read = new Uint8Array(PAGE)
      const check = (pageId: number, expected: Uint8Array, standardPage: Uint8Array): void => {
        file.file.read(read, 0, PAGE, pageId * PAGE)
        expect(Buffer.compare(read, expected), `page ${pageId} as the copied checksum module seals it`).toBe(0)
        expect(Buffer.compare(read, standardPage), `page ${pageId} differs from the standard sealing`).not.toBe(0)
      }
      for (const [pageId, page] of filled) {
        const standardPage = page.slice()
        new DataView(standardPage.buffer).setUint32(HeaderOffset.CHECKSUM, CRC32.buf(standardPage, 0) >>> 0, true)
        new DataView(page.buffer).setUint32(HeaderOffset.CHECKSUM, copied.pageChecksum(page), true)
        check(pageId, page, standardPage)
      }
      for (const pageId of valueIds) {
        // The standard page with its record checks and checksum redone by the copy.
        const page = standard.get(pageId)!.slice()
        copied.fillRecordChecks(page, pageId)
        new DataView(page.buffer).setUint32(HeaderOffset.CHECKSUM, copied.pageChecksum(page), true)
        check(pageId, page, standard.get(pageId)!)
      }
    } finally {
      file.file.close()
    }
  })

  it("on the crash suite's power-loss file system every page goes through it: none on disk before the sync, every one after a power cut that follows it", () => {
    const crashFs = new CrashFileSystem(fileModule, { holdUnsynced: true })
    const filePath = path.join(tempDir(), 'pages')
    fs.writeFileSync(filePath, new Uint8Array(2 * PAGE))
    const file = new PageFile(crashFs.openFile(filePath), PAGE)
    let expected = new Map<number, Uint8Array>()
    let values = new Map<number, Uint8Array>()
    try {
      // Many slots: were a thread to write them around the file system, they would be on disk at once.
      const writer = new BulkWriter(file, { slotBytes: 3 * PAGE })
      expected = fill(writer, pageIds(60, 31), 3100)
      values = fillValuePages(writer, pageIds(15, 32).map((id) => id + 1000), 3200)
      writer.finish()
      expect(writer.threaded).toBe(false)
      expect(crashFs.calls.write).toBeGreaterThanOrEqual(25)
      // Read through the file system: there. On disk (what a power cut now would leave): not one.
      expectPages(file, expected)
      expectPages(file, values, PageType.VALUE)
      const onDisk = fs.readFileSync(filePath)
      for (const pageId of [...expected.keys(), ...values.keys()]) {
        const at = pageId * PAGE
        expect(at >= onDisk.byteLength || onDisk.subarray(at, at + PAGE).every((b) => b === 0), `page ${pageId} reached the disk unsynced`).toBe(true)
      }
      file.datasync()
      crashFs.die()
    } finally {
      file.file.close()
    }
    // After the power cut: the file as the disk holds it, read with the real file system.
    const after = new PageFile(openFile(filePath, { readOnly: true }), PAGE)
    try {
      expectPages(after, expected)
      expectPages(after, values, PageType.VALUE)
    } finally {
      after.file.close()
    }
  })
})
