/**
 * The write-ahead log's writer and reader at the edges: framing across 32 KiB blocks, segment
 * rotation, and how the reader tells a torn tail (dropped quietly) from damage in the middle of the
 * log (CORRUPTION, or dropped with walRecovery 'salvage'). First with WalWriter and readWal directly
 * (durability 'fsync', real files), then through the store.
 *
 * Expectations come from the appended payloads (kept aside) and from a framing model written from
 * the format description (test/support/wal-helpers.ts planRecord), never from the writer's state.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../../src/errors.js'
import { realFileSystem } from '../../src/io/file.js'
import { openWithFileSystem, open } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { RecordType, segmentName } from '../../src/wal/wal-format.js'
import { readWal, type WalReadResult } from '../../src/wal/wal-reader.js'
import { WalWriter } from '../../src/wal/wal-writer.js'
import { FaultyFileSystem } from '../support/faulty-fs.js'
import {
  BLOCK,
  FIRST,
  FULL,
  HEADER,
  LAST,
  MIDDLE,
  type FragmentPlan,
  codeOf,
  diffLogEnd,
  diffStore,
  killStore,
  nonZeroBytes,
  parseFragmentAt,
  planRecord,
  putRecordBytes,
  sameBytes,
  seededBytes,
  segmentFiles,
  useTempDirs,
} from '../support/wal-helpers.js'

const tempDir = useTempDirs('learned-storage-wal-')

// ---- writing a log with WalWriter, and the independent model of where each record lands -----------

interface Written {
  lsn: number
  payload: Uint8Array
  /** LSN of the first record of its group. */
  group: number
  segment: string
  /** Offset of its first fragment in the segment, and every fragment. */
  at: number
  fragments: FragmentPlan[]
}

class Log {
  readonly writer: WalWriter
  readonly records: Written[] = []
  /** Segments the model expects, with their sizes. */
  readonly segments = new Map<string, number>()
  groups = 0
  private current: string | null = null
  private nextLsn = 1

  constructor(
    readonly dir: string,
    readonly segmentBytes = 64 << 20,
  ) {
    fs.mkdirSync(dir, { recursive: true })
    this.writer = new WalWriter({ dir, fs: realFileSystem, durability: 'fsync', segmentBytes, nextLsn: 1 }, [])
  }

  /** Appends `payloads` as one group (all in one tick) and waits until they are durable. */
  async group(payloads: Uint8Array[]): Promise<Written[]> {
    const first = this.nextLsn
    // Model: a group goes to a new segment when there is none or the current one is full.
    if (this.current === null || this.segments.get(this.current)! >= this.segmentBytes) {
      this.current = segmentName(first)
      this.segments.set(this.current, 0)
    }
    const segment = this.current
    const written: Written[] = []
    for (const payload of payloads) {
      const plan = planRecord(this.segments.get(segment)!, payload.byteLength)
      written.push({ lsn: this.nextLsn++, payload: payload.slice(), group: first, segment, at: plan.fragments[0]!.at, fragments: plan.fragments })
      this.segments.set(segment, plan.end)
    }
    const appended = payloads.map((p) => this.writer.append(RecordType.BATCH, p))
    expect(appended.map((a) => a.lsn)).toEqual(written.map((w) => w.lsn))
    await Promise.all(appended.map((a) => a.done))
    this.records.push(...written)
    this.groups++
    return written
  }

  file(segment: string): string {
    return path.join(this.dir, segment)
  }

  close(): void {
    this.writer.close()
  }
}

interface Replayed {
  lsn: number
  type: number
  payload: Uint8Array
}

function replay(dir: string, salvage = false): { records: Replayed[]; result: WalReadResult } {
  const records: Replayed[] = []
  const result = readWal(realFileSystem, dir, salvage, (lsn, type, payload) => records.push({ lsn, type, payload: payload.slice() }))
  return { records, result }
}

function thrown(fn: () => unknown): StoreError | string {
  try {
    fn()
  } catch (error) {
    return error instanceof StoreError ? error : `not a StoreError: ${String(error)}`
  }
  return 'did not throw'
}

