/**
 * Store benchmark: the store behind `open()` (package self-reference, like index-bench). Three groups
 * of phases, chosen with --phases (default all, in this order):
 *
 *   suite     one key set of uniform random integer keys with 16-byte values, once per page size ×
 *             cache setting: bulk load, reopen, random gets, range scans, random puts (lib/store/suite.ts)
 *   durable   durable single writes: 1, 16 and 256 writers looping `await put()` at 'fsync' and 'os'
 *             on fresh stores; puts/s, log writes and syncs, records per sync (lib/store/durable.ts)
 *   recovery  a child process writes 1M single puts at 'os' with no checkpoint, is SIGKILLed, and
 *             open() is timed replaying the log (lib/store/recovery.ts, store-wal-child.ts)
 *
 *   npm run bench:store                          all phases: 1,000,000 keys; caches "big" (4x the data) and 10%
 *   npm run bench:store -- --quick               a smoke run: 200,000 keys, shorter durable runs, 200,000 records
 *   npm run bench:store -- --phases durable,recovery   only the write-ahead-log phases
 *
 * Options: --quick, --phases suite,durable,recovery, --repetitions N (default 3), --seed N, --out FILE;
 *   suite:    --keys N, --page-sizes 4096,16384,65536 (default: the store's default),
 *             --cache-fractions big,0.1 (big = 4x the data; a number is a fraction of the data),
 *             --durability none|os|fsync (default none), --batch-size N (default 10000),
 *             --load-order random|sorted (default random);
 *   durable:  --durable-levels fsync,os, --durable-writers 1,16,256, --durable-seconds S (default 2;
 *             quick 0.5) per timed run, after an untimed warm-up of a sixth of that, --durable-key-cap N;
 *   recovery: --recovery-records N (default 1,000,000; quick 200,000), --recovery-writers N (default 256).
 *
 * "The data" is stats().bytesOnDisk after an untimed warm-up load of the same key set at the same page
 * size. Every get and every scanned entry is checked against the truth, every durable put is read back,
 * the recovered store is checked entry by entry; the run exits 1 on any mismatch or failure. Results go
 * to bench/results/store-<timestamp>.json.
 */
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { canCollectGarbage, collectGarbage } from './lib/measure.js'
import { formatBytes, formatCount } from './lib/report.js'
import { makeDurablePlan, runDurableWrites, type DurableSettings } from './lib/store/durable.js'
import type { LoadOrder } from './lib/store/plans.js'
import { runRecovery, type RecoverySettings } from './lib/store/recovery.js'
import {
  WAL_TARGETS,
  evaluateTargets,
  evaluateWalTargets,
  formatDurableWrites,
  formatPageSize,
  formatRecovery,
  formatTargets,
  formatWalTargets,
} from './lib/store/report.js'
import type { CacheRunResult, DurableWrites, RecoveryResult } from './lib/store/results.js'
import { openStore, type Durability } from './lib/store/store-api.js'
import {
  RAW_RECORD_BYTES,
  describeError,
  makeSuitePlans,
  removeLiveDirectories,
  runCacheSetting,
  warmupLoad,
  type SuiteSettings,
  type WarmupLoad,
} from './lib/store/suite.js'
import { VALUE_BYTES } from './lib/store/values.js'

const TARGET_KEY_COUNT = 1_000_000
const QUICK_KEY_COUNT = 200_000
const SCAN_LIMIT = 100
const BIG_CACHE_FACTOR = 4

const PHASE_GROUPS = ['suite', 'durable', 'recovery'] as const
type PhaseGroup = (typeof PHASE_GROUPS)[number]

const DURABLE_SECONDS = 2
const QUICK_DURABLE_SECONDS = 0.5
const DURABLE_KEY_CAP = 3_000_000
const QUICK_DURABLE_KEY_CAP = 1_000_000
const QUICK_RECOVERY_RECORDS = 200_000
const RECOVERY_SAMPLE = 10_000

