/**
 * Index benchmark: AlexIndex<number> against sorted-btree's BTree<number, number> and a sorted
 * Float64Array with binary search, on the same keys, in the same operation order, in one process.
 *
 *   npm run bench:index             1M and 10M keys (the targets are judged at 10M)
 *   npm run bench:index -- --quick  1M keys, fewer repetitions (npm start)
 *
 * Options: --quick, --keys 1e6,1e7, --distributions uniform,lognormal,clustered,
 *          --systems alex,btree,array, --repetitions N, --seed N, --out FILE.
 *
 * Prints a table per (key count, distribution) and the target verdicts; writes everything measured
 * to bench/results/index-<timestamp>.json. Exits 1 if any system returned a wrong result or failed.
 * What each workload does: lib/plans.ts; how repetitions are run: lib/runner.ts; systems: lib/systems/.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DISTRIBUTIONS, assertStrictlyAscending, generateKeys, type Distribution } from './lib/datasets.js'
import { canCollectGarbage, collectGarbage } from './lib/measure.js'
import { makeKeySet } from './lib/plans.js'
import { evaluateTargets, formatCount, formatKeySet, formatTargets } from './lib/report.js'
import type { RowResult, ShapeResult } from './lib/results.js'
import { runKeySet, type RunSettings } from './lib/runner.js'
import { AlexSystem } from './lib/systems/alex-system.js'
import { SortedArraySystem } from './lib/systems/array-system.js'
import { BTREE_INDEX_BYTES_ESTIMATE, BtreeSystem } from './lib/systems/btree-system.js'
import { SYSTEM_NAMES, type IndexSystem, type SystemName } from './lib/systems/system.js'

const TARGET_KEY_COUNT = 10_000_000
const SCAN_LENGTH = 100
const WARMUP_OPS_MAX = 1_000_000
const VERIFY_LOOKUP_COUNT = 10_000

interface BenchConfig {
  quick: boolean
  keyCounts: number[]
  distributions: Distribution[]
  systems: SystemName[]
  seed: number
  repetitionsOverride: number | undefined
  outPath: string
}

function parseConfig(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      keys: { type: 'string' },
      distributions: { type: 'string' },
      systems: { type: 'string' },
      repetitions: { type: 'string' },
      seed: { type: 'string', default: '20240601' },
      out: { type: 'string' },
    },
    strict: true,
  })
  const quick = values.quick === true
  const keyCounts = values.keys !== undefined ? values.keys.split(',').map(parseCount) : quick ? [1_000_000] : [1_000_000, TARGET_KEY_COUNT]
  const distributions = (values.distributions?.split(',') ?? [...DISTRIBUTIONS]).map((name) => {
    if (!(DISTRIBUTIONS as readonly string[]).includes(name)) throw new Error(`unknown distribution ${name}`)
    return name as Distribution
  })
  const systems = (values.systems?.split(',') ?? [...SYSTEM_NAMES]).map((name) => {
    if (!(SYSTEM_NAMES as readonly string[]).includes(name)) throw new Error(`unknown system ${name}`)
    return name as SystemName
  })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const resultsDirectory = fileURLToPath(new URL('../bench/results/', import.meta.url))
  return {
    quick,
    keyCounts,
    distributions,
    systems,
    seed: Number(values.seed),
    repetitionsOverride: values.repetitions === undefined ? undefined : parseCount(values.repetitions),
    outPath: values.out ?? `${resultsDirectory}index-${stamp}.json`,
  }
}

function parseCount(text: string): number {
  const count = Number(text)
  if (!Number.isInteger(count) || count < 1) throw new Error(`not a positive integer: ${text}`)
  return count
}

function settingsFor(config: BenchConfig, keyCount: number): RunSettings {
  const timedRepetitions = config.repetitionsOverride ?? (config.quick ? 3 : keyCount >= TARGET_KEY_COUNT ? 3 : 5)
  return {
    seed: config.seed,
    timedRepetitions,
    warmupOpsMax: WARMUP_OPS_MAX,
    lookupCount: Math.min(keyCount, 2_000_000),
    scanCount: Math.min(100_000, Math.max(1, keyCount - SCAN_LENGTH)),
    scanLength: SCAN_LENGTH,
    verifyLookupCount: VERIFY_LOOKUP_COUNT,
  }
}

function makeSystems(names: readonly SystemName[]): IndexSystem[] {
  const all: Record<SystemName, () => IndexSystem> = {
    alex: () => new AlexSystem(),
    btree: () => new BtreeSystem(),
    array: () => new SortedArraySystem(),
  }
  return names.map((name) => all[name]())
}

function commandLine(): string {
  const script = process.env['npm_lifecycle_event']
  const args = process.argv.slice(2).join(' ')
  const node = [process.execPath, ...process.execArgv, ...process.argv.slice(1)].join(' ')
  return script !== undefined ? `npm run ${script}${args === '' ? '' : ` -- ${args}`}  (${node})` : node
}

type Log = (line: string) => void

interface RunMeta {
  benchmark: 'index'
  command: string
  node: string
  v8: string
  cpuModel: string
  cpuCount: number
  totalMemoryBytes: number
  platform: string
  date: string
  mode: 'quick' | 'full'
  keyCounts: number[]
  distributions: Distribution[]
  systems: SystemName[]
  seed: number
  gcBetweenRepetitions: boolean
}

function describeRun(config: BenchConfig, startedMs: number): RunMeta {
  return {
    benchmark: 'index',
    command: commandLine(),
    node: process.version,
    v8: process.versions.v8,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpuCount: os.cpus().length,
    totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date(startedMs).toISOString(),
    mode: config.quick ? 'quick' : 'full',
    keyCounts: config.keyCounts,
    distributions: config.distributions,
    systems: config.systems,
    seed: config.seed,
    gcBetweenRepetitions: canCollectGarbage,
  }
}

function printHeader(meta: RunMeta, log: Log): void {
  log(`Index benchmark — ${meta.mode} run`)
  log(`command:  ${meta.command}`)
  log(`machine:  ${meta.cpuModel} × ${meta.cpuCount}, ${(meta.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB, ${meta.platform}`)
  log(`node:     ${meta.node} (V8 ${meta.v8}); GC between repetitions: ${meta.gcBetweenRepetitions ? 'yes' : 'NO (run with --expose-gc)'}`)
  log(`date:     ${meta.date}`)
  log(`keys:     ${meta.keyCounts.map(formatCount).join(', ')} × ${meta.distributions.join(', ')}; seed ${meta.seed}`)
  log(`systems:  ${meta.systems.join(', ')} (array is read-only: insert rows are n/a)`)
  log('values:   the sorted index of each key; all lookups hit (queries drawn uniformly over the loaded keys)')
  log('figures:  median of the timed repetitions (warm-up excluded), ±spread = (max - min) / median')
}

interface Measured {
  rows: RowResult[]
  shapes: ShapeResult[]
  settingsByKeyCount: Record<number, RunSettings>
}

function measureAll(config: BenchConfig, log: Log): Measured {
  const systems = makeSystems(config.systems)
  const measured: Measured = { rows: [], shapes: [], settingsByKeyCount: {} }
  for (const keyCount of config.keyCounts) {
    const settings = settingsFor(config, keyCount)
    measured.settingsByKeyCount[keyCount] = settings
    for (const distribution of config.distributions) {
      log(`\n[${formatCount(keyCount)} ${distribution}] generating keys; ${settings.timedRepetitions} timed repetitions + 1 warm-up`)
      const sortedKeys = generateKeys(distribution, keyCount, config.seed)
      assertStrictlyAscending(sortedKeys)
      const run = runKeySet(systems, makeKeySet(sortedKeys), distribution, settings, log)
      measured.rows.push(...run.rows)
      measured.shapes.push(...run.shapes)
      collectGarbage()
    }
  }
  return measured
}

function printTables(config: BenchConfig, measured: Measured, log: Log): void {
  log('\n' + '='.repeat(100))
  for (const keyCount of config.keyCounts) {
    for (const distribution of config.distributions) {
      const rows = measured.rows.filter((r) => r.keyCount === keyCount && r.distribution === distribution)
      const shapes = measured.shapes.filter((s) => s.keyCount === keyCount && s.distribution === distribution)
      log(formatKeySet(rows, shapes, config.systems, SCAN_LENGTH))
    }
  }
}

/** Every wrong result or failure, one line each. */
function listFailures(rows: readonly RowResult[]): string[] {
  return rows.flatMap((row) =>
    row.outcomes
      .filter((o) => o.status === 'error' || o.checksumOk === false)
      .map((o) => `${o.system} ${row.workload} ${row.distribution} ${formatCount(row.keyCount)}: ${o.note ?? o.status}`),
  )
}

