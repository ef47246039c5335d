/**
 * Recovery from the write-ahead log, store level: real crashes (a child process writing through the
 * built package, SIGKILLed by the parent), in-process kills and power losses and injected I/O errors
 * (test/support/faulty-fs.ts, through `openWithFileSystem`).
 *
 * The oracle is a Map model built from the operations the test issued. A child reports `s i` before
 * issuing plan item i and `a i` after its promise resolved, so after a kill the store must equal the
 * model after exactly n items for some n between the acknowledged count and the issued count: every
 * acknowledged write present, nothing never issued, no holes (wal-helpers matchingPrefix).
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../../src/errors.js'
import type { BatchOperation } from '../../src/store/api.js'
import { open, openWithFileSystem } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { realFileSystem } from '../../src/io/file.js'
import { segmentName } from '../../src/wal/wal-format.js'
import { readWal } from '../../src/wal/wal-reader.js'
import { FaultyFileSystem, type FaultOp } from '../support/faulty-fs.js'
import {
  type ChildRun,
  type Op,
  type PlanItem,
  applyOp,
  codeOf,
  codeOfResult,
  diffStore,
  digestDir,
  killStore,
  matchingPrefix,
  mulberry32,
  nonZeroBytes,
  powerLoss,
  putRecordBytes,
  rejection,
  runChild,
  seededBytes,
  segmentFiles,
  useTempDirs,
} from '../support/wal-helpers.js'

const tempDir = useTempDirs('learned-storage-recovery-')

const NO_TIMED_CHECKPOINT = { checkpointIntervalMs: 3_600_000 }
const WAL_FILE = /\.wal$/
/** The page file, and the file a new store is built in before it is renamed into place. */
const DATA_FILE = /data\.lsp(\.new)?$/

type Model = Map<number, Uint8Array>

/** A seeded stream of puts (values 1..maxValue bytes) and deletes over `keys` keys. */
function makeOps(count: number, seed: number, options: { keys: number; maxValue: number; delPercent?: number; keyBase?: number }): Op[] {
  const next = mulberry32(seed)
  const ops: Op[] = []
  for (let i = 0; i < count; i++) {
    const k = (options.keyBase ?? 0) + (next() % options.keys)
    if (next() % 100 < (options.delPercent ?? 15)) ops.push({ t: 'del', k })
    else ops.push({ t: 'put', k, v: seededBytes(1 + (next() % options.maxValue), seed * 1_000_003 + i) })
  }
  return ops
}

function planOps(plan: readonly PlanItem[]): (Op | null)[] {
  return plan.map((item) => (item.t === 'checkpoint' ? null : item))
}

function modelOf(ops: readonly Op[], base: Model = new Map()): Model {
  const model = new Map(base)
  for (const op of ops) applyOp(model, op)
  return model
}

function toBatchOperation(op: Op): BatchOperation {
  if (op.t === 'put') return { type: 'put', key: op.k, value: op.v }
  if (op.t === 'del') return { type: 'del', key: op.k }
  throw new Error('nested batch')
}

/** Runs ops in order with at most `window` in flight (group commit); resolves when all resolved. */
async function runWindowed(db: Store, ops: readonly Op[], window: number, onAck?: (i: number) => void): Promise<void> {
  const inflight = new Set<Promise<void>>()
  for (let i = 0; i < ops.length; i++) {
    while (inflight.size >= window) await Promise.race(inflight)
    const op = ops[i]!
    const promise = op.t === 'put' ? db.put(op.k, op.v) : op.t === 'del' ? db.del(op.k) : db.batch(op.ops.map(toBatchOperation))
    const tracked: Promise<void> = promise.then(() => {
      onAck?.(i)
      inflight.delete(tracked)
    })
    inflight.add(tracked)
  }
  await Promise.all(inflight)
}