interface BenchConfig {
  quick: boolean
  phases: Set<PhaseGroup>
  keyCount: number
  pageSizes: (number | undefined)[]
  cacheSettings: string[]
  settings: SuiteSettings
  durable: DurableSettings
  recovery: RecoverySettings
  outPath: string
}

function parseConfig(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      keys: { type: 'string' },
      'page-sizes': { type: 'string' },
      'cache-fractions': { type: 'string', default: 'big,0.1' },
      durability: { type: 'string', default: 'none' },
      repetitions: { type: 'string', default: '3' },
      seed: { type: 'string', default: '20240601' },
      'batch-size': { type: 'string', default: '10000' },
      'load-order': { type: 'string', default: 'random' },
      phases: { type: 'string', default: PHASE_GROUPS.join(',') },
      'durable-levels': { type: 'string', default: 'fsync,os' },
      'durable-writers': { type: 'string', default: '1,16,256' },
      'durable-seconds': { type: 'string' },
      'durable-key-cap': { type: 'string' },
      'recovery-records': { type: 'string' },
      'recovery-writers': { type: 'string', default: '256' },
      out: { type: 'string' },
    },
    strict: true,
  })
  const quick = values.quick === true
  const keyCount = values.keys !== undefined ? parseCount(values.keys) : quick ? QUICK_KEY_COUNT : TARGET_KEY_COUNT
  if (keyCount < 2 * SCAN_LIMIT) throw new Error(`--keys must be at least ${2 * SCAN_LIMIT}`)
  const pageSizes = values['page-sizes'] === undefined ? [undefined] : values['page-sizes'].split(',').map(parseCount)
  const cacheSettings = values['cache-fractions'].split(',').map((setting) => {
    if (setting === 'big') return setting
    const fraction = Number(setting)
    if (!(fraction > 0)) throw new Error(`--cache-fractions: "${setting}" is neither "big" nor a positive fraction`)
    return String(fraction)
  })
  const durability = values.durability
  if (durability !== 'none' && durability !== 'os' && durability !== 'fsync') throw new Error(`--durability must be none, os or fsync`)
  const loadOrder = values['load-order']
  if (loadOrder !== 'random' && loadOrder !== 'sorted') throw new Error('--load-order must be random or sorted')
  const phases = new Set<PhaseGroup>()
  for (const name of values.phases.split(',')) {
    if (name === 'all') PHASE_GROUPS.forEach((p) => phases.add(p))
    else if ((PHASE_GROUPS as readonly string[]).includes(name)) phases.add(name as PhaseGroup)
    else throw new Error(`--phases: "${name}" is none of ${PHASE_GROUPS.join(', ')}, all`)
  }
  const levels = values['durable-levels'].split(',').map((level) => {
    if (level !== 'none' && level !== 'os' && level !== 'fsync') throw new Error(`--durable-levels: "${level}" is none of fsync, os, none`)
    return level as Durability
  })
  const seconds = values['durable-seconds'] === undefined ? (quick ? QUICK_DURABLE_SECONDS : DURABLE_SECONDS) : Number(values['durable-seconds'])
  if (!(seconds > 0)) throw new Error('--durable-seconds must be a positive number')
  const seed = Number(values.seed)
  const repetitions = parseCount(values.repetitions)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const resultsDirectory = fileURLToPath(new URL('../bench/results/', import.meta.url))
  return {
    quick,
    phases,
    keyCount,
    pageSizes,
    cacheSettings,
    settings: suiteSettings(keyCount, {
      seed,
      durability: durability as Durability,
      repetitions,
      batchSize: parseCount(values['batch-size']),
      loadOrder: loadOrder as LoadOrder,
    }),
    durable: {
      levels,
      writerCounts: values['durable-writers'].split(',').map(parseCount),
      seconds,
      warmupSeconds: seconds / 6,
      repetitions,
      keyCap: values['durable-key-cap'] !== undefined ? parseCount(values['durable-key-cap']) : quick ? QUICK_DURABLE_KEY_CAP : DURABLE_KEY_CAP,
      seed,
    },
    recovery: {
      records: values['recovery-records'] !== undefined ? parseCount(values['recovery-records']) : quick ? QUICK_RECOVERY_RECORDS : WAL_TARGETS.recoveryRecords,
      writers: parseCount(values['recovery-writers']),
      seed,
      repetitions,
      sampleCount: RECOVERY_SAMPLE,
      childTimeoutMs: 300_000,
    },
    outPath: values.out ?? `${resultsDirectory}store-${stamp}.json`,
  }
}

