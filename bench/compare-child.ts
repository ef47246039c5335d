/**
 * One system in one scenario, in a process of its own (forked by compare-bench), so that its peak
 * RSS is its own and no system runs on another's warmed heap. It rebuilds the key set and query
 * streams from the seed, runs the job's workloads in a fixed order, and sends one `result` message.
 *
 *   workloads:       warm-up load (untimed, scratch directory) -> bulk load (ascending keys, until
 *                    durable) -> close -> reopen (RocksDB flushes its
 *                    recovered memtable here, so reads hit its tables) -> bytes on disk -> gets (uniform,
 *                    Zipfian) -> scans -> read-heavy, write-heavy, random inserts at 'os' -> close ->
 *                    reopen at 'fsync' -> durable writes with 1, 16, 256 in flight -> close.
 *   load:            the first half of `workloads`, for the small-memory condition (run uncapped):
 *                    warm-up load -> bulk load -> close -> reopen -> bytes on disk -> close.
 *   measure:         the second half (run under the memory cap, after the store's pages were dropped
 *                    from the page cache): open what `load` left -> every workload of the job but
 *                    the bulk load -> bytes on disk -> close. Each finished workload is sent at once (`workload`),
 *                    so a child the OOM killer ends still has the results it finished.
 *   idle:            the runtime allowance of the memory cap: everything a measure child holds
 *                    before its first workload (the key set, the Zipfian generator, the system's code
 *                    and an empty store opened with the job's budget), then `idle` with its memory.
 *   recovery-write:  open at 'os' with a long log, write `recoveryRecords` records, report `ready`,
 *                    and wait to be killed (SIGKILL from the parent).
 *   recovery-open:   time the open of what recovery-write left, then check a sample of its records.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { collectGarbage } from './lib/measure.js'
import { Prng } from './lib/prng.js'
import type { KeySetName } from './lib/datasets.js'
import { makeCompareKeySet, Zipfian, type CompareKeySet } from './lib/compare/plans.js'
import { openSystem } from './lib/compare/systems/index.js'
import { NullSystem } from './lib/compare/systems/null.js'
import type { Durability, KvSystem, MemoryCondition, SystemConfig, SystemName, SystemRun, WorkloadName, WorkloadResult } from './lib/compare/types.js'
import { makeValue } from './lib/compare/values.js'
import { runFor } from './lib/compare/run.js'
import { runBulkLoad, runConcurrently, runDurableWrites, runGets, runInserts, runMixed, runScans, type WorkloadContext, type WorkloadSizes } from './lib/compare/workloads.js'

export interface ChildJob {
  mode: 'workloads' | 'load' | 'measure' | 'idle' | 'recovery-write' | 'recovery-open'
  system: SystemName
  variant?: 'per-write'
  dataset: KeySetName
  valueBytes: number
  keyCount: number
  insertCount: number
  memory: MemoryCondition
  memoryBytes: number
  directory: string
  seed: number
  repetitions: number
  workloads: WorkloadName[]
  sizes: WorkloadSizes
  recoveryRecords: number
  chunkSize: number
  /** Our page size (`--page-size`); absent = the engine's default. */
  pageSizeBytes?: number
}

export type ChildMessage =
  | { type: 'progress'; label: string }
  | { type: 'ready' }
  | { type: 'workload'; result: WorkloadResult; peakRssBytes: number }
  | { type: 'idle'; rssBytes: number; peakRssBytes: number }
  | { type: 'result'; run: SystemRun }
  | { type: 'error'; message: string }

function send(message: ChildMessage): void {
  process.send?.(message)
}

/** Opens the job's system on `directory` with the job's budget, memory condition and page size. */
function openIn(job: ChildJob, directory: string, durability: Durability): Promise<KvSystem> {
  const config: SystemConfig = { directory, memoryBytes: job.memoryBytes, durability, valueBytes: job.valueBytes, smallMemory: job.memory === 'small' }
  if (job.pageSizeBytes !== undefined) config.pageSizeBytes = job.pageSizeBytes
  return openSystem(job.system, config, job.variant)
}