/** Opens `dir` (readOnly or writable) and finds the prefix of `plan` the store holds. */
async function verifyChild(
  dir: string,
  base: Model,
  plan: readonly PlanItem[],
  run: ChildRun,
  options: { readOnly?: boolean; from?: number; check?: boolean } = {},
): Promise<{ n: number; model: Model; replayed: number }> {
  expect(run.lines.filter((l) => l.startsWith('e ')), `child errors; stderr: ${run.stderr}`).toEqual([])
  const db = await open(dir, { ...NO_TIMED_CHECKPOINT, readOnly: options.readOnly ?? false })
  const found = matchingPrefix(db, base, planOps(plan), options.from ?? run.acked, run.issued)
  expect(found.why, `acked ${run.acked}, issued ${run.issued}`).toBe('')
  const replayed = db.stats().recovery.replayedRecords
  if (options.check === true) await db.check()
  await db.close()
  return { n: found.n, model: found.model, replayed }
}

/** Records a strict read of the log in `walDir` finds. */
function logRecords(walDir: string): number {
  let n = 0
  readWal(realFileSystem, walDir, false, () => n++)
  return n
}

/** Writes `bytes` just past the log's last record (over any zeros the writer filled ahead). */
function writeAtLogEnd(walDir: string, bytes: Uint8Array): void {
  const end = readWal(realFileSystem, walDir, false, () => {}).end!
  const fd = fs.openSync(path.join(walDir, end.segment), 'r+')
  fs.writeSync(fd, bytes, 0, bytes.byteLength, end.offset)
  fs.closeSync(fd)
}

function failsWith(result: StoreError | string, code: string): void {
  expect(codeOfResult(result)).toBe(code)
}

// ------------------------------------------------------------------------------------------------

