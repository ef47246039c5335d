/**
 * One store-benchmark suite per (page size, cache setting), each in a fresh temporary directory:
 *
 *   1. bulk load   open an empty store, batch() every loaded key in chunks, close() (the checkpoint);
 *                  timed from the first batch to the end of close.
 *   2. reopen      open() after close, `repetitions` times (each but the last closed again, untimed).
 *   3. verify      untimed: one full range() checks every key and value byte; held-out keys are absent.
 *   4. reads       a warm-up (gets and scans, not recorded), then `repetitions` rounds of random gets
 *                  and 100-key range scans, alternating which goes first; each round draws its own
 *                  queries (never replayed). Then one pass timing each get on its own clock reads.
 *   5. puts        await put() one at a time: overwrites of distinct loaded keys plus the held-out keys;
 *                  then every written key is read back (untimed), and close() is timed.
 *   6. reopen      open() after the puts, then a full range() checks every key has its newest value.
 *
 * The OS page cache is not dropped (that needs root): page misses of the buffer pool are preads that
 * the kernel most likely serves from memory, so the small-cache rows measure the engine's miss path,
 * not the disk.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { collectGarbage, heldBytes, median, spreadPercent } from '../measure.js'
import { Prng } from '../prng.js'
import { timeGetLatencies, timeGets, timePuts, timeScans, verifyAbsent, verifyContents, verifyPuts, type Verification } from './phases.js'
import {
  PUT_VERSION,
  makeGetPlan,
  makeLoadChunks,
  makePutPlan,
  makeScanPlan,
  makeStoreKeySet,
  type BatchOp,
  type GetPlan,
  type LoadOrder,
  type PutPlan,
  type ScanPlan,
  type StoreKeySet,
} from './plans.js'
import type {
  CacheRunResult,
  Percentiles,
  PhaseName,
  PhaseResult,
  PoolDelta,
  ProcessIoDelta,
  StoreShape,
  VerificationResult,
} from './results.js'
import type { BenchOpenOptions, BenchStore, Durability, OpenStore } from './store-api.js'

/** Raw size of one record: an 8-byte key and a 16-byte value. */
export const RAW_RECORD_BYTES = 24

export interface SuiteSettings {
  keyCount: number
  seed: number
  durability: Durability
  repetitions: number
  batchSize: number
  loadOrder: LoadOrder
  getCount: number
  getWarmupCount: number
  getLatencyCount: number
  scanCount: number
  scanWarmupCount: number
  scanLimit: number
  putOverwriteCount: number
  putNewCount: number
}

export interface SuitePlans {
  keySet: StoreKeySet
  loadChunks: BatchOp[][]
  getWarmup: GetPlan
  getRounds: GetPlan[]
  getLatency: GetPlan
  scanWarmup: ScanPlan
  scanRounds: ScanPlan[]
  putPlan: PutPlan
}

type Log = (line: string) => void

/** Every plan of a run, drawn once and shared by all page sizes and cache settings. */
export function makeSuitePlans(settings: SuiteSettings): SuitePlans {
  const { keyCount, seed, repetitions } = settings
  const keySet = makeStoreKeySet(keyCount, settings.putNewCount, seed)
  const rng = (purpose: string) => new Prng(seed, `store:${purpose}:${keyCount}`)
  const getRounds: GetPlan[] = []
  const scanRounds: ScanPlan[] = []
  for (let r = 0; r < repetitions; r++) {
    getRounds.push(makeGetPlan(keySet, settings.getCount, rng(`gets:${r}`)))
    scanRounds.push(makeScanPlan(keySet, settings.scanCount, settings.scanLimit, rng(`scans:${r}`)))
  }
  return {
    keySet,
    loadChunks: makeLoadChunks(keySet, settings.batchSize, settings.loadOrder, seed),
    getWarmup: makeGetPlan(keySet, settings.getWarmupCount, rng('gets:warmup')),
    getRounds,
    getLatency: makeGetPlan(keySet, settings.getLatencyCount, rng('gets:latency')),
    scanWarmup: makeScanPlan(keySet, settings.scanWarmupCount, settings.scanLimit, rng('scans:warmup')),
    scanRounds,
    putPlan: makePutPlan(keySet, settings.putOverwriteCount, rng('puts')),
  }
}