async function openAt(job: ChildJob, durability: Durability): Promise<KvSystem> {
  return openIn(job, job.directory, durability)
}

function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024
}

function progress(label: string): void {
  send({ type: 'progress', label })
}

function warmUpSetting(): string {
  return `bulk load timed after an untimed warm-up load of every k-th key (at most ${WARM_UP_KEYS.toLocaleString('en-US')}, a quarter of the load) into a scratch directory`
}

/** What every phase of a workloads job starts from: the key set and, when a workload needs it, the Zipfian generator. */
interface Inputs {
  keys: CompareKeySet
  zipf: Zipfian | undefined
}

function makeInputs(job: ChildJob): Inputs {
  const wants = (name: WorkloadName): boolean => job.workloads.includes(name)
  progress('keys')
  const keys = makeCompareKeySet(job.dataset, job.keyCount, job.insertCount, job.seed)
  const zipf = wants('get-zipf') || wants('read-heavy') || wants('write-heavy') ? new Zipfian(job.keyCount) : undefined
  return { keys, zipf }
}

function contextOf(job: ChildJob, system: KvSystem, inputs: Inputs): WorkloadContext {
  return { system, keys: inputs.keys, seed: job.seed, repetitions: job.repetitions, valueBytes: job.valueBytes, sizes: job.sizes, progress }
}

/** Warm-up load, timed bulk load, close and reopen: the loaded store, open at 'os'. */
async function loadStore(job: ChildJob, inputs: Inputs): Promise<{ system: KvSystem; settings: string[]; load: WorkloadResult; diskBytes: number }> {
  mkdirSync(job.directory, { recursive: true })
  progress('bulk load: warm-up')
  await warmUpBulkLoad(job, inputs.keys.loaded)
  let system = await openAt(job, 'os')
  const settings = [...system.settings, warmUpSetting()]
  const load = await runBulkLoad(contextOf(job, system, inputs), job.chunkSize)
  progress('close and reopen')
  await system.close()
  const reopenStart = performance.now()
  system = await openAt(job, 'os')
  const reopenMs = performance.now() - reopenStart
  const diskBytes = system.diskBytes()
  load.extra = { ...load.extra, reopenMs, diskBytesAfterReopen: diskBytes }
  return { system, settings, load, diskBytes }
}

/**
 * Every workload of the job but the bulk load, on `system` (open at 'os'), in the fixed order; each
 * result is handed to `done` as it finishes. Returns the system last opened (the durable writes reopen it).
 */
async function runAfterLoad(job: ChildJob, system: KvSystem, inputs: Inputs, done: (result: WorkloadResult) => void): Promise<KvSystem> {
  const wants = (name: WorkloadName): boolean => job.workloads.includes(name)
  const { zipf } = inputs
  const context = (): WorkloadContext => contextOf(job, system, inputs)
  if (wants('get-uniform')) done(runGets(context(), 'uniform', undefined))
  if (wants('get-zipf')) done(runGets(context(), 'zipf', zipf))
  if (wants('scan-100')) done(runScans(context()))
  if (wants('read-heavy')) done(await runMixed(context(), 95, zipf!, 'os'))
  if (wants('write-heavy')) done(await runMixed(context(), 50, zipf!, 'os'))
  if (wants('insert-random')) done(await runInserts(context(), 'os'))
  const writers = ([1, 16, 256] as const).filter((count) => wants(`durable-${count}`))
  if (writers.length > 0) {
    progress('reopen at fsync')
    await system.close()
    system = await openAt(job, 'fsync')
    for (const count of writers) done(await runDurableWrites(context(), count))
  }
  return system
}