describe('recovery after a real crash (child process, SIGKILL)', () => {
  it('every acknowledged write survives a SIGKILL with no checkpoint since creation; replayedRecords counts exactly the records replayed (> 0)', async () => {
    const dir = tempDir()
    const plan = makeOps(4_000, 1, { keys: 300, maxValue: 400 })
    const run = await runChild({ dir, storeOptions: NO_TIMED_CHECKPOINT, plan, window: 8, killAfterAcks: 300 })
    expect(run.signal).toBe('SIGKILL')
    expect(run.acked).toBeGreaterThanOrEqual(300)
    const db = await open(dir, NO_TIMED_CHECKPOINT)
    const found = matchingPrefix(db, new Map(), plan, run.acked, run.issued)
    expect(found.why).toBe('')
    // Each write is one record; the only checkpoint is the empty one made at creation (redo LSN 1).
    expect(db.stats().recovery.replayedRecords).toBe(found.n)
    expect(db.stats().recovery.replayedRecords).toBeGreaterThan(0)
    expect(db.stats().wal.appliedLsn).toBe(found.n)
    await db.check()
    await db.close()
    const again = await open(dir)
    expect(diffStore(again, found.model)).toBe('')
    await again.close()
  })

  it('writes made after a mid-way checkpoint() survive a SIGKILL, and only they are replayed', async () => {
    const dir = tempDir()
    const before = makeOps(300, 2, { keys: 200, maxValue: 300 })
    const after = makeOps(4_000, 3, { keys: 200, maxValue: 300 })
    const plan: PlanItem[] = [...before, { t: 'checkpoint' }, ...after]
    const run = await runChild({ dir, storeOptions: NO_TIMED_CHECKPOINT, plan, window: 8, killAfterAcks: 700 })
    expect(run.signal).toBe('SIGKILL')
    expect(run.checkpointsDone).toEqual([300])
    const db = await open(dir, NO_TIMED_CHECKPOINT)
    const found = matchingPrefix(db, new Map(), planOps(plan), run.acked, run.issued)
    expect(found.why).toBe('')
    expect(found.n).toBeGreaterThan(301)
    // The checkpoint holds LSNs 1..300 (redo LSN 301); the records after it are replayed.
    expect(db.stats().recovery.replayedRecords).toBe(found.n - 301)
    await db.check()
    await db.close()
  })

  it('batches are all-or-nothing across SIGKILLs (50 ops each, every op tagged with its batch number)', async () => {
    const dir = tempDir()
    const storeOptions = { ...NO_TIMED_CHECKPOINT, walSegmentBytes: 65_536, checkpointWalBytes: 262_144 }
    let base: Model = new Map()
    for (let round = 0; round < 3; round++) {
      const plan: PlanItem[] = []
      for (let b = 0; b < 150; b++) {
        const ops: Op[] = []
        const tag = round * 1000 + b
        for (let i = 0; i < 50; i++) {
          const k = tag * 100 + i
          if (i % 10 === 9 && b > 0) ops.push({ t: 'del', k: (tag - 1) * 100 + i - 1 })
          else {
            const v = seededBytes(200 + ((b * 7 + i) % 300), tag * 100 + i)
            new DataView(v.buffer).setUint32(0, tag, true)
            ops.push({ t: 'put', k, v })
          }
        }
        plan.push({ t: 'batch', ops })
      }
      const run = await runChild({ dir, storeOptions, plan, window: 4, killAfterAcks: 20 + round * 15 })
      expect(run.signal).toBe('SIGKILL')
      const db = await open(dir, { ...NO_TIMED_CHECKPOINT, readOnly: true })
      // Keys i % 10 < 8 of a batch are never deleted: a batch that is there has all 40 of them.
      const present = new Map<number, number>()
      for (const [k, v] of db.range({ gte: round * 100_000, lt: (round + 1) * 100_000 })) {
        const tag = new DataView(v.buffer, v.byteOffset).getUint32(0, true)
        expect(Math.floor(k / 100), `key ${k} carries batch ${tag}`).toBe(tag)
        if (k % 10 < 8) present.set(tag, (present.get(tag) ?? 0) + 1)
      }
      const found = matchingPrefix(db, base, planOps(plan), run.acked, run.issued)
      await db.close()
      expect(found.why).toBe('')
      for (const [tag, count] of present) expect(count, `batch ${tag}: ${count} of its 40 lasting puts`).toBe(40)
      const tags = [...present.keys()].sort((x, y) => x - y)
      expect(tags, 'the batches present are the first ones').toEqual(tags.map((_, i) => round * 1000 + i))
      expect(tags.length).toBe(found.n)
      expect(found.n).toBeGreaterThanOrEqual(run.acked)
      base = found.model
    }
  })

  it("durability 'os': every acknowledged write survives a SIGKILL", async () => {
    const dir = tempDir()
    const storeOptions = { ...NO_TIMED_CHECKPOINT, durability: 'os', walSegmentBytes: 65_536, checkpointWalBytes: 131_072 }
    let base: Model = new Map()
    for (let round = 0; round < 2; round++) {
      const plan = makeOps(6_000, 10 + round, { keys: 400, maxValue: 500 })
      const run = await runChild({ dir, storeOptions, plan, window: 16, killAfterAcks: 1_000 })
      expect(run.signal).toBe('SIGKILL')
      const found = await verifyChild(dir, base, plan, run, { readOnly: round === 0, check: round === 1 })
      base = found.model
    }
  })

  it("durability 'none': after SIGKILLs the store opens and holds a prefix of the issued writes", async () => {
    const dir = tempDir()
    const storeOptions = { ...NO_TIMED_CHECKPOINT, durability: 'none', walSegmentBytes: 65_536, checkpointWalBytes: 65_536 }
    let base: Model = new Map()
    for (let round = 0; round < 3; round++) {
      const plan = makeOps(6_000, 20 + round, { keys: 400, maxValue: 500 })
      const run = await runChild({ dir, storeOptions, plan, window: 16, killAfterAcks: 1_500 })
      expect(run.signal).toBe('SIGKILL')
      const found = await verifyChild(dir, base, plan, run, { from: 0, check: true })
      base = found.model
    }
  })

  it('20 cycles of write + (SIGKILL, exit without close, or close) on one store: each reopen equals the model', async () => {
    const dir = tempDir()
    const storeOptions = { ...NO_TIMED_CHECKPOINT, walSegmentBytes: 65_536, checkpointWalBytes: 131_072 }
    const next = mulberry32(77)
    let base: Model = new Map()
    for (let cycle = 0; cycle < 20; cycle++) {
      const plan = makeOps(400, 100 + cycle, { keys: 250, maxValue: 1_500 })
      const mode = cycle % 4 === 3 ? 'close' : cycle % 4 === 1 ? 'exit' : 'kill'
      const run = await runChild({
        dir,
        storeOptions,
        plan,
        window: 4,
        close: mode === 'close',
        ...(mode === 'kill' ? { killAfterAcks: 20 + (next() % 150) } : {}),
      })
      if (mode === 'kill') expect(run.signal, `cycle ${cycle}`).toBe('SIGKILL')
      else expect(run.acked, `cycle ${cycle}`).toBe(plan.length)
      if (mode === 'close') expect(run.lines).toContain('closed')
      // Verify read-only (the files stay as the child left them) except every fifth cycle.
      const found = await verifyChild(dir, base, plan, run, { readOnly: cycle % 5 !== 4, check: cycle % 5 === 4 })
      if (mode !== 'kill') expect(found.n, `cycle ${cycle}`).toBe(plan.length)
      base = found.model
    }
  })
})