// ---- temporary directories ------------------------------------------------------------------------

const liveDirectories = new Set<string>()

export function makeDirectory(): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'learned-storage-bench-'))
  liveDirectories.add(directory)
  return directory
}

export function removeDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true })
  liveDirectories.delete(directory)
}

/**
 * Lets the event loop run (outside timed regions). The store's async methods finish without real
 * asynchronous I/O, so without this a whole run is one macrotask and a SIGINT handler would only run
 * at its end.
 */
export async function yieldToEventLoop(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Removes every directory a suite still holds (for an interrupted run). */
export function removeLiveDirectories(): void {
  for (const directory of [...liveDirectories]) removeDirectory(directory)
}

export function directoryBytes(directory: string): { sizeBytes: number; allocatedBytes: number } {
  let sizeBytes = 0
  let allocatedBytes = 0
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const stat = statSync(path.join(entry.parentPath, entry.name))
    sizeBytes += stat.size
    allocatedBytes += stat.blocks * 512
  }
  return { sizeBytes, allocatedBytes }
}

// ---- the warm-up load: sizes the caches and warms the JIT --------------------------------------------

export interface WarmupLoad {
  dataBytes: number
  pageSizeBytes: number
  records: number
  loadSeconds: number
}

/**
 * Untimed: loads the whole key set once with a generous cache, so the caches of the timed runs are
 * sized against the real bytes on disk and the first timed load does not pay for JIT compilation.
 */
export async function warmupLoad(open: OpenStore, plans: SuitePlans, settings: SuiteSettings, pageSizeBytes: number | undefined): Promise<WarmupLoad> {
  const directory = makeDirectory()
  try {
    const options = openOptions(settings, pageSizeBytes, 4 * settings.keyCount * RAW_RECORD_BYTES)
    const start = process.hrtime.bigint()
    let db = await open(directory, options)
    for (const chunk of plans.loadChunks) await db.batch(chunk)
    await db.close()
    const loadSeconds = Number(process.hrtime.bigint() - start) / 1e9
    await yieldToEventLoop()
    db = await open(directory, options)
    const stats = db.stats()
    await db.close()
    return { dataBytes: stats.bytesOnDisk, pageSizeBytes: stats.pageSizeBytes, records: stats.records, loadSeconds }
  } finally {
    removeDirectory(directory)
  }
}

function openOptions(settings: SuiteSettings, pageSizeBytes: number | undefined, cacheBytes: number): BenchOpenOptions {
  return pageSizeBytes === undefined
    ? { cacheBytes, durability: settings.durability }
    : { pageSizeBytes, cacheBytes, durability: settings.durability }
}

// ---- one suite ---------------------------------------------------------------------------------------

export interface CacheSetting {
  label: string
  cacheBytes: number
  dataBytes: number
}

interface RunContext {
  open: OpenStore
  plans: SuitePlans
  settings: SuiteSettings
  options: BenchOpenOptions
  directory: string
  result: CacheRunResult
  log: Log
  db: BenchStore | undefined
}

export async function runCacheSetting(
  open: OpenStore,
  plans: SuitePlans,
  settings: SuiteSettings,
  pageSizeBytes: number | undefined,
  cache: CacheSetting,
  log: Log,
): Promise<CacheRunResult> {
  const result: CacheRunResult = {
    ...(pageSizeBytes === undefined ? {} : { requestedPageSizeBytes: pageSizeBytes }),
    cacheSetting: cache.label,
    cacheBytes: cache.cacheBytes,
    dataBytes: cache.dataBytes,
    phases: [],
    verifications: [],
  }
  const context: RunContext = {
    open,
    plans,
    settings,
    options: openOptions(settings, pageSizeBytes, cache.cacheBytes),
    directory: makeDirectory(),
    result,
    log,
    db: undefined,
  }
  try {
    await bulkLoad(context)
    await yieldToEventLoop()
    await reopen(context, 'reopen', settings.repetitions)
    const db = context.db!
    result.pageSizeBytes = db.stats().pageSizeBytes
    result.afterLoad = shapeOf(db, context.directory)
    check(context, 'full scan after load', () => verifyContents(db, plans.keySet, plans.keySet.loadedMask, new Uint8Array(plans.keySet.allKeys.length)))
    check(context, 'held-out keys absent', () => verifyAbsent(db, plans.keySet))
    await readRounds(context)
    getLatencyPass(context)
    await yieldToEventLoop()
    await putPhase(context)
  } catch (error) {
    result.error = describeError(error)
    log(`  !! ${cache.label}: ${result.error}`)
  } finally {
    if (context.db !== undefined) await context.db.close().catch(() => undefined)
    removeDirectory(context.directory)
  }
  return result
}