/** '' when `got` is exactly `expected` (LSN, type BATCH, payload byte for byte), else the first difference. */
function diffRecords(got: Replayed[], expected: Written[]): string {
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const g = got[i]
    const e = expected[i]
    if (g === undefined) return `replay stopped after ${got.length} records; expected ${expected.length} (next LSN ${e!.lsn})`
    if (e === undefined) return `replay gave ${got.length} records; expected ${expected.length} (extra LSN ${g.lsn})`
    if (g.lsn !== e.lsn) return `record ${i}: LSN ${g.lsn}, expected ${e.lsn}`
    if (g.type !== RecordType.BATCH) return `record ${i}: type ${g.type}`
    if (!sameBytes(g.payload, e.payload)) return `record ${i} (LSN ${e.lsn}): payload of ${g.payload.byteLength} bytes differs from the ${e.payload.byteLength} appended`
  }
  return ''
}

/** '' when every fragment the model plans is in the file as planned (header fields, CRC), and block padding is zero. */
function diffFraming(log: Log): string {
  const data = new Map<string, Uint8Array>()
  for (const [segment, size] of log.segments) {
    const end = diffLogEnd(log.file(segment), size)
    if (end !== '') return end
    data.set(segment, new Uint8Array(fs.readFileSync(log.file(segment))))
  }
  for (const record of log.records) {
    const bytes = data.get(record.segment)!
    let prevEnd = record.at
    for (let f = 0; f < record.fragments.length; f++) {
      const plan = record.fragments[f]!
      for (let p = prevEnd; p < plan.at; p++) if (bytes[p] !== 0) return `LSN ${record.lsn}: padding byte ${p} is ${bytes[p]}`
      const got = parseFragmentAt(bytes, plan.at)
      const want = {
        crcOk: true,
        length: plan.length,
        fragmentType: plan.type,
        recordType: RecordType.BATCH,
        reserved: 0,
        recordBytes: plan.type === FULL || plan.type === FIRST ? record.payload.byteLength : 0,
        lsn: record.lsn,
        groupLsn: record.group,
      }
      if (JSON.stringify(got) !== JSON.stringify(want)) return `LSN ${record.lsn} fragment ${f} at ${plan.at}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`
      prevEnd = plan.at + HEADER + plan.length
    }
  }
  return ''
}

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+')
  try {
    const b = Buffer.alloc(1)
    expect(fs.readSync(fd, b, 0, 1, offset)).toBe(1)
    b[0] = b[0]! ^ 0xff
    fs.writeSync(fd, b, 0, 1, offset)
  } finally {
    fs.closeSync(fd)
  }
}

function payloads(sizes: number[], seed: number): Uint8Array[] {
  return sizes.map((size, i) => nonZeroBytes(size, seed * 1000 + i))
}

function copyDir(from: string): string {
  const to = tempDir()
  fs.cpSync(from, to, { recursive: true })
  return to
}

// ------------------------------------------------------------------------------------------------