// ------------------------------------------------------------------------------------------------

async function openFaulty(dir: string, options: Record<string, unknown> = {}, track = false): Promise<{ db: Store; ffs: FaultyFileSystem }> {
  const ffs = new FaultyFileSystem({ trackDurability: track })
  const db = await openWithFileSystem(dir, { ...NO_TIMED_CHECKPOINT, ...options }, ffs)
  return { db, ffs }
}

describe('recovery, in process (faulty file system)', () => {
  it('many rotated segments: checkpoints release them, so the log stays a few segments and the data is complete', async () => {
    const dir = tempDir()
    const wal = path.join(dir, 'wal')
    const db = await open(dir, { ...NO_TIMED_CHECKPOINT, walSegmentBytes: 65_536, checkpointWalBytes: 65_536 })
    const ops = makeOps(3_000, 30, { keys: 800, maxValue: 1_200 })
    let maxSegments = 0
    let maxFiles = 0
    const seen = new Set<string>()
    await runWindowed(db, ops, 16, (i) => {
      if (i % 10 === 0) {
        maxSegments = Math.max(maxSegments, db.stats().wal.segments)
        const files = segmentFiles(wal)
        maxFiles = Math.max(maxFiles, files.length)
        for (const f of files) seen.add(f)
      }
    })
    const stats = db.stats()
    // About 1.9 MB of log in 64 KiB segments: some 30 segments were written in all (at least the
    // ones seen), and checkpoints let them go, so that only a few were ever on disk at once (how
    // many depends on how long a checkpoint takes while writes go on).
    expect(stats.wal.lastLsn).toBe(ops.length)
    expect(stats.checkpoints).toBeGreaterThanOrEqual(5)
    expect(seen.size).toBeGreaterThanOrEqual(20)
    expect(maxFiles).toBeLessThanOrEqual(seen.size / 2)
    expect(maxSegments).toBeLessThanOrEqual(seen.size / 2)
    await db.close()
    expect(segmentFiles(wal).length).toBe(1)
    const reopened = await open(dir)
    expect(diffStore(reopened, modelOf(ops))).toBe('')
    await reopened.check()
    await reopened.close()
  })

  it('replay is idempotent: recoveries that fail midway (cutting the torn tail, writing pages during replay, power loss after it) leave the same data for the next one', async () => {
    const dir = tempDir()
    // 4 KiB pages and the smallest cache (8 frames): replay has to evict value pages to the file.
    const small = { pageSizeBytes: 4_096, cacheBytes: 0 }
    const { db, ffs } = await openFaulty(dir, small)
    const ops = makeOps(600, 31, { keys: 500, maxValue: 4_000, delPercent: 5 })
    await runWindowed(db, ops, 8)
    await killStore(db, ffs)
    const model = modelOf(ops)
    const wal = path.join(dir, 'wal')
    writeAtLogEnd(wal, nonZeroBytes(700, 9)) // a torn tail: garbage after the last record

    // 1. Cutting the torn tail fails.
    const f1 = new FaultyFileSystem({ trackDurability: false })
    f1.failNext({ op: 'truncate', path: WAL_FILE, code: 'EIO' })
    const r1 = await rejection(openWithFileSystem(dir, small, f1))
    expect(f1.injected.map((i) => i.op)).toEqual(['truncate'])
    failsWith(r1, 'IO')

    // 2. A page written while replaying (the small cache evicts value pages) fails.
    const f2 = new FaultyFileSystem({ trackDurability: false })
    f2.failNext({ op: 'write', path: DATA_FILE, code: 'EIO', after: 1 })
    const r2 = await rejection(openWithFileSystem(dir, small, f2))
    expect(f2.injected.map((i) => i.op)).toEqual(['write'])
    failsWith(r2, 'IO')

    // 3. Recovery completes, then the power fails before anything else is synced.
    const f3 = new FaultyFileSystem({ trackDurability: true })
    const db3 = await openWithFileSystem(dir, { ...NO_TIMED_CHECKPOINT, ...small }, f3)
    expect(diffStore(db3, model)).toBe('')
    expect(db3.stats().recovery.replayedRecords).toBe(ops.length)
    await powerLoss(db3, f3)

    // 4. And once more, killed right after opening.
    const f4 = new FaultyFileSystem({ trackDurability: false })
    const db4 = await openWithFileSystem(dir, { ...NO_TIMED_CHECKPOINT, ...small }, f4)
    expect(db4.stats().recovery.replayedRecords).toBe(ops.length)
    await killStore(db4, f4)

    const final = await open(dir, small)
    expect(diffStore(final, model)).toBe('')
    expect(final.stats().recovery.replayedRecords).toBe(ops.length)
    await final.check()
    await final.close()
    const after = await open(dir)
    expect(diffStore(after, model)).toBe('')
    expect(after.stats().recovery.replayedRecords).toBe(0)
    await after.close()
  })

  it('an fsync error on the log: that group rejects with IO, later writes reject with IO, reads work; the failed group is cut off, and reopen has every acknowledged write and none of the rejected', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model: Model = new Map()
    for (let k = 0; k < 10; k++) {
      const v = seededBytes(100 + k, k)
      await db.put(k, v)
      model.set(k, v)
    }
    const wal = path.join(dir, 'wal')
    expect(logRecords(wal)).toBe(10)
    ffs.failNext({ op: 'sync', path: WAL_FILE, code: 'EIO' })
    // One group: new keys and an overwrite of key 3.
    const failing = [db.put(10, seededBytes(50, 10)), db.put(11, seededBytes(50, 11)), db.put(3, seededBytes(50, 33)), db.del(4)]
    const results = await Promise.all(failing.map(rejection))
    expect(ffs.injected).toHaveLength(1)
    for (const r of results) failsWith(r, 'IO')
    failsWith(await rejection(db.put(12, seededBytes(5, 12))), 'IO')
    failsWith(await rejection(db.del(0)), 'IO')
    failsWith(await rejection(db.batch([{ type: 'put', key: 13, value: new Uint8Array(1) }])), 'IO')
    expect(diffStore(db, model)).toBe('')
    // The writer cut the failed group (fully written, never synced) off the segment.
    expect(logRecords(wal)).toBe(10)
    await db.close().catch(() => {})

    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.replayedRecords).toBe(10)
    const v = seededBytes(7, 70)
    await reopened.put(10, v)
    model.set(10, v)
    await reopened.close()
    const again = await open(dir)
    expect(diffStore(again, model)).toBe('')
    await again.close()
  })

  it('ENOSPC on a log write (a short write, then the error): NO_SPACE for that write and every later one, reads work, reopen has exactly the acknowledged writes', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model: Model = new Map()
    for (let k = 0; k < 10; k++) {
      const v = seededBytes(3_000, 100 + k)
      await db.put(k, v)
      model.set(k, v)
    }
    const wal = path.join(dir, 'wal')
    const segment = path.join(wal, segmentFiles(wal).at(-1)!)
    expect(logRecords(wal)).toBe(10)
    ffs.failNext({ op: 'write', path: WAL_FILE, code: 'ENOSPC', partialBytes: 1_000 })
    const failed = await rejection(db.put(5, seededBytes(3_000, 555)))
    expect(ffs.injected).toEqual([{ op: 'write', path: segment, code: 'ENOSPC' }])
    failsWith(failed, 'NO_SPACE')
    failsWith(await rejection(db.put(20, seededBytes(10, 20))), 'NO_SPACE')
    failsWith(await rejection(db.del(1)), 'NO_SPACE')
    expect(diffStore(db, model)).toBe('')
    expect(logRecords(wal)).toBe(10)
    await db.close().catch(() => {})

    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.droppedBytes).toBe(0)
    await reopened.close()
  })

  it('ENOSPC on a data-file write during checkpoint() or close(): it rejects with NO_SPACE, writes are refused, and reopen recovers everything acknowledged from the log', async () => {
    for (const via of ['checkpoint', 'close'] as const) {
      const dir = tempDir()
      const { db, ffs } = await openFaulty(dir)
      const ops = makeOps(200, via === 'checkpoint' ? 40 : 41, { keys: 150, maxValue: 2_000 })
      await runWindowed(db, ops, 8)
      const model = modelOf(ops)
      ffs.failNext({ op: 'write', path: DATA_FILE, code: 'ENOSPC' })
      if (via === 'checkpoint') {
        failsWith(await rejection(db.checkpoint()), 'NO_SPACE')
        expect(ffs.injected).toHaveLength(1)
        failsWith(await rejection(db.put(1, new Uint8Array(3))), 'NO_SPACE')
        expect(diffStore(db, model)).toBe('')
        await db.close().catch(() => {})
      } else {
        failsWith(await rejection(db.close()), 'NO_SPACE')
        expect(ffs.injected).toHaveLength(1)
      }
      const reopened = await open(dir)
      expect(diffStore(reopened, model), via).toBe('')
      expect(reopened.stats().recovery.replayedRecords, via).toBe(ops.length)
      await reopened.check()
      await reopened.close()
    }
  })

  it('every I/O of a checkpoint failing in turn (write, sync, truncate; EIO): the checkpoint rejects, and each reopen recovers the acknowledged writes', async () => {
    const dir = tempDir()
    let model: Model = new Map()
    let seed = 500
    const failures: Record<string, number> = {}
    for (const op of ['write', 'sync', 'truncate'] as FaultOp[]) {
      failures[op] = 0
      for (let n = 0; n < 12; n++) {
        const { db, ffs } = await openFaulty(dir)
        expect(diffStore(db, model)).toBe('')
        const ops = makeOps(60, seed++, { keys: 3_000, maxValue: 3_000 })
        await runWindowed(db, ops, 4)
        model = modelOf(ops, model)
        ffs.failNext({ op, path: DATA_FILE, code: 'EIO', after: n })
        const result = await rejection(db.checkpoint())
        ffs.clearFaults()
        if (ffs.injected.length === 0) {
          // The checkpoint made fewer than n + 1 such calls: every one has been failed once.
          expect(result, `${op} #${n}`).toBe('resolved')
          await db.close()
          break
        }
        failures[op]++
        failsWith(result, 'IO')
        failsWith(await rejection(db.put(-1, new Uint8Array(1))), 'IO')
        await killStore(db, ffs)
        const reopened = await open(dir, NO_TIMED_CHECKPOINT)
        expect(diffStore(reopened, model), `${op} #${n}`).toBe('')
        await reopened.check()
        await reopened.close()
      }
    }
    expect(failures.write).toBeGreaterThanOrEqual(3)
    expect(failures.sync).toBeGreaterThanOrEqual(2)
  })

  it('checkpoint() leaves stats().wal.bytesSinceCheckpoint at zero, and the log after it holds only later writes', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir)
    const model: Model = new Map()
    for (let k = 0; k < 50; k++) {
      const v = seededBytes(20_000, k)
      await db.put(k, v)
      model.set(k, v)
    }
    const frame = 32 + putRecordBytes(20_000)
    const before = db.stats().wal.bytesSinceCheckpoint
    expect(before).toBeGreaterThanOrEqual(50 * frame)
    expect(before).toBeLessThanOrEqual(50 * (frame + 2 * 32 + 31))
    const checkpoints = db.stats().checkpoints
    await db.checkpoint()
    expect(db.stats().checkpoints).toBe(checkpoints + 1)
    expect(db.stats().wal.bytesSinceCheckpoint).toBe(0)
    const v = seededBytes(100, 1)
    await db.put(1_000, v)
    model.set(1_000, v)
    const small = db.stats().wal.bytesSinceCheckpoint
    expect(small).toBeGreaterThanOrEqual(32 + putRecordBytes(100))
    expect(small).toBeLessThanOrEqual(2 * 32 + putRecordBytes(100) + 31)
    await killStore(db, ffs)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    expect(reopened.stats().recovery.replayedRecords).toBe(1)
    await reopened.close()
  })

  it('a read-only open of a store with an un-checkpointed log (and a torn tail) shows every acknowledged write and changes no file', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir, { walSegmentBytes: 65_536 })
    const ops = makeOps(300, 50, { keys: 120, maxValue: 1_000 })
    await runWindowed(db, ops, 4)
    await killStore(db, ffs)
    const model = modelOf(ops)
    const wal = path.join(dir, 'wal')
    writeAtLogEnd(wal, nonZeroBytes(1_000, 3))
    const digest = digestDir(dir)

    const ro = await open(dir, { readOnly: true })
    expect(diffStore(ro, model)).toBe('')
    expect(ro.stats().recovery.replayedRecords).toBe(ops.length)
    expect(ro.stats().recovery.droppedBytes).toBe(1_000)
    failsWith(await rejection(ro.put(1, new Uint8Array(1))), 'READ_ONLY')
    expect(codeOf(await ro.checkpoint().then(() => 'resolved', (e: unknown) => e))).toBe('READ_ONLY')
    await ro.close()
    expect(digestDir(dir)).toEqual(digest)

    // A writable open afterwards replays the same log and cuts the tail.
    const rw = await open(dir)
    expect(diffStore(rw, model)).toBe('')
    expect(rw.stats().recovery.replayedRecords).toBe(ops.length)
    await rw.close()
  })

  it("durability 'none': a checkpoint that captured a write before its log group was written makes the log catch up first; kills after it lose nothing", async () => {
    const dir = tempDir()
    const wal = path.join(dir, 'wal')
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
    const a = seededBytes(10, 1)
    const b = seededBytes(10, 2)
    const c = seededBytes(10, 3)
    let faulty = await openFaulty(dir, { durability: 'none' })
    await faulty.db.put(1, a)
    await tick()
    await tick()
    expect(logRecords(wal)).toBe(1)
    // Under 'none' the write is applied at once; the checkpoint captures it before its log group is written.
    void faulty.db.put(2, b)
    await faulty.db.checkpoint()
    await killStore(faulty.db, faulty.ffs)
    // The checkpoint waited for the log to hold LSN 2 before its meta switch (docs/RECOVERY.md step
    // 5), so the previous checkpoint plus the log still covers everything this one holds.
    expect(logRecords(wal)).toBe(2)
    expect(segmentFiles(wal)).toEqual([segmentName(1)])

    faulty = await openFaulty(dir, { durability: 'none' })
    expect(diffStore(faulty.db, new Map([[1, a], [2, b]]))).toBe('')
    await faulty.db.put(3, c)
    await tick()
    await tick()
    await killStore(faulty.db, faulty.ffs)

    const outcome = await open(dir).then(
      async (db) => {
        const diff = diffStore(db, new Map([[1, a], [2, b], [3, c]]))
        await db.close()
        return diff === '' ? 'opened with the data' : `opened: ${diff}`
      },
      (e: unknown) => `open failed: ${codeOf(e)} ${(e as Error).message}`,
    )
    expect(outcome).toBe('opened with the data')
  })
})