async function bulkLoad(context: RunContext): Promise<void> {
  const { open, plans, settings, directory, options, log } = context
  const db = await open(directory, options)
  context.db = db
  const poolBefore = poolSnapshot(db)
  collectGarbage()
  const ioBefore = processIo()
  const start = process.hrtime.bigint()
  for (const chunk of plans.loadChunks) await db.batch(chunk)
  const closeStart = process.hrtime.bigint()
  const poolAfter = poolSnapshot(db)
  await db.close()
  context.db = undefined
  const end = process.hrtime.bigint()
  const seconds = Number(end - start) / 1e9
  const closeSeconds = Number(end - closeStart) / 1e9
  const phase = phaseOf('bulk load', 'keys/s', settings.keyCount, [settings.keyCount / seconds])
  phase.pool = poolDelta(poolBefore, poolAfter)
  addIo(phase, ioBefore)
  phase.extra = { seconds, closeSeconds, batchSize: settings.batchSize }
  context.result.phases.push(phase)
  log(`  bulk load: ${(seconds).toFixed(2)} s (close ${(closeSeconds * 1000).toFixed(0)} ms)`)
}

/** Times open() `times` times; every open but the last is closed again (untimed); the last stays open. */
async function reopen(context: RunContext, phaseName: PhaseName, times: number): Promise<void> {
  const samplesMs: number[] = []
  const closeMs: number[] = []
  const ioBefore = processIo()
  // The baseline is taken before the first open: a store closed inside the loop can stay reachable
  // from this async frame until the next open overwrites it, which would hide the open store's bytes.
  collectGarbage()
  const heldBeforeBytes = heldBytes()
  let heldAfterOpenBytes = 0
  for (let r = 0; r < times; r++) {
    collectGarbage()
    const start = performance.now()
    const db = await context.open(context.directory, context.options)
    samplesMs.push(performance.now() - start)
    if (r === times - 1) {
      context.db = db
      collectGarbage()
      heldAfterOpenBytes = heldBytes() - heldBeforeBytes
    } else {
      const closeStart = performance.now()
      await db.close()
      closeMs.push(performance.now() - closeStart)
    }
  }
  const phase = phaseOf(phaseName, 'ms', 1, samplesMs)
  addIo(phase, ioBefore)
  phase.extra = { heldAfterOpenBytes, ...(closeMs.length > 0 ? { idleCloseMsMedian: median(closeMs) } : {}) }
  context.result.phases.push(phase)
}

