/**
 * Durable single writes: W async writers, each looping `await db.put(key, 16-byte value)`, on a fresh
 * store per run at one durability level. With group commit the writers' records share one log write
 * (and, at 'fsync', one fdatasync), so the rate should grow with W until the CPU is the limit.
 *
 * One run (fresh directory, store defaults but the durability level):
 *   1. warm-up: the same W writers for `warmupSeconds`, untimed (JIT, first segment file);
 *   2. timed:   W writers until `seconds` have passed; every put is timed from its call to its
 *               resolution; the rate is puts / (time the last writer finished - start);
 *               stats().wal groups and syncs are read before and after;
 *   3. checked: every key written in the run (warm-up too) is read back with its value, and the log's
 *               durable and applied LSNs must equal the last LSN (every resolved put is durable);
 *   4. close(), timed but reported apart (the final checkpoint).
 * Runs are interleaved: repetition by repetition, every level and writer count in turn. Each
 * repetition starts with the disk's own rate when 'fsync' is among the levels: one loop of a 64-byte
 * write and an fdatasync, for the same time, into a file preallocated with zeros (and synced) first,
 * as the log's segments are, so the sync flushes data and no size change (rawSyncRun). The
 * single-writer fsync rate should come close to it, and records/sync × it bounds the many-writer rate.
 */
import { closeSync, fdatasync, fsyncSync, openSync, writeSync } from 'node:fs'
import path from 'node:path'
import { collectGarbage, median, spreadPercent } from '../measure.js'
import type { DurableWriteResult, DurableWriteRun, DurableWrites, ProcessIoDelta, RawSyncResult } from './results.js'
import type { Durability, OpenStore } from './store-api.js'
import { describeError, makeDirectory, percentiles, processIo, removeDirectory, yieldToEventLoop } from './suite.js'
import { VALUE_BYTES, expectedChecksum, valueChecksum } from './values.js'
import { DURABLE_VERSION, makeShuffledKeys, makeValues } from './wal-plans.js'

export interface DurableSettings {
  levels: Durability[]
  writerCounts: number[]
  seconds: number
  warmupSeconds: number
  repetitions: number
  /** Keys drawn in advance; a run that writes them all stops early (and says so). */
  keyCap: number
  seed: number
}

export interface DurablePlan {
  keys: Float64Array
  values: Uint8Array
}

type Log = (line: string) => void

export function makeDurablePlan(settings: DurableSettings): DurablePlan {
  return {
    keys: makeShuffledKeys(settings.keyCap, settings.seed, 'durable'),
    values: makeValues(settings.keyCap, DURABLE_VERSION, settings.seed),
  }
}

/** Shared by the writers of one run: the next key index to write and when to stop. */
interface WriterState {
  next: number
  limit: number
  deadline: number
  /** Index of the first timed put; latencies[i - first] is put i's latency. */
  first: number
  latenciesUs: Float64Array | null
}

async function writer(db: { put(key: number, value: Uint8Array): Promise<void> }, plan: DurablePlan, state: WriterState): Promise<void> {
  const { keys, values } = plan
  for (;;) {
    const i = state.next
    if (i >= state.limit) return
    const start = performance.now()
    if (start >= state.deadline) return
    state.next = i + 1
    await db.put(keys[i]!, values.subarray(i * VALUE_BYTES, (i + 1) * VALUE_BYTES))
    const latencies = state.latenciesUs
    if (latencies !== null) latencies[i - state.first] = (performance.now() - start) * 1000
  }
}

async function runWriters(db: Parameters<typeof writer>[0], plan: DurablePlan, state: WriterState, writers: number): Promise<void> {
  const loops: Promise<void>[] = []
  for (let w = 0; w < writers; w++) loops.push(writer(db, plan, state))
  await Promise.all(loops)
}

interface RunOutcome {
  run: DurableWriteRun
  latenciesUs: Float64Array
  checked: number
  mismatches: number
  firstMismatch?: string
  hitCap: boolean
}