// ------------------------------------------------------------------------------------------------

describe('recovery after a power loss (unsynced bytes and names dropped)', () => {
  it("fsync-acknowledged writes survive a power loss on an existing store, through segment rotation and checkpoints; unacknowledged ones may go", async () => {
    const dir = tempDir()
    await (await open(dir)).close() // the store and its wal directory exist, durably, before the test
    const options = { walSegmentBytes: 65_536, checkpointWalBytes: 131_072 }
    const { db, ffs } = await openFaulty(dir, options, true)
    const ops = makeOps(1_500, 60, { keys: 500, maxValue: 800 })
    await runWindowed(db, ops, 8)
    expect(db.stats().checkpoints).toBeGreaterThanOrEqual(1)
    const model = modelOf(ops)
    // Issued, not acknowledged: still in the group being formed when the power goes.
    const unacked = [db.put(100_000, new Uint8Array(10)), db.del(ops.length % 500)].map(rejection)
    await powerLoss(db, ffs)
    await Promise.all(unacked)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    await reopened.check()
    await reopened.close()
  })

  it('fsync-acknowledged writes to a newly created store survive a power loss (the new wal directory must be made durable)', async () => {
    const dir = tempDir()
    const { db, ffs } = await openFaulty(dir, {}, true)
    const model: Model = new Map()
    for (let k = 0; k < 10; k++) {
      const v = seededBytes(50, k)
      await db.put(k, v)
      model.set(k, v)
    }
    await powerLoss(db, ffs)
    expect(fs.existsSync(path.join(dir, 'wal')), 'the wal directory is still there after the power loss').toBe(true)
    const reopened = await open(dir)
    expect(diffStore(reopened, model)).toBe('')
    await reopened.close()
  })

  it('every I/O of creating a new store failing in turn (then a kill) leaves a directory that opens as an empty store', async () => {
    const fired: Record<string, number> = {}
    for (const op of ['open', 'write', 'truncate', 'sync', 'rename', 'syncDirectory'] as FaultOp[]) {
      fired[op] = 0
      for (let n = 0; n < 10; n++) {
        const dir = tempDir()
        const ffs = new FaultyFileSystem({ trackDurability: false })
        ffs.failNext({ op, code: 'EIO', after: n })
        const result = await rejection(openWithFileSystem(dir, {}, ffs).then((db) => db.close()))
        if (ffs.injected.length === 0) {
          expect(result, `${op} #${n}`).toBe('resolved')
          break
        }
        fired[op]++
        failsWith(result, 'IO')
        ffs.kill()
        const outcome = await open(dir).then(
          async (db) => {
            const state = `records ${db.stats().records}`
            await db.put(1, new Uint8Array([1]))
            await db.close()
            return state
          },
          (e: unknown) => `open failed: ${codeOf(e)} ${(e as Error).message}`,
        )
        expect(outcome, `${op} #${n} (${ffs.injected[0]!.path})`).toBe('records 0')
      }
    }
    for (const op of ['open', 'write', 'sync', 'rename', 'syncDirectory']) expect(fired[op], op).toBeGreaterThanOrEqual(1)
  })

})