describe('WAL framing (WalWriter + readWal)', () => {
  it('an empty log replays nothing: no directory, an empty segment, a writer that appended nothing', () => {
    const dir = tempDir()
    const wal = path.join(dir, 'wal')
    let r = replay(wal)
    expect(r.records).toEqual([])
    expect(r.result).toMatchObject({ segments: [], lastLsn: 0, end: null, droppedBytes: 0, stoppedBecause: null })

    fs.mkdirSync(wal)
    const writer = new WalWriter({ dir: wal, fs: realFileSystem, durability: 'fsync', segmentBytes: 65536, nextLsn: 1 }, [])
    writer.close()
    expect(fs.readdirSync(wal)).toEqual([])

    fs.writeFileSync(path.join(wal, segmentName(1)), '')
    r = replay(wal)
    expect(r.records).toEqual([])
    expect(r.result).toMatchObject({ lastLsn: 0, end: { segment: segmentName(1), offset: 0 }, droppedBytes: 0, stoppedBecause: null })
  })

  it('records of every size round-trip byte for byte in LSN order, one write per group, framed exactly as the format says', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    const sizes = [0, 1, 7, 31, 32, 33, 500, 32_000, 32_735, 32_736, 32_737, 40_000, 65_536, 100_000]
    for (const p of payloads(sizes, 1)) await log.group([p])
    // Several records in one group, including ones that cross blocks.
    await log.group(payloads([10, 50_000, 3, 33_000, 0], 2))
    log.close()
    expect(log.writer.groups).toBe(log.groups)
    expect(log.writer.syncs).toBe(log.groups)
    expect(diffFraming(log)).toBe('')
    const { records, result } = replay(log.dir)
    expect(diffRecords(records, log.records)).toBe('')
    expect(result.lastLsn).toBe(log.records.length)
    expect(result.droppedBytes).toBe(0)
    expect(result.stoppedBecause).toBeNull()
  })

  it('a record crossing a 32 KiB block boundary is a FIRST fragment that fills the block and a LAST one at the next block start', async () => {
    // Worked by hand: 40 000 bytes at offset 0 = 32 736 in block 0 (after its 32-byte header) + 7 264.
    expect(planRecord(0, 40_000).fragments).toEqual([
      { at: 0, length: 32_736, type: FIRST },
      { at: 32_768, length: 7_264, type: LAST },
    ])
    const log = new Log(path.join(tempDir(), 'wal'))
    await log.group(payloads([40_000], 3))
    log.close()
    expect(diffLogEnd(log.file(segmentName(1)), 32_768 + 32 + 7_264)).toBe('')
    expect(diffFraming(log)).toBe('')
    expect(diffRecords(replay(log.dir).records, log.records)).toBe('')
  })

  it('records of 100 KB and 1 MB span many blocks (FIRST, MIDDLE..., LAST) and replay whole', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    const [hundred] = await log.group(payloads([100_000], 4))
    const [mega] = await log.group(payloads([1 << 20], 5))
    await log.group(payloads([10], 6))
    log.close()
    // 100 000 = 3 x 32 736 + 1 792; 1 MiB needs 33 blocks.
    expect(hundred!.fragments.map((f) => f.type)).toEqual([FIRST, MIDDLE, MIDDLE, LAST])
    expect(mega!.fragments.length).toBe(33)
    expect(mega!.fragments.slice(1, -1).every((f) => f.type === MIDDLE && f.at % BLOCK === 0 && f.length === BLOCK - HEADER)).toBe(true)
    expect(diffFraming(log)).toBe('')
    expect(diffRecords(replay(log.dir).records, log.records)).toBe('')
  })

  it('a log ending exactly at a block boundary replays whole, and the next group starts the next block', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    await log.group(payloads([BLOCK - HEADER], 7))
    const file = log.file(segmentName(1))
    expect(diffLogEnd(file, BLOCK)).toBe('')
    let r = replay(log.dir)
    expect(diffRecords(r.records, log.records)).toBe('')
    expect(r.result.end).toEqual({ segment: segmentName(1), offset: BLOCK })
    expect(r.result.droppedBytes).toBe(0)

    const [next] = await log.group(payloads([100], 8))
    log.close()
    expect(next!.at).toBe(BLOCK)
    expect(diffFraming(log)).toBe('')
    r = replay(log.dir)
    expect(diffRecords(r.records, log.records)).toBe('')
  })

  it('a block tail too short for a header is zero padding; a tail of exactly one header holds an empty FIRST fragment', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    // Ends 32 bytes before the block end: the next record's FIRST fragment carries 0 payload bytes.
    await log.group(payloads([BLOCK - 2 * HEADER], 9))
    const [b] = await log.group(payloads([100], 10))
    expect(b!.fragments).toEqual([
      { at: BLOCK - HEADER, length: 0, type: FIRST },
      { at: BLOCK, length: 100, type: LAST },
    ])
    // Ends 31 bytes before the block end: 31 zero bytes, then the next record at the block start.
    const [c] = await log.group(payloads([2 * BLOCK - 31 - (BLOCK + HEADER + 100) - HEADER], 11))
    expect(c!.fragments[c!.fragments.length - 1]!.at + HEADER + c!.fragments[c!.fragments.length - 1]!.length).toBe(2 * BLOCK - 31)
    const [d] = await log.group(payloads([10], 12))
    expect(d!.at).toBe(2 * BLOCK)
    log.close()
    expect(diffFraming(log)).toBe('')
    expect(diffRecords(replay(log.dir).records, log.records)).toBe('')
  })

  it('several segments (walSegmentBytes 65536): a new segment per full one, named by its first LSN, replayed in order', async () => {
    const log = new Log(path.join(tempDir(), 'wal'), 65_536)
    for (let g = 0; g < 30; g++) await log.group(payloads([3_000, 3_000], 20 + g))
    log.close()
    const expected = [...log.segments.keys()]
    expect(expected.length).toBeGreaterThanOrEqual(3)
    expect(segmentFiles(log.dir)).toEqual(expected)
    expect(log.writer.segments.map((s) => s.name)).toEqual(expected.slice(0, -1))
    for (const name of expected) {
      const first = log.records.find((r) => r.segment === name)!
      expect(name).toBe(segmentName(first.lsn))
      expect(first.at).toBe(0)
    }
    expect(diffFraming(log)).toBe('')
    const r = replay(log.dir)
    expect(diffRecords(r.records, log.records)).toBe('')
    expect(r.result.segments.map((s) => s.name)).toEqual(expected)
    expect(r.result.end).toEqual({ segment: expected[expected.length - 1], offset: log.segments.get(expected[expected.length - 1]!) })
  })
})