async function durableRun(open: OpenStore, plan: DurablePlan, settings: DurableSettings, durability: Durability, writers: number, repetition: number): Promise<RunOutcome> {
  const directory = makeDirectory()
  let db: Awaited<ReturnType<OpenStore>> | undefined
  try {
    db = await open(directory, { durability })
    const state: WriterState = { next: 0, limit: settings.keyCap, deadline: performance.now() + settings.warmupSeconds * 1000, first: 0, latenciesUs: null }
    await runWriters(db, plan, state, writers)
    await yieldToEventLoop()
    collectGarbage()

    const latencyBuffer = new Float64Array(settings.keyCap - state.next)
    state.first = state.next
    state.latenciesUs = latencyBuffer
    const before = db.stats()
    const ioBefore = processIo()
    const start = performance.now()
    state.deadline = start + settings.seconds * 1000
    await runWriters(db, plan, state, writers)
    const seconds = (performance.now() - start) / 1000
    const after = db.stats()
    const io = ioDelta(ioBefore, processIo())
    const puts = state.next - state.first
    const hitCap = state.next >= state.limit

    // Untimed checks: every resolved put is durable and applied, and reads back with its value.
    let mismatches = 0
    let firstMismatch: string | undefined
    const wal = after.wal
    if (wal.durableLsn !== wal.lastLsn || wal.appliedLsn !== wal.lastLsn) {
      mismatches++
      firstMismatch = `after every put resolved: lastLsn ${wal.lastLsn}, durableLsn ${wal.durableLsn}, appliedLsn ${wal.appliedLsn}`
    }
    if (after.records !== state.next) {
      mismatches++
      firstMismatch ??= `${after.records} records after ${state.next} puts of distinct keys`
    }
    for (let i = 0; i < state.next; i++) {
      const value = db.get(plan.keys[i]!)
      if (value === undefined || valueChecksum(value) !== expectedChecksum(i, DURABLE_VERSION, settings.seed >>> 0)) {
        mismatches++
        firstMismatch ??= `get(${plan.keys[i]}) returned ${value === undefined ? 'undefined' : 'a wrong value'} after its put resolved`
      }
    }
    const closeStart = performance.now()
    await db.close()
    db = undefined
    const closeMs = performance.now() - closeStart
    const run: DurableWriteRun = {
      repetition,
      puts,
      seconds,
      putsPerSecond: puts / seconds,
      groups: after.wal.groups - before.wal.groups,
      syncs: after.wal.syncs - before.wal.syncs,
      checkpoints: after.checkpoints - before.checkpoints,
      closeMs,
      ...(io === undefined ? {} : { io }),
    }
    const outcome: RunOutcome = { run, latenciesUs: latencyBuffer.subarray(0, puts), checked: state.next, mismatches, hitCap }
    if (firstMismatch !== undefined) outcome.firstMismatch = firstMismatch
    return outcome
  } finally {
    if (db !== undefined) await db.close().catch(() => undefined)
    removeDirectory(directory)
  }
}

function ioDelta(before: ProcessIoDelta | undefined, after: ProcessIoDelta | undefined): ProcessIoDelta | undefined {
  if (before === undefined || after === undefined) return undefined
  return {
    readBytes: after.readBytes - before.readBytes,
    writeBytes: after.writeBytes - before.writeBytes,
    readCalls: after.readCalls - before.readCalls,
    writeCalls: after.writeCalls - before.writeCalls,
  }
}

const RAW_SYNC_WRITE_BYTES = 64
/** The raw loop's file: zeros, synced before timing; writes wrap around inside it. */
const RAW_SYNC_FILE_BYTES = 4 << 20

/** The raw fdatasync loop: returns each iteration's latency in microseconds. */
async function rawSyncRun(seconds: number): Promise<Float64Array> {
  const directory = makeDirectory()
  const fd = openSync(path.join(directory, 'raw-sync.dat'), 'w')
  try {
    writeSync(fd, new Uint8Array(RAW_SYNC_FILE_BYTES), 0, RAW_SYNC_FILE_BYTES, 0)
    fsyncSync(fd)
    const bytes = new Uint8Array(RAW_SYNC_WRITE_BYTES).fill(0x5a)
    const latencies: number[] = []
    const deadline = performance.now() + seconds * 1000
    let position = 0
    for (;;) {
      const start = performance.now()
      if (start >= deadline) break
      writeSync(fd, bytes, 0, bytes.length, position)
      position = (position + bytes.length) % RAW_SYNC_FILE_BYTES
      await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error === null ? resolve() : reject(error))))
      latencies.push((performance.now() - start) * 1000)
    }
    return Float64Array.from(latencies)
  } finally {
    closeSync(fd)
    removeDirectory(directory)
  }
}