type ChosenSettings = Pick<SuiteSettings, 'seed' | 'durability' | 'repetitions' | 'batchSize' | 'loadOrder'>

/** Operation counts per key count: about half a second of cached work per timed repetition at the targets. */
function suiteSettings(keyCount: number, chosen: ChosenSettings): SuiteSettings {
  const getCount = Math.min(keyCount, 500_000)
  const scanCount = Math.min(10_000, Math.floor(keyCount / SCAN_LIMIT))
  const putCount = Math.min(Math.floor(keyCount / 5), 200_000)
  const putNewCount = Math.floor(putCount / 10)
  return {
    ...chosen,
    keyCount,
    getCount,
    getWarmupCount: Math.min(getCount, 100_000),
    getLatencyCount: Math.min(getCount, 100_000),
    scanCount,
    scanWarmupCount: Math.max(1, Math.floor(scanCount / 5)),
    scanLimit: SCAN_LIMIT,
    putOverwriteCount: putCount - putNewCount,
    putNewCount,
  }
}

function parseCount(text: string): number {
  const count = Number(text)
  if (!Number.isInteger(count) || count < 1) throw new Error(`not a positive integer: ${text}`)
  return count
}

function cacheBytesFor(setting: string, dataBytes: number): number {
  return Math.floor((setting === 'big' ? BIG_CACHE_FACTOR : Number(setting)) * dataBytes)
}

// ---- machine and run description ----------------------------------------------------------------------

interface RunMeta {
  benchmark: 'store'
  command: string
  node: string
  v8: string
  cpuModel: string
  cpuCount: number
  totalMemoryBytes: number
  platform: string
  tmpdir: string
  tmpdirFileSystem: string
  date: string
  /** 1-minute load average at the start and the end: other processes on the machine make figures noisy. */
  loadAverageStart: number
  loadAverageEnd?: number
  mode: 'quick' | 'full'
  gcBetweenRepetitions: boolean
}

function commandLine(): string {
  const script = process.env['npm_lifecycle_event']
  const args = process.argv.slice(2).join(' ')
  const node = [process.execPath, ...process.execArgv, ...process.argv.slice(1)].join(' ')
  return script !== undefined ? `npm run ${script}${args === '' ? '' : ` -- ${args}`}  (${node})` : node
}

const FILE_SYSTEM_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs (memory!)',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
}

function describeRun(config: BenchConfig, startedMs: number): RunMeta {
  let fileSystem = 'unknown'
  try {
    const type = statfsSync(os.tmpdir()).type
    fileSystem = FILE_SYSTEM_TYPES[type] ?? `type 0x${type.toString(16)}`
  } catch {
    // statfs is not available everywhere; the type is only informative.
  }
  return {
    benchmark: 'store',
    command: commandLine(),
    node: process.version,
    v8: process.versions.v8,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpuCount: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    tmpdir: os.tmpdir(),
    tmpdirFileSystem: fileSystem,
    date: new Date(startedMs).toISOString(),
    loadAverageStart: os.loadavg()[0] ?? Number.NaN,
    mode: config.quick ? 'quick' : 'full',
    gcBetweenRepetitions: canCollectGarbage,
  }
}

type Log = (line: string) => void