describe('WAL end of log: torn tail or corruption (readWal)', () => {
  async function fiveThenBig(): Promise<{ log: Log; last: Written }> {
    const log = new Log(path.join(tempDir(), 'wal'))
    for (let i = 0; i < 5; i++) await log.group(payloads([2_000], 30 + i))
    const [last] = await log.group(payloads([70_000], 36))
    log.close()
    return { log, last: last! }
  }

  it('torn tail: the file cut anywhere inside the last record replays every record before it and drops the rest', async () => {
    const { log, last } = await fiveThenBig()
    const segment = segmentName(1)
    const end = log.segments.get(segment)!
    const second = last.fragments[1]!
    const cuts = [last.at + 1, last.at + 10, last.at + HEADER, last.at + HEADER + 100, BLOCK, second.at + 5, second.at + HEADER + 1, end - 1]
    const bytes = fs.readFileSync(log.file(segment))
    for (const cut of cuts) {
      expect(bytes[cut - 1], `byte before the cut at ${cut}`).not.toBe(0)
      const dir = copyDir(log.dir)
      fs.truncateSync(path.join(dir, segment), cut)
      const r = replay(dir)
      expect(diffRecords(r.records, log.records.slice(0, 5)), `cut at ${cut}`).toBe('')
      expect(r.result.lastLsn, `cut at ${cut}`).toBe(5)
      expect(r.result.end, `cut at ${cut}`).toEqual({ segment, offset: last.at })
      expect(r.result.droppedBytes, `cut at ${cut}`).toBe(cut - last.at)
      expect(r.result.stoppedBecause, `cut at ${cut}`).toContain(segment)
    }
    // Cut exactly at a record boundary: a clean, shorter log.
    const dir = copyDir(log.dir)
    fs.truncateSync(path.join(dir, segment), last.at)
    const r = replay(dir)
    expect(diffRecords(r.records, log.records.slice(0, 5))).toBe('')
    expect(r.result.droppedBytes).toBe(0)
    expect(r.result.stoppedBecause).toBeNull()
  })

  it('zero-filled tail: zeros after the last record (or instead of it) end the log at the last good record', async () => {
    const { log, last } = await fiveThenBig()
    const segment = segmentName(1)
    const end = log.segments.get(segment)!
    // Preallocated zeros after the log: every record replays, the zeros are dropped.
    let dir = copyDir(log.dir)
    fs.appendFileSync(path.join(dir, segment), Buffer.alloc(100_000))
    let r = replay(dir)
    expect(diffRecords(r.records, log.records)).toBe('')
    expect(r.result.end).toEqual({ segment, offset: end })
    // The last record's bytes zeroed (size extended, data never written).
    dir = copyDir(log.dir)
    const fd = fs.openSync(path.join(dir, segment), 'r+')
    fs.writeSync(fd, Buffer.alloc(end - last.at), 0, end - last.at, last.at)
    fs.closeSync(fd)
    r = replay(dir)
    expect(diffRecords(r.records, log.records.slice(0, 5))).toBe('')
    expect(r.result.end).toEqual({ segment, offset: last.at })
  })

  it('bad CRC in the last record (payload, header or its last fragment) is a torn tail: replay ends at the record before', async () => {
    const { log, last } = await fiveThenBig()
    const segment = segmentName(1)
    const end = log.segments.get(segment)!
    for (const offset of [last.at + HEADER + 7, last.at + 4, last.at + 20, last.fragments[2]!.at + HEADER + 3, end - 1]) {
      const dir = copyDir(log.dir)
      flipByte(path.join(dir, segment), offset)
      const r = replay(dir)
      expect(diffRecords(r.records, log.records.slice(0, 5)), `flip at ${offset}`).toBe('')
      expect(r.result.end, `flip at ${offset}`).toEqual({ segment, offset: last.at })
      expect(r.result.droppedBytes, `flip at ${offset}`).toBe(end - last.at)
    }
  })

  it('the last group torn in its middle, with later fragments of that same group intact, is a torn tail, not corruption', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    await log.group(payloads([2_000], 40))
    await log.group(payloads([2_000], 41))
    // One group of four records, one write: 3 + 4 = 7 blocks' worth, fragments at every block start.
    const group = await log.group(payloads([20_000, 40_000, 40_000, 20_000], 42))
    log.close()
    const segment = segmentName(1)
    const end = log.segments.get(segment)!
    const damaged = group[1]!
    // Damage the second record of the group: in its FIRST fragment's payload, then in its LAST
    // fragment's header (a block start), then the group's third record.
    const cases: { offset: number; keep: number }[] = [
      { offset: damaged.at + HEADER + 11, keep: 3 },
      { offset: damaged.fragments[1]!.at + 8, keep: 3 },
      { offset: group[2]!.at + HEADER + 5, keep: 4 },
    ]
    for (const { offset, keep } of cases) {
      const dir = copyDir(log.dir)
      flipByte(path.join(dir, segment), offset)
      const r = replay(dir)
      expect(diffRecords(r.records, log.records.slice(0, keep)), `damage at ${offset}`).toBe('')
      const cut = log.records[keep]!.at
      expect(r.result.end, `damage at ${offset}`).toEqual({ segment, offset: cut })
      expect(r.result.droppedBytes, `damage at ${offset}`).toBe(end - cut)
    }
  })

  it('a bad record in the middle followed by later groups is CORRUPTION naming the segment file and offset; salvage ends the log there', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    for (let i = 0; i < 10; i++) await log.group(payloads([20_000], 50 + i))
    log.close()
    const segment = segmentName(1)
    const bad = log.records[2]!
    flipByte(log.file(segment), bad.at + HEADER + 100)
    const error = thrown(() => replay(log.dir))
    expect(codeOf(error)).toBe('CORRUPTION')
    expect((error as StoreError).message).toContain(log.file(segment))
    expect((error as StoreError).message).toContain(`offset ${bad.at}`)

    const r = replay(log.dir, true)
    expect(diffRecords(r.records, log.records.slice(0, 2))).toBe('')
    expect(r.result.end).toEqual({ segment, offset: bad.at })
    expect(r.result.droppedBytes).toBe(log.segments.get(segment)! - bad.at)
    expect(r.result.stoppedBecause).toContain(`offset ${bad.at}`)
  })

  it('a bad record at the end of one segment followed by a later segment is CORRUPTION naming that segment', async () => {
    const log = new Log(path.join(tempDir(), 'wal'), 65_536)
    for (let g = 0; g < 30; g++) await log.group(payloads([6_000], 60 + g))
    log.close()
    const names = [...log.segments.keys()]
    expect(names.length).toBeGreaterThanOrEqual(3)
    // The last record of the first segment: nothing valid after it in that segment.
    const bad = log.records.filter((r) => r.segment === names[0]).at(-1)!
    flipByte(log.file(names[0]!), bad.at + HEADER + 1)
    const error = thrown(() => replay(log.dir))
    expect(codeOf(error)).toBe('CORRUPTION')
    expect((error as StoreError).message).toContain(log.file(names[0]!))
    expect((error as StoreError).message).toContain(`offset ${bad.at}`)

    const r = replay(log.dir, true)
    expect(diffRecords(r.records, log.records.slice(0, bad.lsn - 1))).toBe('')
    // At least the log bytes from the damage on; at most those and the zeros filled ahead of them.
    let laterBytes = 0
    let laterFiles = 0
    for (const name of names.slice(1)) {
      laterBytes += log.segments.get(name)!
      laterFiles += fs.statSync(log.file(name)).size
    }
    expect(r.result.droppedBytes).toBeGreaterThanOrEqual(log.segments.get(names[0]!)! - bad.at + laterBytes)
    expect(r.result.droppedBytes).toBeLessThanOrEqual(fs.statSync(log.file(names[0]!)).size - bad.at + laterFiles)
  })

  it('a bad record followed by exactly one later, synced group (its fragments at block starts) is CORRUPTION, not a torn tail', async () => {
    // Group 1 (LSN 1) was synced before group 2 (LSN 2) was written, so damage in LSN 1 cannot be a
    // torn write: only the last group can be torn.
    const log = new Log(path.join(tempDir(), 'wal'))
    const [first] = await log.group(payloads([100], 70))
    await log.group(payloads([100_000], 71))
    log.close()
    flipByte(log.file(segmentName(1)), first!.at + HEADER + 50)
    const error = thrown(() => replay(log.dir))
    expect(codeOf(error)).toBe('CORRUPTION')
    expect(String((error as StoreError).message)).toContain(`offset ${first!.at}`)
  })

  it('a bad record followed by later synced groups inside the same block is CORRUPTION, not a torn tail', async () => {
    const log = new Log(path.join(tempDir(), 'wal'))
    for (let i = 0; i < 20; i++) await log.group(payloads([100], 80 + i))
    log.close()
    const bad = log.records[4]!
    flipByte(log.file(segmentName(1)), bad.at + HEADER + 50)
    const error = thrown(() => replay(log.dir))
    expect(codeOf(error)).toBe('CORRUPTION')
    expect(String((error as StoreError).message)).toContain(`offset ${bad.at}`)
  })
})