export async function runDurableWrites(open: OpenStore, plan: DurablePlan, settings: DurableSettings, log: Log): Promise<DurableWrites> {
  const results: DurableWriteResult[] = []
  const rawSamples: number[] = []
  const rawLatencies: Float64Array[] = []
  const latencies = new Map<DurableWriteResult, Float64Array[]>()
  for (const durability of settings.levels) {
    for (const writers of settings.writerCounts) {
      const result: DurableWriteResult = {
        durability,
        writers,
        samples: [],
        median: Number.NaN,
        spreadPercent: 0,
        puts: 0,
        groups: 0,
        syncs: 0,
        recordsPerGroup: Number.NaN,
        recordsPerSync: Number.NaN,
        latencyUs: { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN },
        runs: [],
        verification: { check: `durable puts, ${durability}, ${writers} writers: every put read back, durable and applied LSN = last LSN`, checked: 0, mismatches: 0 },
      }
      results.push(result)
      latencies.set(result, [])
    }
  }
  for (let r = 0; r < settings.repetitions; r++) {
    if (settings.levels.includes('fsync')) {
      await yieldToEventLoop()
      const latenciesUs = await rawSyncRun(settings.seconds)
      const seconds = latenciesUs.reduce((sum, us) => sum + us, 0) / 1e6
      rawSamples.push(latenciesUs.length / seconds)
      rawLatencies.push(latenciesUs)
      log(`  [rep ${r + 1}/${settings.repetitions}] raw disk: ${formatShort(latenciesUs.length / seconds)} write(${RAW_SYNC_WRITE_BYTES} B) + fdatasync per second, one after another`)
    }
    for (const result of results) {
      if (result.error !== undefined) continue
      await yieldToEventLoop()
      try {
        const outcome = await durableRun(open, plan, settings, result.durability, result.writers, r)
        result.runs.push(outcome.run)
        result.samples.push(outcome.run.putsPerSecond)
        latencies.get(result)!.push(Float64Array.from(outcome.latenciesUs))
        result.verification.checked += outcome.checked
        result.verification.mismatches += outcome.mismatches
        if (outcome.firstMismatch !== undefined) result.verification.firstMismatch ??= outcome.firstMismatch
        const run = outcome.run
        log(
          `  [rep ${r + 1}/${settings.repetitions}] ${result.durability.padEnd(5)} ${String(result.writers).padStart(3)} writers: ` +
            `${formatShort(run.putsPerSecond)} puts/s (${run.puts} puts in ${run.seconds.toFixed(2)} s), ${run.groups} groups, ${run.syncs} syncs` +
            `${run.syncs > 0 ? ` = ${(run.puts / run.syncs).toFixed(1)} records/sync` : ''}, close ${run.closeMs.toFixed(0)} ms` +
            `${outcome.hitCap ? ` — STOPPED AT THE KEY CAP (${settings.keyCap}); raise --durable-key-cap` : ''}` +
            `${outcome.mismatches > 0 ? ` — !! ${outcome.mismatches} WRONG: ${outcome.firstMismatch}` : ''}`,
        )
      } catch (error) {
        result.error = describeError(error)
        log(`  !! ${result.durability} ${result.writers} writers: ${result.error}`)
      }
    }
  }
  for (const result of results) {
    result.median = median(result.samples)
    result.spreadPercent = spreadPercent(result.samples)
    result.puts = result.runs.reduce((n, run) => n + run.puts, 0)
    result.groups = result.runs.reduce((n, run) => n + run.groups, 0)
    result.syncs = result.runs.reduce((n, run) => n + run.syncs, 0)
    result.recordsPerGroup = result.groups > 0 ? result.puts / result.groups : Number.NaN
    result.recordsPerSync = result.syncs > 0 ? result.puts / result.syncs : Number.NaN
    result.latencyUs = percentiles(concat(latencies.get(result)!))
  }
  if (rawSamples.length === 0) return { results }
  const rawSync: RawSyncResult = { samples: rawSamples, median: median(rawSamples), spreadPercent: spreadPercent(rawSamples), latencyUs: percentiles(concat(rawLatencies)) }
  return { rawSync, results }
}

function concat(parts: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, a) => n + a.length, 0))
  let offset = 0
  for (const part of parts) {
    all.set(part, offset)
    offset += part.length
  }
  return all
}

function formatShort(rate: number): string {
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M` : rate >= 1e3 ? `${(rate / 1e3).toFixed(1)}k` : rate.toFixed(0)
}