function printHeader(meta: RunMeta, config: BenchConfig, log: Log): void {
  log(`Store benchmark — ${meta.mode} run; phases: ${[...config.phases].join(', ')}`)
  log(`command:     ${meta.command}`)
  log(`machine:     ${meta.cpuModel} × ${meta.cpuCount} cores, ${(meta.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, ${meta.platform}`)
  log(`node:        ${meta.node} (V8 ${meta.v8}); GC before each timed section: ${meta.gcBetweenRepetitions ? 'yes' : 'NO (run with --expose-gc)'}`)
  log(`store files: ${meta.tmpdir} (${meta.tmpdirFileSystem}); a fresh directory per run, removed afterwards; OS page cache not dropped`)
  log(`date:        ${meta.date}; 1-min load average ${meta.loadAverageStart.toFixed(2)} on ${meta.cpuCount} cores${meta.loadAverageStart >= 1 ? ' — BUSY MACHINE: other processes share the cores, figures are noisy' : ''}`)
  if (config.phases.has('suite')) printSuiteHeader(config, log)
  if (config.phases.has('durable')) {
    const d = config.durable
    log(`durable:     ${d.writerCounts.join(', ')} async writers looping await put(random new key, ${VALUE_BYTES} B) at ${d.levels.map((l) => `'${l}'`).join(', ')}; a fresh store per run (defaults but the level);`)
    log(`             ${d.repetitions} timed runs of ${d.seconds} s per setting (median), interleaved, each after an untimed ${d.warmupSeconds.toFixed(2)} s warm-up; every put read back afterwards`)
    if (d.levels.includes('fsync')) log(`             each repetition starts with the raw disk: write(64 B) + fdatasync in a loop for ${d.seconds} s, in place in a preallocated file`)
  }
  if (config.phases.has('recovery')) {
    const r = config.recovery
    log(`recovery:    a child process writes ${formatCount(r.records)} single puts at 'os' (${r.writers} in flight, no checkpoint after creation) and is SIGKILLed;`)
    log(`             open() with the store's defaults is timed ${r.repetitions}x (the killed directory, then byte copies of it); every open must replay ${formatCount(r.records)} records`)
  }
}

function printSuiteHeader(config: BenchConfig, log: Log): void {
  const s = config.settings
  log(`data:        ${formatCount(s.keyCount)} uniform random integer keys in [0, 2^53), ${VALUE_BYTES}-byte values (raw ${RAW_RECORD_BYTES} B/record = ${formatBytes(s.keyCount * RAW_RECORD_BYTES)}); seed ${s.seed}`)
  log(`durability:  '${s.durability}' on every open of the suite${s.durability === 'none' ? ' — measures the engine, NOT durable writes (the durable phase, or --durability fsync, does that)' : ''}`)
  log(`bulk load:   batch() of ${formatCount(s.batchSize)} puts, ${s.loadOrder} key order, timed until close() (the checkpoint) returns`)
  log(`reads:       ${s.repetitions} timed rounds (median, ±spread = (max-min)/median), gets and scans alternating first; each round ${formatCount(s.getCount)} gets of loaded keys and ${formatCount(s.scanCount)} scans of ${s.scanLimit} keys, drawn afresh; warm-up ${formatCount(s.getWarmupCount)} gets + ${formatCount(s.scanWarmupCount)} scans not recorded`)
  log(`             every get's 16 bytes are checksummed inside the timed loop; every scanned key and value index is compared with the key set`)
  log(`puts:        ${formatCount(s.putOverwriteCount + s.putNewCount)} single await put(): ${formatCount(s.putOverwriteCount)} overwrites of distinct loaded keys + ${formatCount(s.putNewCount)} new keys, shuffled; one timed pass`)
  log(`caches:      ${config.cacheSettings.map((c) => (c === 'big' ? `big = ${BIG_CACHE_FACTOR}x the data` : `${c} of the data`)).join(', ')}; the data = bytes on disk after an untimed warm-up load`)
  log(`page sizes:  ${config.pageSizes.map((p) => (p === undefined ? 'store default' : String(p))).join(', ')}`)
}

// ---- main -----------------------------------------------------------------------------------------------

