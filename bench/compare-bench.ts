/**
 * The comparison benchmark: learned-storage against tuned RocksDB, RocksDB behind an lru-cache of
 * decoded values ("RocksDB + cache", the original analysis's CachedStorage) and LMDB.
 *
 *   npm start                          quick: 1M keys, uniform keys, 16-byte values, both memory conditions
 *   npm run bench -- --scale 10m       the standard run
 *   npm run bench -- --scale 1m --datasets all --values 16,256,4096
 *
 * Each (system, scenario) runs in a forked child (compare-child.ts) so its peak RSS is its own; the
 * systems of a scenario run one after another on the same keys and query streams (same seed). The
 * parent prints the table, writes bench/results/compare-<time>.json and an SVG chart of the ratios.
 *
 * Memory conditions: 'large' gives every system 4x the raw data as its cache budget (capped at 4 GiB,
 * but at least 1.5x the data); 'small' gives 10% of the raw data, on the headline scenario (uniform
 * keys, 16-byte values) unless --all-small. In the small condition every system also runs under one
 * equal hard memory cap that includes the page cache (a memory cgroup, where the machine has one and
 * the bench is root): the budget plus a runtime allowance measured from an idle child of each system;
 * the load runs uncapped, the store's pages are dropped from the page cache, and the other workloads
 * run under the cap (lib/compare/memory-cap.ts). `--memory-cap off` runs them uncapped; `--memory-cap
 * 64m` sets the cap by hand (a tiny one shows what an OOM kill looks like: "killed: memory").
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import type { ChildJob } from './compare-child.js'
import { KEY_SETS, type KeySetName } from './lib/datasets.js'
import { renderChart } from './lib/compare/chart.js'
import { renderMarkdownSummary, renderReport } from './lib/compare/report.js'
import { evaluateTargets } from './lib/compare/targets.js'
import { SYSTEM_NAMES, type CompareResults, type MemoryCondition, type SystemName, type SystemRun, type WorkloadName } from './lib/compare/types.js'
import type { WorkloadSizes } from './lib/compare/workloads.js'
import { runFor } from './lib/compare/run.js'
import { exitText, runChildProcess } from './lib/compare/children.js'
import { SmallMemoryRunner, type CapMode } from './lib/compare/memory-cap.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const CHILD = path.join(HERE, 'compare-child.js')
const RESULTS_DIR = path.join(HERE, '..', 'bench', 'results')

const HEADLINE_DATASET: KeySetName = 'uniform'
const HEADLINE_VALUE_BYTES = 16
const LARGE_VALUE_BYTES = 4096
const LARGE_MEMORY_FACTOR = 4
/** The large budget is capped here (but never below 1.5x the raw data): 4x of 2.6 GB is too much RAM. */
const LARGE_MEMORY_CAP_BYTES = 4 * 2 ** 30
const LARGE_MEMORY_MIN_FACTOR = 1.5
const SMALL_MEMORY_FRACTION = 0.1
const MIN_MEMORY_BYTES = 1 << 20

const ALL_LARGE: WorkloadName[] = ['bulk-load', 'get-uniform', 'get-zipf', 'scan-100', 'read-heavy', 'write-heavy', 'insert-random', 'durable-1', 'durable-16', 'durable-256']
const SECONDARY_LARGE: WorkloadName[] = ['bulk-load', 'get-uniform', 'get-zipf', 'scan-100', 'insert-random']
const SMALL: WorkloadName[] = ['bulk-load', 'get-uniform', 'get-zipf', 'scan-100', 'read-heavy', 'write-heavy']
const DURABLE: WorkloadName[] = ['bulk-load', 'durable-1', 'durable-16', 'durable-256']

interface Settings {
  scale: string
  keyCount: number
  systems: SystemName[]
  datasets: KeySetName[]
  values: number[]
  memory: MemoryCondition[]
  repetitions: number
  seed: number
  recovery: boolean
  keep: boolean
  /** Run the small memory condition for every dataset and value size, not only the headline. */
  allSmall: boolean
  sizes: WorkloadSizes
  insertCount: number
  recoveryRecords: number
  memoryCap: CapMode
  /** learned-storage's page size (`--page-size 4k`); absent: its default. */
  pageSizeBytes?: number
}

function parseScale(scale: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(scale)
  if (match === null) throw new Error(`--scale wants a key count like 1m, 10m or 250k, not ${scale}`)
  const unit = match[2]!.toLowerCase()
  return Math.round(Number(match[1]) * (unit === 'm' ? 1e6 : unit === 'k' ? 1e3 : 1))
}

function parseSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1m' },
      systems: { type: 'string' },
      datasets: { type: 'string', default: HEADLINE_DATASET },
      values: { type: 'string', default: String(HEADLINE_VALUE_BYTES) },
      memory: { type: 'string', default: 'large,small' },
      repetitions: { type: 'string', default: '3' },
      seed: { type: 'string', default: '20261126' },
      'no-recovery': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'all-small': { type: 'boolean', default: false },
      'memory-cap': { type: 'string', default: 'auto' },
      'page-size': { type: 'string' },
    },
  })
  const keyCount = parseScale(values.scale!)
  const list = <T extends string>(text: string, allowed: readonly T[], what: string): T[] =>
    (text === 'all' ? [...allowed] : text.split(',')).map((name) => {
      if (!(allowed as readonly string[]).includes(name)) throw new Error(`unknown ${what} ${name} (one of ${allowed.join(', ')})`)
      return name as T
    })
  const big = keyCount >= 5_000_000
  return {
    scale: values.scale!,
    keyCount,
    systems: list(values.systems ?? 'all', SYSTEM_NAMES, 'system'),
    datasets: list(values.datasets!, KEY_SETS, 'dataset'),
    values: values.values!.split(',').map((text) => {
      const bytes = Number(text)
      if (!Number.isInteger(bytes) || bytes < 12) throw new Error(`--values wants sizes of at least 12 bytes, not ${text}`)
      return bytes
    }),
    memory: list(values.memory!, ['large', 'small'] as const, 'memory condition'),
    repetitions: Math.max(1, Number(values.repetitions)),
    seed: Number(values.seed),
    recovery: !values['no-recovery'],
    keep: values.keep!,
    allSmall: values['all-small']!,
    sizes: big
      ? { gets: 1_000_000, mixedOps: 400_000, scans: 40_000, clients: 16, durableSeconds: 3 }
      : { gets: 200_000, mixedOps: 60_000, scans: 5_000, clients: 16, durableSeconds: 1 },
    insertCount: big ? 300_000 : 60_000,
    recoveryRecords: Math.min(keyCount, 1_000_000),
    memoryCap: parseCap(values['memory-cap']!),
    ...(values['page-size'] === undefined ? {} : { pageSizeBytes: parsePageSize(values['page-size']) }),
  }
}

/** --page-size: our page size, 4k to 1m, a power of two (the store checks it again at open). */
function parsePageSize(text: string): number {
  const match = /^(\d+)([km]?)$/i.exec(text)
  const bytes = match === null ? NaN : Number(match[1]) * ({ '': 1, k: 2 ** 10, m: 2 ** 20 } as Record<string, number>)[match[2]!.toLowerCase()]!
  if (!(bytes >= 4096 && bytes <= 2 ** 20 && (bytes & (bytes - 1)) === 0)) throw new Error(`--page-size wants a power of two from 4k to 1m, not ${text}`)
  return bytes
}

/** --memory-cap: 'auto' (budget + measured allowance), 'off', or a size such as 64m, 512k, 1g. */
function parseCap(text: string): CapMode {
  if (text === 'auto' || text === 'off') return text
  const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(text)
  if (match === null) throw new Error(`--memory-cap wants auto, off or a size like 64m, not ${text}`)
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g']
  return Math.round(Number(match[1]) * unit)
}

interface Planned {
  label: string
  job: ChildJob
}

function plan(settings: Settings, root: string): Planned[] {
  const planned: Planned[] = []
  let n = 0
  const base = {
    seed: settings.seed,
    repetitions: settings.repetitions,
    sizes: settings.sizes,
    chunkSize: 10_000,
    recoveryRecords: settings.recoveryRecords,
    ...(settings.pageSizeBytes === undefined ? {} : { pageSizeBytes: settings.pageSizeBytes }),
  }
  for (const dataset of settings.datasets) {
    for (const valueBytes of settings.values) {
      const keyCount = valueBytes >= LARGE_VALUE_BYTES ? Math.max(10_000, Math.round(settings.keyCount / 10)) : settings.keyCount
      const insertCount = Math.min(settings.insertCount, Math.round(keyCount / 10))
      const rawBytes = keyCount * (8 + valueBytes)
      const headline = dataset === HEADLINE_DATASET && valueBytes === HEADLINE_VALUE_BYTES
      for (const memory of settings.memory) {
        // The small condition runs on the headline scenario only (the targets are judged there).
        if (memory === 'small' && !headline && !settings.allSmall) continue
        const large = Math.min(rawBytes * LARGE_MEMORY_FACTOR, Math.max(rawBytes * LARGE_MEMORY_MIN_FACTOR, LARGE_MEMORY_CAP_BYTES))
        const memoryBytes = Math.max(MIN_MEMORY_BYTES, Math.round(memory === 'large' ? large : rawBytes * SMALL_MEMORY_FRACTION))
        const workloads = memory === 'small' ? SMALL : headline ? ALL_LARGE : SECONDARY_LARGE
        for (const system of settings.systems) {
          planned.push({
            label: `${system} ${dataset} ${valueBytes} B ${memory}`,
            job: { ...base, mode: 'workloads', system, dataset, valueBytes, keyCount, insertCount, memory, memoryBytes, directory: path.join(root, `run-${n++}`), workloads },
          })
        }
        if (headline && memory === 'large' && settings.systems.includes('rocksdb')) {
          planned.push({
            label: `rocksdb (one write per put) ${dataset} ${valueBytes} B ${memory}`,
            job: { ...base, mode: 'workloads', system: 'rocksdb', variant: 'per-write', dataset, valueBytes, keyCount, insertCount, memory, memoryBytes, directory: path.join(root, `run-${n++}`), workloads: DURABLE },
          })
        }
      }
    }
  }
  if (settings.recovery) {
    const valueBytes = HEADLINE_VALUE_BYTES
    const memoryBytes = Math.max(MIN_MEMORY_BYTES, settings.recoveryRecords * (8 + valueBytes) * LARGE_MEMORY_FACTOR)
    for (const system of settings.systems.filter((name) => name !== 'rocksdb+cache')) {
      planned.push({
        label: `${system} recovery after kill`,
        job: {
          ...base,
          mode: 'recovery-write',
          system,
          dataset: HEADLINE_DATASET,
          valueBytes,
          keyCount: settings.recoveryRecords,
          insertCount: 0,
          memory: 'large',
          memoryBytes,
          directory: path.join(root, `run-${n++}`),
          workloads: ['recovery'],
        },
      })
    }
  }
  return planned
}

