/**
 * The comparison workloads, each run the same way against any KvSystem.
 *
 * Rules kept here (../shared/BENCH.md): queries are drawn fresh for each repetition, warm-up is not
 * recorded, throughput is the median of the repetitions, latency percentiles come from an HDR
 * histogram of per-operation clock reads, and every answer is checked (a value carries its key), so
 * a system that returned wrong data would be counted, not timed.
 *
 * The process's device and syscall reads (/proc/self/io, io-meter.ts) are summed over the timed
 * repetitions only, with the operations done in them, so a result's `io` is per timed operation.
 *
 * Point gets are timed twice: throughput through each system's fastest batched read (`getMany`;
 * RocksDB's multi-get), latency in a separate pass of single `get` calls, so the clock reads do not
 * slow the throughput pass.
 */
import * as hdr from 'hdr-histogram-js'
import { collectGarbage, median } from '../measure.js'
import { Prng } from '../prng.js'
import { IoMeter } from './io-meter.js'
import { drawIndexes, Zipfian, type CompareKeySet, type QueryShape } from './plans.js'
import type { Durability, KvSystem, LatencySummary, WorkloadName, WorkloadResult } from './types.js'
import { makeValue } from './values.js'

export interface WorkloadSizes {
  /** Point gets per repetition. */
  gets: number
  /** Operations per repetition of the mixed workloads. */
  mixedOps: number
  /** 100-key scans per repetition. */
  scans: number
  /** Async clients in flight for mixed workloads and inserts. */
  clients: number
  /** Seconds each durable-writes level runs. */
  durableSeconds: number
}

export interface WorkloadContext {
  system: KvSystem
  keys: CompareKeySet
  seed: number
  repetitions: number
  valueBytes: number
  sizes: WorkloadSizes
  /** Called now and then with a short description of what is running. */
  progress: (label: string) => void
}

const SCAN_LIMIT = 100

/** Compares the first 8 bytes of `value` with `key` without allocating. */
class KeyCheck {
  private readonly scratch = new Float64Array(1)
  private readonly bytes = new Uint8Array(this.scratch.buffer)

  matches(key: number, value: Uint8Array): boolean {
    this.scratch[0] = key
    const bytes = this.bytes
    if (value.length < 8) return false
    for (let i = 0; i < 8; i++) if (value[i] !== bytes[i]) return false
    return true
  }
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 })
}

function summarize(histogram: hdr.Histogram): LatencySummary {
  const microseconds = (ns: number): number => ns / 1000
  return {
    p50: microseconds(histogram.getValueAtPercentile(50)),
    p99: microseconds(histogram.getValueAtPercentile(99)),
    p999: microseconds(histogram.getValueAtPercentile(99.9)),
    max: microseconds(histogram.maxValue),
    count: histogram.totalCount,
  }
}

function recordSince(histogram: hdr.Histogram, startMs: number): void {
  histogram.recordValue(Math.max(1, Math.round((performance.now() - startMs) * 1e6)))
}

/** Mean of the per-repetition cache hit rates a system reports (none when it cannot tell). */
class HitRates {
  private sum = 0
  private count = 0

  /** Reads the system's rate since its last reset. */
  take(system: KvSystem): void {
    const rate = system.cacheHitRate()
    if (rate === undefined) return
    this.sum += rate
    this.count++
  }

  /** Sets `result.hitRate` when any repetition reported one. */
  into(result: WorkloadResult): WorkloadResult {
    if (this.count > 0) result.hitRate = this.sum / this.count
    return result
  }
}

/** Runs `count` copies of `task` at once (async clients in flight) and waits for all of them. */
export async function runConcurrently(count: number, task: () => Promise<void>): Promise<void> {
  const running: Promise<void>[] = []
  for (let i = 0; i < count; i++) running.push(task())
  await Promise.all(running)
}

function seconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9
}