async function runWorkloads(job: ChildJob): Promise<SystemRun> {
  const inputs = makeInputs(job)
  const loaded = await loadStore(job, inputs)
  const results: WorkloadResult[] = [loaded.load]
  const system = await runAfterLoad(job, loaded.system, inputs, (result) => results.push(result))
  const finalDiskBytes = system.diskBytes()
  progress('close')
  await system.close()
  loaded.load.extra = { ...loaded.load.extra, diskBytesAtEnd: finalDiskBytes }
  return runFor(job, { settings: loaded.settings, results, diskBytes: loaded.diskBytes, peakRssBytes: peakRssBytes() })
}

/** The small-memory condition's first phase (uncapped): the load, ending with the store closed. */
async function runLoad(job: ChildJob): Promise<SystemRun> {
  const inputs = makeInputs(job)
  const loaded = await loadStore(job, inputs)
  progress('close')
  await loaded.system.close()
  return runFor(job, { settings: loaded.settings, results: [loaded.load], diskBytes: loaded.diskBytes, peakRssBytes: peakRssBytes() })
}

/** The small-memory condition's measured phase (capped): the workloads after the load, on what `load` left. */
async function runMeasure(job: ChildJob): Promise<SystemRun> {
  const inputs = makeInputs(job)
  progress('open')
  let system = await openAt(job, 'os')
  const results: WorkloadResult[] = []
  system = await runAfterLoad(job, system, inputs, (result) => {
    results.push(result)
    send({ type: 'workload', result, peakRssBytes: peakRssBytes() })
  })
  // The run's diskBytes is the store's size at the end (memory-cap.ts reports it as diskBytesAtEnd).
  const finalDiskBytes = system.diskBytes()
  progress('close')
  await system.close()
  return runFor(job, { settings: [...system.settings], results, diskBytes: finalDiskBytes, peakRssBytes: peakRssBytes() })
}

/**
 * The runtime a measure child needs besides its engine: the same inputs, the system's code and an
 * empty store opened with the job's budget in a scratch directory, and the measured workloads run
 * against a system that stores nothing (NullSystem), so that the benchmark's own working memory
 * (query arrays, histograms, values, V8's uncollected garbage) is in the peak: without it every
 * system was killed by a cap of 1.25x the idle peak at 10M keys (2026-12-05: anonymous memory at the
 * cap in LMDB's child too, whose engine memory is page cache). Then a full collection, a pause, and
 * its resident and peak resident bytes. The parent reads the group's peak after it exits.
 */
async function runIdle(job: ChildJob): Promise<void> {
  const inputs = makeInputs(job)
  const directory = `${job.directory}-idle`
  rmSync(directory, { recursive: true, force: true })
  mkdirSync(directory, { recursive: true })
  progress('idle: open an empty store')
  const system = await openIn(job, directory, 'os')
  try {
    system.get(inputs.keys.loaded[0] ?? 0)
    // The workloads that run after the load, without the durable ones (they reopen the real store).
    const exercised = { ...job, workloads: job.workloads.filter((name) => name !== 'bulk-load' && !name.startsWith('durable-')) }
    await runAfterLoad(exercised, new NullSystem(inputs.keys.loaded, job.valueBytes), inputs, () => {})
    collectGarbage()
    await new Promise((resolve) => setTimeout(resolve, 200))
    send({ type: 'idle', rssBytes: residentBytes(), peakRssBytes: peakRssBytes() })
  } finally {
    await system.close()
    rmSync(directory, { recursive: true, force: true })
  }
}

/** VmRSS from /proc/self/status (process.memoryUsage().rss elsewhere). */
function residentBytes(): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'latin1'))
    if (match !== null) return Number(match[1]) * 1024
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss
}

/** Keys in the untimed warm-up load: at most a quarter of the load. */
export const WARM_UP_KEYS = 250_000

/**
 * BENCH.md rule 1 (warm-up excluded), for the bulk load, which cannot be repeated on one store: the
 * same system first loads every k-th key (at most WARM_UP_KEYS, a quarter of the load) into a scratch
 * directory through the same call, untimed, then closes and deletes it. The timed load then runs on
 * compiled code, as the other workloads do after their warm-up passes: the JIT-compiled load loop and
 * index build for ours, the adapters' JavaScript for every system. Each system gets the same
 * warm-up in its own process.
 */