/** Warm-up, then `repetitions` rounds of gets and scans; odd rounds run the scans first. */
async function readRounds(context: RunContext): Promise<void> {
  const { plans, settings, log } = context
  const db = context.db!
  const warmGets = timeGets(db, plans.getWarmup, plans.getWarmup.keys.length)
  noteMismatches(context, 'gets (warm-up)', plans.getWarmup.keys.length, warmGets)
  const warmScans = timeScans(db, plans.keySet, plans.scanWarmup.startIndexes, plans.scanWarmup.startIndexes.length, settings.scanLimit)
  noteMismatches(context, 'range scans (warm-up)', warmScans.keys, warmScans)

  const getRates: number[] = []
  const scanRates: number[] = []
  const scanLatencies: Float64Array[] = []
  let getPool = emptyPool()
  let scanPool = emptyPool()
  let getChecked = 0
  let scanChecked = 0
  const getVerification: Verification = { checked: 0, mismatches: 0 }
  const scanVerification: Verification = { checked: 0, mismatches: 0 }
  for (let r = 0; r < settings.repetitions; r++) {
    const order = r % 2 === 0 ? (['get', 'scan'] as const) : (['scan', 'get'] as const)
    for (const which of order) {
      await yieldToEventLoop()
      collectGarbage()
      const before = poolSnapshot(db)
      if (which === 'get') {
        const plan = plans.getRounds[r]!
        const timed = timeGets(db, plan, plan.keys.length)
        getRates.push(plan.keys.length / timed.seconds)
        getChecked += plan.keys.length
        mergeVerification(getVerification, timed)
        getPool = addPool(getPool, poolDelta(before, poolSnapshot(db)))
      } else {
        const plan = plans.scanRounds[r]!
        const timed = timeScans(db, plans.keySet, plan.startIndexes, plan.startIndexes.length, plan.limit)
        scanRates.push(timed.keys / timed.seconds)
        scanChecked += timed.keys
        scanLatencies.push(timed.latenciesUs)
        mergeVerification(scanVerification, timed)
        scanPool = addPool(scanPool, poolDelta(before, poolSnapshot(db)))
      }
    }
  }
  const gets = phaseOf('random get', 'ops/s', settings.getCount, getRates)
  gets.pool = getPool
  const scans = phaseOf('range scan', 'keys/s', settings.scanCount * settings.scanLimit, scanRates)
  scans.pool = scanPool
  scans.latencyUs = percentiles(concat(scanLatencies))
  scans.extra = { scanLimit: settings.scanLimit, scansPerSecondMedian: scans.median / settings.scanLimit }
  context.result.phases.push(gets, scans)
  check(context, 'every timed get', () => ({ ...getVerification, checked: getChecked }))
  check(context, 'every timed scan entry', () => ({ ...scanVerification, checked: scanChecked }))
  log(`  random get ${formatShort(gets.median)} ops/s, range scan ${formatShort(scans.median)} keys/s (medians of ${settings.repetitions})`)
}

function getLatencyPass(context: RunContext): void {
  const db = context.db!
  const plan = context.plans.getLatency
  collectGarbage()
  const before = poolSnapshot(db)
  const timed = timeGetLatencies(db, plan, plan.keys.length)
  const phase = phaseOf('get latency', 'ops/s', plan.keys.length, [])
  phase.pool = poolDelta(before, poolSnapshot(db))
  phase.latencyUs = percentiles(timed.latenciesUs)
  context.result.phases.push(phase)
  check(context, 'every get of the latency pass', () => ({ checked: plan.keys.length, mismatches: timed.mismatches }))
}

async function putPhase(context: RunContext): Promise<void> {
  const { plans, result, log } = context
  const db = context.db!
  const plan = plans.putPlan
  const count = plan.keys.length
  collectGarbage()
  const before = poolSnapshot(db)
  const ioBefore = processIo()
  const timed = await timePuts(db, plan)
  const puts = phaseOf('random put', 'ops/s', count, [count / timed.seconds])
  puts.pool = poolDelta(before, poolSnapshot(db))
  addIo(puts, ioBefore)
  puts.latencyUs = percentiles(timed.latenciesUs)
  check(context, 'get of every put key, before close', () => verifyPuts(db, plans.keySet, plan, PUT_VERSION))

  const closeIoBefore = processIo()
  const closeStart = performance.now()
  await db.close()
  context.db = undefined
  const closeMs = performance.now() - closeStart
  const close = phaseOf('close after puts', 'ms', 1, [closeMs])
  addIo(close, closeIoBefore)
  puts.extra = {
    overwrites: plan.overwriteCount,
    newKeys: plan.newCount,
    seconds: timed.seconds,
    opsPerSecondIncludingClose: count / (timed.seconds + closeMs / 1000),
  }
  result.phases.push(puts, close)

  await reopen(context, 'reopen after puts', 1)
  const reopened = context.db!
  result.afterPuts = shapeOf(reopened, context.directory)
  const versions = new Uint8Array(plans.keySet.allKeys.length)
  for (const index of plan.indexes) versions[index] = PUT_VERSION
  check(context, 'full scan after puts and reopen', () => verifyContents(reopened, plans.keySet, new Uint8Array(versions.length).fill(1), versions))
  await reopened.close()
  context.db = undefined
  log(`  random put ${formatShort(puts.median)} ops/s, close ${closeMs.toFixed(0)} ms`)
}

// ---- figures ------------------------------------------------------------------------------------------