/** Bulk load in ascending key order, until durable. */
export async function runBulkLoad(ctx: WorkloadContext, chunkSize: number): Promise<WorkloadResult> {
  const { system, keys, valueBytes } = ctx
  const loaded = keys.loaded
  ctx.progress('bulk load')
  const io = new IoMeter()
  io.start()
  const start = process.hrtime.bigint()
  await system.bulkLoad(loaded, (index) => makeValue(loaded[index]!, 1, valueBytes), chunkSize)
  const elapsed = seconds(start)
  io.stop(loaded.length)
  const result: WorkloadResult = { workload: 'bulk-load', durability: 'fsync', perSecond: loaded.length / elapsed, unit: 'ops', samples: [loaded.length / elapsed], wrong: 0, extra: { seconds: elapsed } }
  return io.into(result)
}

/** Point gets, uniform or Zipfian over the loaded keys. */
export function runGets(ctx: WorkloadContext, shape: QueryShape, zipf: Zipfian | undefined): WorkloadResult {
  const { system, keys, sizes } = ctx
  const loaded = keys.loaded
  const keyCount = loaded.length
  const rng = new Prng(ctx.seed, `compare-gets:${shape}`)
  const check = new KeyCheck()
  let wrong = 0
  const queryKeys = new Float64Array(sizes.gets)
  let expected = 0
  const visit = (key: number, value: Uint8Array): void => {
    if (!check.matches(key, value)) wrong++
    expected++
  }
  const fill = (count: number): void => {
    const indexes = drawIndexes(shape, count, keyCount, rng, zipf)
    for (let i = 0; i < count; i++) queryKeys[i] = loaded[indexes[i]!]!
  }

  ctx.progress(`get ${shape}: warm-up`)
  const warmCount = Math.min(sizes.gets, 100_000)
  fill(warmCount)
  system.getMany(queryKeys, 0, warmCount, visit)

  const samples: number[] = []
  const hitRates = new HitRates()
  const io = new IoMeter()
  for (let rep = 0; rep < ctx.repetitions; rep++) {
    ctx.progress(`get ${shape}: repetition ${rep + 1}/${ctx.repetitions}`)
    fill(sizes.gets)
    collectGarbage()
    system.resetCounters()
    expected = 0
    io.start()
    const start = process.hrtime.bigint()
    const found = system.getMany(queryKeys, 0, sizes.gets, visit)
    const elapsed = seconds(start)
    io.stop(sizes.gets)
    hitRates.take(system)
    if (found !== sizes.gets || expected !== sizes.gets) wrong += sizes.gets - Math.min(found, expected)
    samples.push(sizes.gets / elapsed)
  }

  ctx.progress(`get ${shape}: latency pass`)
  const histogram = newHistogram()
  const latencyCount = Math.min(sizes.gets, 200_000)
  fill(latencyCount)
  for (let i = 0; i < latencyCount; i++) {
    const key = queryKeys[i]!
    const started = performance.now()
    const value = system.get(key)
    recordSince(histogram, started)
    if (value === undefined || !check.matches(key, value)) wrong++
  }
  const result: WorkloadResult = {
    workload: shape === 'uniform' ? 'get-uniform' : 'get-zipf',
    durability: 'none',
    perSecond: median(samples),
    unit: 'ops',
    samples,
    latency: summarize(histogram),
    wrong,
  }
  return io.into(hitRates.into(result))
}