async function warmUpBulkLoad(job: ChildJob, loaded: Float64Array): Promise<void> {
  const count = Math.min(WARM_UP_KEYS, Math.floor(loaded.length / 4))
  if (count === 0) return
  const stride = Math.floor(loaded.length / count)
  const keys = new Float64Array(count)
  for (let i = 0; i < count; i++) keys[i] = loaded[i * stride]!
  const directory = `${job.directory}-warm-up`
  rmSync(directory, { recursive: true, force: true })
  mkdirSync(directory, { recursive: true })
  const system = await openIn(job, directory, 'os')
  try {
    await system.bulkLoad(keys, (index) => makeValue(keys[index]!, 1, job.valueBytes), job.chunkSize)
  } finally {
    await system.close()
    rmSync(directory, { recursive: true, force: true })
  }
}

/** Keys written by recovery-write: distinct, drawn from the seed, so recovery-open can check them. */
function recoveryKeys(job: ChildJob): Float64Array {
  const rng = new Prng(job.seed, 'compare-recovery')
  const keys = new Float64Array(job.recoveryRecords)
  for (let i = 0; i < keys.length; i++) keys[i] = i * 1024 + rng.nextBelow(1024)
  return keys
}

async function recoveryWrite(job: ChildJob): Promise<void> {
  mkdirSync(job.directory, { recursive: true })
  const system = await openAt(job, 'os')
  const keys = recoveryKeys(job)
  let next = 0
  const writer = async (): Promise<void> => {
    for (;;) {
      const index = next++
      if (index >= keys.length) return
      await system.put(keys[index]!, makeValue(keys[index]!, 7, job.valueBytes))
    }
  }
  await runConcurrently(256, writer)
  send({ type: 'ready' })
  // Wait for SIGKILL; never close.
  await new Promise(() => setInterval(() => undefined, 1 << 30))
}

async function recoveryOpen(job: ChildJob): Promise<SystemRun> {
  const start = performance.now()
  const system = await openAt(job, 'os')
  const openSeconds = (performance.now() - start) / 1000
  const keys = recoveryKeys(job)
  const rng = new Prng(job.seed, 'compare-recovery-check')
  let wrong = 0
  const checks = Math.min(keys.length, 100_000)
  const expectedKey = new Float64Array(1)
  const expectedBytes = new Uint8Array(expectedKey.buffer)
  for (let i = 0; i < checks; i++) {
    const key = keys[rng.nextBelow(keys.length)]!
    const value = system.get(key)
    expectedKey[0] = key
    let same = value !== undefined && value.length === job.valueBytes
    for (let b = 0; same && b < 8; b++) if (value![b] !== expectedBytes[b]) same = false
    if (!same) wrong++
  }
  const diskBytes = system.diskBytes()
  await system.close()
  const result: WorkloadResult = {
    workload: 'recovery',
    durability: 'os',
    perSecond: keys.length / openSeconds,
    unit: 'records',
    samples: [keys.length / openSeconds],
    wrong,
    extra: { openSeconds, records: keys.length, checked: checks },
  }
  return runFor({ ...job, dataset: 'recovery', keyCount: keys.length }, { settings: [], results: [result], diskBytes, peakRssBytes: peakRssBytes() })
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as ChildJob
  if (job.mode === 'recovery-write') return recoveryWrite(job)
  if (job.mode === 'idle') {
    await runIdle(job)
    process.disconnect?.()
    return
  }
  const run =
    job.mode === 'workloads' ? await runWorkloads(job) : job.mode === 'load' ? await runLoad(job) : job.mode === 'measure' ? await runMeasure(job) : await recoveryOpen(job)
  send({ type: 'result', run })
  process.disconnect?.()
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
  process.exitCode = 1
  process.disconnect?.()
})