/**
 * Runs one job: the small memory condition through the capped runner; recovery-write is killed once
 * it is ready and followed by recovery-open; anything else is one child.
 */
async function runChild(job: ChildJob, small: SmallMemoryRunner, onProgress: (label: string) => void): Promise<SystemRun> {
  if (job.mode === 'workloads' && job.memory === 'small') return small.run(job, onProgress)
  if (job.mode === 'recovery-write') {
    const written = await runChildProcess(CHILD, job, { killOnReady: true, onProgress })
    if (!(written.killedOnReady && written.signal === 'SIGKILL')) throw new Error(exitText(written))
    onProgress('opening after the kill')
    return resultOf(await runChildProcess(CHILD, { ...job, mode: 'recovery-open' }, { onProgress }))
  }
  return resultOf(await runChildProcess(CHILD, job, { onProgress }))
}

function resultOf(outcome: Awaited<ReturnType<typeof runChildProcess>>): SystemRun {
  if (outcome.run === undefined) throw new Error(exitText(outcome))
  return outcome.run
}

function machine(): CompareResults['machine'] {
  const cpus = os.cpus()
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` }
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2))
  const root = mkdtempSync(path.join(os.tmpdir(), 'learned-storage-compare-'))
  const planned = plan(settings, root)
  const results: CompareResults = {
    kind: 'compare',
    startedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    scale: settings.scale,
    keyCount: settings.keyCount,
    seed: settings.seed,
    repetitions: settings.repetitions,
    runs: [],
  }
  const small = new SmallMemoryRunner(CHILD, settings.memoryCap, settings.systems)
  if (settings.memory.includes('small')) {
    results.memoryCap = small.describe()
    console.log(results.memoryCap)
  }
  console.log(`comparison: ${settings.keyCount.toLocaleString('en-US')} keys, datasets ${settings.datasets.join(', ')}, values ${settings.values.join(', ')} B, memory ${settings.memory.join(', ')}, ${planned.length} runs; data under ${root}`)
  const bar = new cliProgress.SingleBar(
    { format: 'compare |{bar}| {value}/{total} runs | {duration_formatted} | {run}: {step}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 20_000 },
    cliProgress.Presets.shades_classic,
  )
  bar.start(planned.length, 0, { run: '', step: '' })
  let failed = 0
  try {
    for (const { label, job } of planned) {
      bar.update({ run: label, step: 'starting' })
      try {
        results.runs.push(await runChild(job, small, (step) => bar.update({ step })))
      } catch (error) {
        failed++
        const message = error instanceof Error ? error.message : String(error)
        results.runs.push(runFor(job, { settings: [], results: [], diskBytes: 0, peakRssBytes: 0, error: `${label}: ${message}` }))
      }
      if (!settings.keep) rmSync(job.directory, { recursive: true, force: true })
      bar.increment()
    }
  } finally {
    bar.stop()
    if (!settings.keep) rmSync(root, { recursive: true, force: true })
  }

  const verdicts = evaluateTargets(results)
  console.log(renderReport(results, verdicts))
  mkdirSync(RESULTS_DIR, { recursive: true })
  const stamp = results.startedAt.replace(/[:.]/g, '-')
  const jsonPath = path.join(RESULTS_DIR, `compare-${stamp}.json`)
  writeFileSync(jsonPath, `${JSON.stringify({ ...results, verdicts }, null, 2)}\n`)
  const chartPath = path.join(RESULTS_DIR, `compare-${settings.scale}.svg`)
  writeFileSync(chartPath, renderChart(results, verdicts))
  writeFileSync(path.join(RESULTS_DIR, `compare-${settings.scale}.md`), renderMarkdownSummary(results, verdicts))
  console.log(`\nresults: ${path.relative(process.cwd(), jsonPath)}\nchart:   ${path.relative(process.cwd(), chartPath)}`)
  for (const run of results.runs) if (run.error !== undefined) console.log(`FAILED RUN: ${run.error}`)
  if (failed > 0) process.exitCode = 1
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
