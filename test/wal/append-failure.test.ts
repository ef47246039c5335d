/**
 * A log append that fails after its record was given an LSN (the group buffer cannot grow, an
 * allocation throws) must not leave a gap: the reader stops at the first missing LSN, so a gap would
 * lose every later record, acknowledged or not (issue 16). The fault is injected with the test-only
 * fault point `wal-append-after-lsn` (src/io/fault-point.ts).
 *
 * Expectations come from the payloads appended and from the rule that LSNs are 1, 2, 3, ... (the
 * format document), never from the writer's state.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { ErrorCode, StoreError } from '../../src/errors.js'
import { FAULT_POINTS, armFaultPoint } from '../../src/io/fault-point.js'
import { realFileSystem, type FileSystem } from '../../src/io/file.js'
import { RECORD_MAX_BYTES, RecordType, segmentName } from '../../src/wal/wal-format.js'
import { readWal } from '../../src/wal/wal-reader.js'
import { WalWriter } from '../../src/wal/wal-writer.js'
import { HEADER, parseFragmentAt, sameBytes, seededBytes, useTempDirs } from '../support/wal-helpers.js'

const tempDir = useTempDirs('learned-storage-wal-append-')
afterEach(() => armFaultPoint(null))

function newWriter(dir: string): WalWriter {
  fs.mkdirSync(dir, { recursive: true })
  return new WalWriter({ dir, fs: realFileSystem, durability: 'fsync', segmentBytes: 64 << 20, nextLsn: 1 }, [])
}

function replay(dir: string): { lsns: number[]; payloads: Uint8Array[] } {
  const lsns: number[] = []
  const payloads: Uint8Array[] = []
  readWal(realFileSystem, dir, false, (lsn, _type, payload) => {
    lsns.push(lsn)
    payloads.push(payload.slice())
  })
  return { lsns, payloads }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return 'did not throw'
}

/** '' when `got` holds exactly `expected`, in order, byte for byte. */
function diffPayloads(got: Uint8Array[], expected: Uint8Array[]): string {
  if (got.length !== expected.length) return `${got.length} records replayed, ${expected.length} expected`
  for (let i = 0; i < got.length; i++) if (!sameBytes(got[i], expected[i])) return `record ${i} differs`
  return ''
}

describe('an append that fails after taking its LSN leaves no gap', () => {
  // Where the failing append sits: alone at the start of a group, or after a record of the same group;
  // and a payload short enough for one fragment or long enough to cross a block (partly encoded).
  const CASES = [
    { name: 'first record of a group, one fragment', before: 0, failBytes: 40 },
    { name: 'after a record of the same group, one fragment', before: 1, failBytes: 40 },
    { name: 'after a record of the same group, three fragments', before: 1, failBytes: 70_000 },
  ]
  it.each(CASES)('$name: typed rejection, the next two appends take the next LSNs and replay', async ({ before, failBytes }) => {
    const dir = tempDir()
    const writer = newWriter(dir)
    try {
      const first = seededBytes(100, 1)
      const a = writer.append(RecordType.BATCH, first)
      await a.done
      const expected = [first]
      const sameGroup: Promise<void>[] = []
      for (let i = 0; i < before; i++) {
        const payload = seededBytes(200 + i, 10 + i)
        expected.push(payload)
        sameGroup.push(writer.append(RecordType.BATCH, payload).done)
      }
      armFaultPoint(FAULT_POINTS.WAL_APPEND_AFTER_LSN)
      const error = thrown(() => writer.append(RecordType.BATCH, seededBytes(failBytes, 2)))
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).code).toBe(ErrorCode.IO)
      expect(writer.failed).toBeNull()
      const later = [seededBytes(50, 3), seededBytes(40_000, 4)]
      const appended = later.map((p) => writer.append(RecordType.BATCH, p))
      expected.push(...later)
      expect(appended.map((x) => x.lsn)).toEqual([2 + before, 3 + before])
      await Promise.all([...sameGroup, ...appended.map((x) => x.done)])
      const { lsns, payloads } = replay(dir)
      expect(lsns).toEqual(expected.map((_, i) => i + 1))
      expect(diffPayloads(payloads, expected)).toBe('')
    } finally {
      writer.close()
    }
  })

  it('a record over RECORD_MAX_BYTES is VALUE_TOO_LARGE before it takes an LSN', async () => {
    expect(RECORD_MAX_BYTES).toBe(1024 * 1024 * 1024)
    const dir = tempDir()
    const writer = newWriter(dir)
    try {
      // Never touched, so never committed to memory: the writer must refuse it by its length.
      const huge = new Uint8Array(RECORD_MAX_BYTES + 1)
      const error = thrown(() => writer.append(RecordType.BATCH, huge))
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).code).toBe(ErrorCode.VALUE_TOO_LARGE)
      const next = seededBytes(30, 5)
      const appended = writer.append(RecordType.BATCH, next)
      expect(appended.lsn).toBe(1)
      await appended.done
      const { lsns, payloads } = replay(dir)
      expect(lsns).toEqual([1])
      expect(diffPayloads(payloads, [next])).toBe('')
    } finally {
      writer.close()
    }
  })
})