// ---- through the store --------------------------------------------------------------------------

const NO_TIMED_CHECKPOINT = { checkpointIntervalMs: 3_600_000 }

async function openFaulty(dir: string, options: Record<string, unknown> = {}): Promise<{ db: Store; ffs: FaultyFileSystem }> {
  const ffs = new FaultyFileSystem({ trackDurability: false })
  const db = await openWithFileSystem(dir, { ...NO_TIMED_CHECKPOINT, ...options }, ffs)
  return { db, ffs }
}

describe('WAL through the store', () => {
  it("walRecovery 'salvage' opens a log damaged in the middle, keeps what precedes the damage and reports droppedBytes; 'strict' refuses", async () => {
    const dir = tempDir()
    const model = new Map<number, Uint8Array>()
    let db = await open(dir, NO_TIMED_CHECKPOINT)
    for (let k = 0; k < 50; k++) {
      const v = seededBytes(16, k)
      await db.put(k, v)
      model.set(k, v)
    }
    await db.close() // a checkpoint holds keys 0..49; the log after it starts at LSN 51
    const faulty = await openFaulty(dir)
    const values: Uint8Array[] = []
    for (let i = 0; i < 10; i++) {
      values.push(nonZeroBytes(20_000, 100 + i))
      await faulty.db.put(100 + i, values[i]!)
    }
    await killStore(faulty.db, faulty.ffs)

    const wal = path.join(dir, 'wal')
    const segment = segmentName(51)
    expect(segmentFiles(wal)).toContain(segment)
    let at = 0
    const starts: number[] = []
    for (let i = 0; i < 10; i++) {
      const plan = planRecord(at, putRecordBytes(20_000))
      starts.push(plan.fragments[0]!.at)
      at = plan.end
    }
    expect(diffLogEnd(path.join(wal, segment), at)).toBe('')
    flipByte(path.join(wal, segment), starts[2]! + HEADER + 500)

    let error: unknown = null
    await open(dir).then((s) => s.close(), (e: unknown) => (error = e))
    expect(codeOf(error)).toBe('CORRUPTION')
    expect((error as Error).message).toContain(segment)
    expect((error as Error).message).toContain(`offset ${starts[2]}`)

    db = await open(dir, { walRecovery: 'salvage' })
    model.set(100, values[0]!)
    model.set(101, values[1]!)
    expect(diffStore(db, model)).toBe('')
    const recovery = db.stats().recovery
    expect(recovery.droppedBytes).toBeGreaterThan(0)
    expect(recovery.droppedBytes).toBe(at - starts[2]!)
    expect(recovery.replayedRecords).toBe(2)
    expect(recovery.stoppedBecause).toContain(segment)
    const extra = seededBytes(10, 999)
    await db.put(500, extra)
    model.set(500, extra)
    await db.close()
    // The damage was cut off: a strict open works now and holds the same data.
    db = await open(dir)
    expect(diffStore(db, model)).toBe('')
    await db.close()
  })

  it('values of 100 KB and 1 MB (records spanning many blocks) come back from the log after a kill', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model = new Map<number, Uint8Array>()
    const writes: [number, Uint8Array][] = [
      [1, seededBytes(100_000, 1)],
      [2, seededBytes(1 << 20, 2)],
      [3, seededBytes(5, 3)],
      [1, seededBytes(1_000_000, 4)],
    ]
    for (const [k, v] of writes) {
      await db.put(k, v)
      model.set(k, v)
    }
    await killStore(db, ffs)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.replayedRecords).toBe(writes.length)
    expect(reopened.stats().recovery.droppedBytes).toBe(0)
    await reopened.close()
  })

  it('a store log ending exactly at a block boundary replays whole, and the next open continues in a new segment', async () => {
    const dir = tempDir()
    const wal = path.join(dir, 'wal')
    // The first write after open starts a new segment at offset 0: 32 + 17 + 32 719 = 32 768 bytes.
    const value = seededBytes(BLOCK - HEADER - putRecordBytes(0), 5)
    let faulty = await openFaulty(dir)
    await faulty.db.put(7, value)
    await killStore(faulty.db, faulty.ffs)
    const [first] = segmentFiles(wal)
    expect(first).toBeDefined()
    expect(diffLogEnd(path.join(wal, first!), BLOCK)).toBe('')
    expect(replay(wal).result.end).toEqual({ segment: first, offset: BLOCK })

    faulty = await openFaulty(dir)
    expect(faulty.db.stats().recovery.replayedRecords).toBe(1)
    expect(faulty.db.stats().recovery.droppedBytes).toBe(0)
    expect(sameBytes(faulty.db.get(7), value)).toBe(true)
    const second = seededBytes(1000, 6)
    await faulty.db.put(8, second)
    await killStore(faulty.db, faulty.ffs)
    expect(diffLogEnd(path.join(wal, first!), BLOCK)).toBe('')

    const db = await open(dir)
    expect(diffStore(db, new Map([[7, value], [8, second]]))).toBe('')
    expect(db.stats().recovery.replayedRecords).toBe(2)
    await db.close()
  })

  it('several segments (walSegmentBytes 65536) replay in order after a kill', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir, { walSegmentBytes: 65_536 })
    const model = new Map<number, Uint8Array>()
    const next = seededBytes(600, 77)
    let ops = 0
    for (let i = 0; i < 300; i++) {
      const k = next[i]! % 120
      if (i % 7 === 3) {
        await db.del(k)
        model.delete(k)
      } else {
        const v = seededBytes(1_500 + (i % 50), 1000 + i)
        await db.put(k, v)
        model.set(k, v)
      }
      ops++
    }
    await killStore(db, ffs)
    expect(segmentFiles(path.join(dir, 'wal')).length).toBeGreaterThanOrEqual(5)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.replayedRecords).toBe(ops)
    await reopened.check()
    await reopened.close()
  })

  it('a torn tail after a kill (last record cut) is dropped and cut off the file; the store goes on from there', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model = new Map<number, Uint8Array>()
    let at = 0
    let lastStart = 0
    for (let i = 0; i < 20; i++) {
      const v = nonZeroBytes(i === 19 ? 50_000 : 3_000, 200 + i)
      await db.put(i, v)
      if (i < 19) model.set(i, v)
      const plan = planRecord(at, putRecordBytes(v.byteLength))
      lastStart = plan.fragments[0]!.at
      at = plan.end
    }
    await killStore(db, ffs)
    const wal = path.join(dir, 'wal')
    const [segment] = segmentFiles(wal)
    const file = path.join(wal, segment!)
    expect(diffLogEnd(file, at)).toBe('')
    const cut = lastStart + 40_000
    fs.truncateSync(file, cut)

    let reopened = await open(dir, NO_TIMED_CHECKPOINT)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.replayedRecords).toBe(19)
    expect(reopened.stats().recovery.droppedBytes).toBe(cut - lastStart)
    expect(fs.statSync(file).size).toBe(lastStart)
    const v = seededBytes(10, 300)
    await reopened.put(19, v)
    model.set(19, v)
    await reopened.close()
    reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    await reopened.close()
  })

  it('the last group torn in its middle (writes issued together, one write) drops the damaged record and those after it', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model = new Map<number, Uint8Array>()
    const early = nonZeroBytes(1_000, 400)
    await db.put(0, early)
    model.set(0, early)
    const groupsBefore = db.stats().wal.groups
    const values = [1, 2, 3, 4].map((k) => nonZeroBytes(30_000, 400 + k))
    await Promise.all(values.map((v, i) => db.put(i + 1, v)))
    expect(db.stats().wal.groups).toBe(groupsBefore + 1)
    await killStore(db, ffs)
    let at = planRecord(0, putRecordBytes(1_000)).end
    const starts: number[] = []
    for (const v of values) {
      const plan = planRecord(at, putRecordBytes(v.byteLength))
      starts.push(plan.fragments[0]!.at)
      at = plan.end
    }
    const [segment] = segmentFiles(path.join(dir, 'wal'))
    // Damage the third record of the group: records 1 and 2 of the group stay (a prefix), 3 and 4 go.
    flipByte(path.join(dir, 'wal', segment!), starts[2]! + HEADER + 9)
    model.set(1, values[0]!)
    model.set(2, values[1]!)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.droppedBytes).toBe(at - starts[2]!)
    await reopened.close()
  })

  it('a damaged record followed by one acknowledged, synced group: strict open refuses instead of silently dropping the acknowledged write', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    await db.put(1, seededBytes(100, 1))
    await db.put(2, seededBytes(100_000, 2)) // acknowledged (fsync); its fragments start blocks 1..3
    await killStore(db, ffs)
    const wal = path.join(dir, 'wal')
    const file = path.join(wal, segmentFiles(wal)[0]!)
    const fd = fs.openSync(file, 'r+')
    const byte = Buffer.alloc(1)
    fs.readSync(fd, byte, 0, 1, 40)
    byte[0] = byte[0]! ^ 0xff
    fs.writeSync(fd, byte, 0, 1, 40)
    fs.closeSync(fd)
    const outcome = await open(dir).then(
      async (s) => {
        const has2 = s.get(2) !== undefined
        await s.close()
        return `opened; key 2 ${has2 ? 'present' : 'silently lost'}`
      },
      (e: unknown) => codeOf(e),
    )
    expect(outcome).toBe('CORRUPTION')
  })
})