/** 100-key range scans from uniformly drawn loaded keys; every entry is compared with the key set. */
export function runScans(ctx: WorkloadContext): WorkloadResult {
  const { system, keys, sizes } = ctx
  const loaded = keys.loaded
  const startSpan = Math.max(1, loaded.length - SCAN_LIMIT)
  const rng = new Prng(ctx.seed, 'compare-scans')
  const check = new KeyCheck()
  let wrong = 0
  let nextIndex = 0
  const visit = (key: number, value: Uint8Array): void => {
    if (key !== loaded[nextIndex] || !check.matches(key, value)) wrong++
    nextIndex++
  }
  const scanOnce = (startIndex: number): number => {
    nextIndex = startIndex
    const count = system.scan(loaded[startIndex]!, SCAN_LIMIT, visit)
    const expected = Math.min(SCAN_LIMIT, loaded.length - startIndex)
    if (count !== expected) wrong++
    return count
  }

  ctx.progress('scan: warm-up')
  for (let s = 0; s < Math.min(sizes.scans, 2000); s++) scanOnce(rng.nextBelow(startSpan))

  const samples: number[] = []
  const hitRates = new HitRates()
  const starts = new Uint32Array(sizes.scans)
  const io = new IoMeter()
  for (let rep = 0; rep < ctx.repetitions; rep++) {
    ctx.progress(`scan: repetition ${rep + 1}/${ctx.repetitions}`)
    for (let s = 0; s < sizes.scans; s++) starts[s] = rng.nextBelow(startSpan)
    collectGarbage()
    system.resetCounters()
    let entries = 0
    io.start()
    const start = process.hrtime.bigint()
    for (let s = 0; s < sizes.scans; s++) entries += scanOnce(starts[s]!)
    const elapsed = seconds(start)
    io.stop(sizes.scans)
    hitRates.take(system)
    samples.push(entries / elapsed)
  }

  ctx.progress('scan: latency pass')
  const histogram = newHistogram()
  const latencyCount = Math.min(sizes.scans, 20_000)
  for (let s = 0; s < latencyCount; s++) {
    const startIndex = rng.nextBelow(startSpan)
    const started = performance.now()
    scanOnce(startIndex)
    recordSince(histogram, started)
  }
  const result: WorkloadResult = { workload: 'scan-100', durability: 'none', perSecond: median(samples), unit: 'keys', samples, latency: summarize(histogram), wrong }
  return io.into(hitRates.into(result))
}

/**
 * Mixed reads and overwrites (YCSB B = 95/5, A = 50/50) over Zipfian keys, with `clients` async
 * clients in flight; writes at the system's durability. Values for the writes are made before the
 * clock starts.
 */
export async function runMixed(ctx: WorkloadContext, readPercent: number, zipf: Zipfian, durability: Durability): Promise<WorkloadResult> {
  const { system, keys, sizes, valueBytes } = ctx
  const loaded = keys.loaded
  const name: WorkloadName = readPercent >= 90 ? 'read-heavy' : 'write-heavy'
  const rng = new Prng(ctx.seed, `compare-mixed:${readPercent}`)
  const check = new KeyCheck()
  const histogram = newHistogram()
  const samples: number[] = []
  let wrong = 0
  const hitRates = new HitRates()
  const io = new IoMeter()
  const opCount = sizes.mixedOps
  for (let rep = 0; rep < ctx.repetitions; rep++) {
    ctx.progress(`${name}: repetition ${rep + 1}/${ctx.repetitions}`)
    const indexes = drawIndexes('zipf', opCount, loaded.length, rng, zipf)
    const writes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(opCount)
    for (let i = 0; i < opCount; i++) {
      if (rng.nextBelow(100) >= readPercent) writes[i] = makeValue(loaded[indexes[i]!]!, 100 + rep, valueBytes)
    }
    collectGarbage()
    system.resetCounters()
    let next = 0
    const client = async (): Promise<void> => {
      for (;;) {
        const op = next++
        if (op >= opCount) return
        const key = loaded[indexes[op]!]!
        const write = writes[op]
        const started = performance.now()
        if (write === undefined) {
          const value = system.get(key)
          recordSince(histogram, started)
          if (value === undefined || !check.matches(key, value)) wrong++
        } else {
          await system.put(key, write)
          recordSince(histogram, started)
        }
      }
    }
    io.start()
    const start = process.hrtime.bigint()
    await runConcurrently(sizes.clients, client)
    const elapsed = seconds(start)
    io.stop(opCount)
    hitRates.take(system)
    samples.push(opCount / elapsed)
  }
  const result: WorkloadResult = { workload: name, durability, perSecond: median(samples), unit: 'ops', samples, latency: summarize(histogram), wrong }
  return io.into(hitRates.into(result))
}