function sumChecksums(rows: readonly RowResult[]): Record<string, number> {
  const checksums: Record<string, number> = {}
  for (const row of rows) {
    for (const o of row.outcomes) if (o.checksum !== undefined) checksums[o.system] = (checksums[o.system] ?? 0) + o.checksum
  }
  return checksums
}

function main(): number {
  const startedMs = Date.now()
  const config = parseConfig(process.argv.slice(2))
  const log: Log = (line) => console.log(line)
  const meta = describeRun(config, startedMs)
  printHeader(meta, log)
  const measured = measureAll(config, log)
  printTables(config, measured, log)

  const targetKeyCount = config.keyCounts.includes(TARGET_KEY_COUNT) ? TARGET_KEY_COUNT : Math.max(...config.keyCounts)
  const targets = evaluateTargets(measured.rows, measured.shapes, targetKeyCount, config.distributions)
  log(formatTargets(targets, targetKeyCount !== TARGET_KEY_COUNT))

  const failures = listFailures(measured.rows)
  const checksums = sumChecksums(measured.rows)
  const durationSeconds = (Date.now() - startedMs) / 1000
  const peakRssBytes = process.resourceUsage().maxRSS * 1024
  log(`\nchecksums (sum of every timed result): ${Object.entries(checksums).map(([s, c]) => `${s} ${c.toExponential(6)}`).join(', ')}`)
  log(failures.length === 0 ? 'verification: every timed result matched the checksum computed from its plan' : `VERIFICATION FAILED:\n  ${failures.join('\n  ')}`)
  log(`peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB; wall time ${durationSeconds.toFixed(0)} s`)

  const report = {
    meta,
    settings: measured.settingsByKeyCount,
    btreeIndexBytesEstimate: BTREE_INDEX_BYTES_ESTIMATE,
    rows: measured.rows,
    shapes: measured.shapes,
    targets,
    checksums,
    failures,
    peakRssBytes,
    durationSeconds,
  }
  mkdirSync(new URL('../bench/results/', import.meta.url), { recursive: true })
  writeFileSync(config.outPath, JSON.stringify(report, null, 2) + '\n')
  log(`results:  ${config.outPath}`)
  return failures.length === 0 ? 0 : 1
}

process.exitCode = main()