describe('the reader never takes a gap in the numbering for a torn tail', () => {
  /**
   * Writes `count` one-fragment records in one group, then renumbers the records from index `from`
   * on with `lsnOf(i)` and re-seals their CRCs (zlib, over bytes 4.. of header and payload), so the
   * fragments are intact and only their numbering is wrong: what a writer that skipped or repeated
   * an LSN would have left.
   */
  async function renumbered(dir: string, count: number, from: number, lsnOf: (i: number) => number): Promise<Uint8Array[]> {
    const writer = newWriter(dir)
    const payloads = Array.from({ length: count }, (_, i) => seededBytes(60 + i, 40 + i))
    try {
      await Promise.all(payloads.map((p) => writer.append(RecordType.BATCH, p).done))
    } finally {
      writer.close()
    }
    const file = path.join(dir, segmentName(1))
    const data = new Uint8Array(fs.readFileSync(file))
    const view = new DataView(data.buffer)
    let at = 0
    for (let i = 0; i < count; i++) {
      const fragment = parseFragmentAt(data, at)
      expect(fragment.crcOk && fragment.lsn === i + 1 && fragment.groupLsn === 1).toBe(true)
      if (i >= from) {
        view.setFloat64(at + 16, lsnOf(i), true)
        view.setUint32(at, zlib.crc32(data.subarray(at + 4, at + HEADER + fragment.length)) >>> 0, true)
      }
      at += HEADER + fragment.length
    }
    fs.writeFileSync(file, data)
    return payloads
  }

  it.each([
    { name: 'a gap in the middle of the last group (LSN 2 missing)', from: 1, lsnOf: (i: number) => i + 2 },
    { name: 'a repeat in the middle of the last group (LSN 2 twice)', from: 1, lsnOf: (i: number) => i },
    // Nothing valid follows the misnumbered record (the crafted-file fuzzer, seed 20261204 trial
    // 7843: an LSN of NaN made the error message read a fragment that was not there, an untyped
    // TypeError instead of CORRUPTION).
    { name: 'the last record numbered NaN, nothing after it', from: 3, lsnOf: () => NaN },
    { name: 'the last record numbered far ahead, nothing after it', from: 3, lsnOf: () => 99 },
  ])('$name: CORRUPTION; salvage ends the log before it', async ({ from, lsnOf }) => {
    const dir = tempDir()
    const payloads = await renumbered(dir, 4, from, lsnOf)
    const error = thrown(() => replay(dir))
    expect(error).toBeInstanceOf(StoreError)
    expect((error as StoreError).code).toBe(ErrorCode.CORRUPTION)
    expect((error as StoreError).message).toContain(segmentName(1))
    const lsns: number[] = []
    const got: Uint8Array[] = []
    const result = readWal(realFileSystem, dir, true, (lsn, _type, payload) => {
      lsns.push(lsn)
      got.push(payload.slice())
    })
    expect(lsns).toEqual(Array.from({ length: from }, (_, i) => i + 1))
    expect(diffPayloads(got, payloads.slice(0, from))).toBe('')
    expect(result.droppedBytes).toBeGreaterThan(0)
  })
})

describe('a failed append leaves no promise behind', () => {
  it('a group promise made for the failed append is not rejected unheard when an earlier group then fails', async () => {
    // The log's file: the first fdatasync fails, 20 ms late, so appends can come while it is in flight.
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
    const failingFs: FileSystem = new Proxy(realFileSystem, {
      get(target, property) {
        if (property !== 'openFile') return Reflect.get(target, property) as unknown
        return (file: string, options: Parameters<FileSystem['openFile']>[1]) => {
          const handle = target.openFile(file, options)
          return new Proxy(handle, {
            get(inner, name) {
              if (name === 'datasyncAsync') return async () => {
                await sleep(20)
                throw Object.assign(new Error('EIO: injected, fdatasync'), { code: 'EIO' })
              }
              const value = Reflect.get(inner, name) as unknown
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(inner) : value
            },
          })
        }
      },
    })
    const unheard: unknown[] = []
    const onUnhandled = (reason: unknown): void => void unheard.push(reason)
    process.on('unhandledRejection', onUnhandled)
    const dir = tempDir()
    const writer = new WalWriter({ dir, fs: failingFs, durability: 'fsync', segmentBytes: 64 << 20, nextLsn: 1 }, [])
    try {
      const first = writer.append(RecordType.BATCH, seededBytes(50, 1))
      const firstOutcome = first.done.then(() => 'resolved', (error: unknown) => (error instanceof StoreError ? error.code : String(error)))
      // Let the group's write start; its sync is now in flight.
      await new Promise((resolve) => setImmediate(resolve))
      armFaultPoint(FAULT_POINTS.WAL_APPEND_AFTER_LSN)
      expect((thrown(() => writer.append(RecordType.BATCH, seededBytes(50, 2))) as StoreError).code).toBe(ErrorCode.IO)
      expect(await firstOutcome).toBe(ErrorCode.IO)
      await sleep(50)
      expect(unheard.map(String)).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      writer.close()
    }
  })
})

describe('a failed append leaves the writer flushing', () => {
  it('the flush it scheduled finds the group empty; the next append is still written', async () => {
    const dir = tempDir()
    const writer = newWriter(dir)
    try {
      armFaultPoint(FAULT_POINTS.WAL_APPEND_AFTER_LSN)
      expect((thrown(() => writer.append(RecordType.BATCH, seededBytes(50, 1))) as StoreError).code).toBe(ErrorCode.IO)
      // Let any flush scheduled by the failed append run (with nothing in the group).
      await new Promise((resolve) => setTimeout(resolve, 10))
      const next = writer.append(RecordType.BATCH, seededBytes(60, 2))
      expect(next.lsn).toBe(1)
      const outcome = await Promise.race([next.done.then(() => 'durable'), new Promise((resolve) => setTimeout(() => resolve('not written after 2 s'), 2000))])
      expect(outcome).toBe('durable')
      expect(replay(dir).lsns).toEqual([1])
    } finally {
      writer.close()
    }
  })
})