function phaseOf(phase: PhaseName, unit: PhaseResult['unit'], opsPerRepetition: number, samples: number[]): PhaseResult {
  return { phase, unit, opsPerRepetition, samples, median: median(samples), spreadPercent: spreadPercent(samples) }
}

function shapeOf(db: BenchStore, directory: string): StoreShape {
  const stats = db.stats()
  const files = directoryBytes(directory)
  return {
    records: stats.records,
    bytesOnDisk: stats.bytesOnDisk,
    directoryBytes: files.sizeBytes,
    directoryAllocatedBytes: files.allocatedBytes,
    spaceAmplification: stats.bytesOnDisk / (stats.records * RAW_RECORD_BYTES),
    pages: stats.pages,
  }
}

function poolSnapshot(db: BenchStore): PoolDelta {
  const p = db.stats().bufferPool
  return {
    hits: p.hits,
    misses: p.misses,
    evictions: p.evictions,
    pagesRead: p.pagesRead,
    bytesRead: p.bytesRead,
    pagesWritten: p.pagesWritten,
    bytesWritten: p.bytesWritten,
    writeCalls: p.writeCalls,
  }
}

function emptyPool(): PoolDelta {
  return { hits: 0, misses: 0, evictions: 0, pagesRead: 0, bytesRead: 0, pagesWritten: 0, bytesWritten: 0, writeCalls: 0 }
}

function poolDelta(before: PoolDelta, after: PoolDelta): PoolDelta {
  const delta = emptyPool()
  for (const field of Object.keys(delta) as (keyof PoolDelta)[]) delta[field] = after[field] - before[field]
  return delta
}

function addPool(a: PoolDelta, b: PoolDelta): PoolDelta {
  const sum = emptyPool()
  for (const field of Object.keys(sum) as (keyof PoolDelta)[]) sum[field] = a[field] + b[field]
  return sum
}

/** /proc/self/io (Linux); undefined elsewhere. */
export function processIo(): ProcessIoDelta | undefined {
  let text: string
  try {
    text = readFileSync('/proc/self/io', 'utf8')
  } catch {
    return undefined
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
  return { readBytes: field('rchar'), writeBytes: field('wchar'), readCalls: field('syscr'), writeCalls: field('syscw') }
}

function addIo(phase: PhaseResult, before: ProcessIoDelta | undefined): void {
  const after = processIo()
  if (before === undefined || after === undefined) return
  phase.io = {
    readBytes: after.readBytes - before.readBytes,
    writeBytes: after.writeBytes - before.writeBytes,
    readCalls: after.readCalls - before.readCalls,
    writeCalls: after.writeCalls - before.writeCalls,
  }
}

export function percentiles(samples: Float64Array): Percentiles {
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!)
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! }
}

function concat(arrays: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0))
  let offset = 0
  for (const a of arrays) {
    out.set(a, offset)
    offset += a.length
  }
  return out
}

// ---- verification bookkeeping ----------------------------------------------------------------------

function check(context: RunContext, name: string, run: () => Verification): void {
  const verification = run()
  const entry: VerificationResult = { check: name, checked: verification.checked, mismatches: verification.mismatches }
  if (verification.firstMismatch !== undefined) entry.firstMismatch = verification.firstMismatch
  context.result.verifications.push(entry)
  if (verification.mismatches > 0) context.log(`  !! ${name}: ${verification.mismatches} mismatches; first: ${verification.firstMismatch}`)
}

function noteMismatches(context: RunContext, name: string, checked: number, timed: { mismatches: number; firstMismatch?: string }): void {
  check(context, name, () => (timed.firstMismatch === undefined ? { checked, mismatches: timed.mismatches } : { checked, mismatches: timed.mismatches, firstMismatch: timed.firstMismatch }))
}

function mergeVerification(into: Verification, timed: { mismatches: number; firstMismatch?: string }): void {
  into.mismatches += timed.mismatches
  if (into.firstMismatch === undefined && timed.firstMismatch !== undefined) into.firstMismatch = timed.firstMismatch
}

function formatShort(rate: number): string {
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M` : `${(rate / 1e3).toFixed(1)}k`
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}${'code' in error ? ` (${String(error.code)})` : ''}` : String(error)
}