/** Inserts of the held-out keys in random order, `clients` in flight; one slice per repetition. */
export async function runInserts(ctx: WorkloadContext, durability: Durability): Promise<WorkloadResult> {
  const { system, keys, sizes, valueBytes } = ctx
  const held = keys.held
  const perRep = Math.floor(held.length / ctx.repetitions)
  const histogram = newHistogram()
  const samples: number[] = []
  const io = new IoMeter()
  for (let rep = 0; rep < ctx.repetitions; rep++) {
    ctx.progress(`insert: repetition ${rep + 1}/${ctx.repetitions}`)
    const base = rep * perRep
    const values: Uint8Array[] = []
    for (let i = 0; i < perRep; i++) values.push(makeValue(held[base + i]!, 1, valueBytes))
    collectGarbage()
    let next = 0
    const client = async (): Promise<void> => {
      for (;;) {
        const op = next++
        if (op >= perRep) return
        const started = performance.now()
        await system.put(held[base + op]!, values[op]!)
        recordSince(histogram, started)
      }
    }
    io.start()
    const start = process.hrtime.bigint()
    await runConcurrently(sizes.clients, client)
    samples.push(perRep / seconds(start))
    io.stop(perRep)
  }
  // Read every inserted key back (untimed).
  const check = new KeyCheck()
  let wrong = 0
  for (let i = 0; i < perRep * ctx.repetitions; i++) {
    const key = held[i]!
    const value = system.get(key)
    if (value === undefined || !check.matches(key, value)) wrong++
  }
  const result: WorkloadResult = { workload: 'insert-random', durability, perSecond: median(samples), unit: 'ops', samples, latency: summarize(histogram), wrong }
  return io.into(result)
}

/**
 * `writers` async writers, each awaiting one overwrite at a time, for `durableSeconds`; the system
 * was opened at 'fsync', so every acknowledgement is on stable storage.
 */
export async function runDurableWrites(ctx: WorkloadContext, writers: 1 | 16 | 256): Promise<WorkloadResult> {
  const { system, keys, sizes, valueBytes } = ctx
  const loaded = keys.loaded
  const rng = new Prng(ctx.seed, `compare-durable:${writers}`)
  const poolSize = 65_536
  const poolKeys = new Float64Array(poolSize)
  const poolValues: Uint8Array[] = []
  for (let i = 0; i < poolSize; i++) {
    poolKeys[i] = loaded[rng.nextBelow(loaded.length)]!
    poolValues.push(makeValue(poolKeys[i]!, 1000 + writers, valueBytes))
  }
  const name: WorkloadName = writers === 1 ? 'durable-1' : writers === 16 ? 'durable-16' : 'durable-256'
  ctx.progress(`${name}: ${sizes.durableSeconds} s`)
  const histogram = newHistogram()
  let acknowledged = 0
  let cursor = 0
  collectGarbage()
  const deadline = performance.now() + sizes.durableSeconds * 1000
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const slot = cursor++ & (poolSize - 1)
      const started = performance.now()
      await system.put(poolKeys[slot]!, poolValues[slot]!)
      recordSince(histogram, started)
      acknowledged++
    }
  }
  const io = new IoMeter()
  io.start()
  const start = process.hrtime.bigint()
  await runConcurrently(writers, writer)
  const elapsed = seconds(start)
  io.stop(acknowledged)
  return io.into<WorkloadResult>({
    workload: name,
    durability: 'fsync',
    perSecond: acknowledged / elapsed,
    unit: 'ops',
    samples: [acknowledged / elapsed],
    latency: summarize(histogram),
    wrong: 0,
    extra: { acknowledged, seconds: elapsed },
  })
}