interface PageSizeRun {
  requestedPageSizeBytes?: number
  warmup?: WarmupLoad
  error?: string
  runs: CacheRunResult[]
}

async function measureAll(config: BenchConfig, log: Log): Promise<PageSizeRun[]> {
  const open = openStore
  const planStart = performance.now()
  const plans = makeSuitePlans(config.settings)
  log(`\nplans drawn in ${((performance.now() - planStart) / 1000).toFixed(1)} s`)
  const pageSizeRuns: PageSizeRun[] = []
  for (const pageSize of config.pageSizes) {
    const pageRun: PageSizeRun = { ...(pageSize === undefined ? {} : { requestedPageSizeBytes: pageSize }), runs: [] }
    pageSizeRuns.push(pageRun)
    log(`\n[page size ${pageSize ?? 'default'}] warm-up load (untimed: sizes the caches, warms the JIT)`)
    try {
      pageRun.warmup = await warmupLoad(open, plans, config.settings, pageSize)
    } catch (error) {
      pageRun.error = describeError(error)
      log(`  !! warm-up load failed: ${pageRun.error}`)
      continue
    }
    const warm = pageRun.warmup
    log(`  ${formatCount(warm.records)} records, ${formatBytes(warm.dataBytes)} on disk, page ${warm.pageSizeBytes} B, ${warm.loadSeconds.toFixed(2)} s`)
    for (const setting of config.cacheSettings) {
      const cacheBytes = cacheBytesFor(setting, warm.dataBytes)
      log(`[page size ${warm.pageSizeBytes}, cache ${setting} = ${formatBytes(cacheBytes)}]`)
      collectGarbage()
      pageRun.runs.push(await runCacheSetting(open, plans, config.settings, pageSize, { label: setting, cacheBytes, dataBytes: warm.dataBytes }, log))
    }
  }
  return pageSizeRuns
}

function listFailures(pageSizeRuns: readonly PageSizeRun[]): string[] {
  const failures: string[] = []
  for (const pageRun of pageSizeRuns) {
    const page = pageRun.warmup?.pageSizeBytes ?? pageRun.requestedPageSizeBytes ?? 'default'
    if (pageRun.error !== undefined) failures.push(`page ${page}: warm-up load failed: ${pageRun.error}`)
    for (const run of pageRun.runs) {
      if (run.error !== undefined) failures.push(`page ${page} cache ${run.cacheSetting}: ${run.error}`)
      for (const v of run.verifications) {
        if (v.mismatches > 0) failures.push(`page ${page} cache ${run.cacheSetting}: ${v.check}: ${v.mismatches} wrong; first: ${v.firstMismatch ?? '?'}`)
      }
    }
  }
  return failures
}

function listWalFailures(durable: DurableWrites | undefined, recovery: RecoveryResult | undefined): string[] {
  const failures: string[] = []
  for (const r of durable?.results ?? []) {
    if (r.error !== undefined) failures.push(`durable ${r.durability} ${r.writers} writers: ${r.error}`)
    if (r.verification.mismatches > 0) failures.push(`durable ${r.durability} ${r.writers} writers: ${r.verification.mismatches} wrong; first: ${r.verification.firstMismatch ?? '?'}`)
  }
  if (recovery !== undefined) {
    if (recovery.error !== undefined) failures.push(`recovery: ${recovery.error}`)
    for (const v of recovery.verifications) {
      if (v.mismatches > 0) failures.push(`recovery: ${v.check}: ${v.mismatches} wrong; first: ${v.firstMismatch ?? '?'}`)
    }
  }
  return failures
}

async function main(): Promise<number> {
  const startedMs = Date.now()
  const config = parseConfig(process.argv.slice(2))
  const log: Log = (line) => console.log(line)
  const meta = describeRun(config, startedMs)
  printHeader(meta, config, log)
  const pageSizeRuns = config.phases.has('suite') ? await measureAll(config, log) : []
  let durable: DurableWrites | undefined
  if (config.phases.has('durable')) {
    const planStart = performance.now()
    const plan = makeDurablePlan(config.durable)
    log(`\n[durable writes] ${formatCount(config.durable.keyCap)} keys drawn in ${((performance.now() - planStart) / 1000).toFixed(1)} s`)
    collectGarbage()
    durable = await runDurableWrites(openStore, plan, config.durable, log)
  }
  let recovery: RecoveryResult | undefined
  if (config.phases.has('recovery')) {
    log(`\n[recovery after a kill]`)
    collectGarbage()
    recovery = await runRecovery(openStore, config.recovery, log)
  }

  log('\n' + '='.repeat(120))
  let targets: ReturnType<typeof evaluateTargets> = []
  if (config.phases.has('suite')) {
    for (const pageRun of pageSizeRuns) log(formatPageSize(pageRun.runs, config.keyCount))
    targets = evaluateTargets(pageSizeRuns.flatMap((p) => p.runs))
    const indicative = config.keyCount === TARGET_KEY_COUNT ? undefined : `INDICATIVE ONLY: the targets are defined at ${formatCount(TARGET_KEY_COUNT)} keys`
    log(formatTargets(targets, indicative))
  }
  if (durable !== undefined) {
    const d = config.durable
    log(formatDurableWrites(durable, `W writers each looping await put(random new key, ${VALUE_BYTES} B), fresh store per run, ${d.seconds} s timed, median of ${d.repetitions}`))
  }
  if (recovery !== undefined) log(formatRecovery(recovery))
  const walTargets = evaluateWalTargets(durable, recovery)
  const recoveryNote = config.recovery.records === WAL_TARGETS.recoveryRecords ? undefined : `INDICATIVE ONLY: defined at ${formatCount(WAL_TARGETS.recoveryRecords)} records`
  log(formatWalTargets(walTargets, recoveryNote))

  const failures = [...listFailures(pageSizeRuns), ...listWalFailures(durable, recovery)]
  const walVerifications = [...(durable?.results ?? []).map((r) => r.verification), ...(recovery?.verifications ?? [])]
  const checked = [...pageSizeRuns.flatMap((p) => p.runs).flatMap((r) => r.verifications), ...walVerifications].reduce((n, v) => n + v.checked, 0)
  const durationSeconds = (Date.now() - startedMs) / 1000
  const peakRssBytes = process.resourceUsage().maxRSS * 1024
  meta.loadAverageEnd = os.loadavg()[0] ?? Number.NaN
  log(failures.length === 0 ? `\nverification: all ${formatCount(checked)} checked reads returned the expected key and value` : `\nVERIFICATION FAILED:\n  ${failures.join('\n  ')}`)
  log(`peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB; wall time ${durationSeconds.toFixed(0)} s; 1-min load average at the end ${meta.loadAverageEnd.toFixed(2)}${meta.loadAverageEnd >= 1 ? ' — BUSY MACHINE: rerun on a quiet one before deciding by these figures' : ''}`)

  const report = {
    meta,
    phases: [...config.phases],
    settings: config.settings,
    cacheSettings: config.cacheSettings,
    pageSizeRuns,
    targets,
    durableSettings: config.durable,
    durableWrites: durable,
    recoverySettings: config.recovery,
    recovery,
    walTargets,
    failures,
    peakRssBytes,
    durationSeconds,
  }
  mkdirSync(new URL('../bench/results/', import.meta.url), { recursive: true })
  writeFileSync(config.outPath, JSON.stringify(report, null, 2) + '\n')
  log(`results:     ${config.outPath}`)
  return failures.length === 0 ? 0 : 1
}

// Handled at the suite's next yield to the event loop (phase boundaries; see suite.ts).
for (const [signal, exitCode] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.on(signal, () => {
    removeLiveDirectories()
    console.error(`\nstore benchmark interrupted (${signal}); temporary store directories removed`)
    process.exit(exitCode)
  })
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    removeLiveDirectories()
    console.error(`store benchmark failed: ${describeError(error)}`)
    process.exitCode = 1
  },
)
