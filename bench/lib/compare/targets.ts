/**
 * The comparison's targets (ours against tuned RocksDB, RocksDB + an lru-cache, LMDB) and the helpers
 * report.ts and chart.ts share: scenarios (dataset + value size + memory condition), run look-up
 * and ratios ours / baseline.
 *
 * Every target is judged on the headline scenario (dataset 'uniform', 16-byte values); the detail
 * lists the ratio in every scenario that measured it. A RocksDB run whose settings say
 * 'one write per put' is the per-write variant: targets use the other (group-coalesced) run.
 */
import { formatBytes } from '../report.js'
import type { CompareResults, Durability, MemoryCondition, SystemName, SystemRun, WorkloadName, WorkloadResult } from './types.js'

export interface TargetVerdict {
  id: string
  label: string
  /** A ratio: measured must be >= required, except for upper-bound targets (isUpperBound), where <=. */
  required: number
  measured: number | undefined
  /** undefined: not measured. */
  pass: boolean | undefined
  detail: string
}

/** Rank of every workload, in the order WorkloadName lists them (a Record, so none can be missing). */
const WORKLOAD_RANK: Readonly<Record<WorkloadName, number>> = {
  'bulk-load': 0,
  'get-uniform': 1,
  'get-zipf': 2,
  'read-heavy': 3,
  'write-heavy': 4,
  'insert-random': 5,
  'scan-100': 6,
  'durable-1': 7,
  'durable-16': 8,
  'durable-256': 9,
  recovery: 10,
}
export const WORKLOADS: readonly WorkloadName[] = (Object.keys(WORKLOAD_RANK) as WorkloadName[]).sort(
  (a, b) => WORKLOAD_RANK[a] - WORKLOAD_RANK[b],
)
const DURABILITY_ORDER: readonly Durability[] = ['fsync', 'os', 'none']

export const OURS: SystemName = 'learned-storage'
export const BASELINES = ['rocksdb', 'rocksdb+cache', 'lmdb'] as const satisfies readonly SystemName[]
export const HEADLINE = { dataset: 'uniform', valueBytes: 16 } as const
export const PER_WRITE_MARK = 'one write per put'
export const DISK_TARGET_ID = 'disk-bytes/large/rocksdb'

export interface ThroughputTarget {
  id: string
  workload: WorkloadName
  baseline: SystemName
  /** undefined: the issue names no memory condition; judged on 'large' (else 'small'), ticked in both. */
  memory: MemoryCondition | undefined
  durability: Durability | undefined
  required: number
  label: string
}

function target(
  workload: WorkloadName,
  baseline: SystemName,
  required: number,
  memory: MemoryCondition | undefined,
  durability?: Durability,
): ThroughputTarget {
  const where = [memory === undefined ? undefined : `${memory} memory`, durability === undefined ? undefined : `durability ${durability}`]
    .filter((part) => part !== undefined)
    .join(', ')
  return {
    id: `${workload}/${memory ?? 'any'}/${baseline}`,
    workload,
    baseline,
    memory,
    durability,
    required,
    label: `${workload}${where === '' ? '' : ` (${where})`}: ours >= ${required}x ${baseline}`,
  }
}

export const THROUGHPUT_TARGETS: readonly ThroughputTarget[] = [
  ...(['get-uniform', 'get-zipf', 'read-heavy', 'write-heavy', 'scan-100'] as const).map((w) => target(w, 'rocksdb+cache', 2, 'small')),
  target('get-uniform', 'rocksdb', 5, 'large'),
  target('get-uniform', 'lmdb', 2, 'large'),
  target('get-uniform', 'rocksdb+cache', 1, 'large'),
  target('scan-100', 'rocksdb', 5, 'large'),
  target('scan-100', 'lmdb', 1, 'large'),
  target('bulk-load', 'rocksdb', 3, undefined),
  target('insert-random', 'rocksdb', 2, undefined, 'os'),
  target('durable-256', 'rocksdb', 1.5, undefined, 'fsync'),
]

const DISK_REQUIRED = 1.5

/** True for a target whose measured value must stay at or below `required` (bytes on disk). */
export function isUpperBound(verdict: TargetVerdict): boolean {
  return verdict.id === DISK_TARGET_ID
}

export interface Scenario {
  dataset: string
  valueBytes: number
  memory: MemoryCondition
  memoryBytes: number
  keyCount: number
  rawBytes: number
  runs: SystemRun[]
}

/** Runs grouped by dataset + value size + memory: headline first, then by dataset, value size, large before small. */
export function scenarios(results: CompareResults): Scenario[] {
  const byKey = new Map<string, Scenario>()
  for (const run of results.runs) {
    const key = JSON.stringify([run.dataset, run.valueBytes, run.memory])
    let scenario = byKey.get(key)
    if (scenario === undefined) {
      scenario = {
        dataset: run.dataset,
        valueBytes: run.valueBytes,
        memory: run.memory,
        memoryBytes: run.memoryBytes,
        keyCount: run.keyCount,
        rawBytes: run.rawBytes,
        runs: [],
      }
      byKey.set(key, scenario)
    }
    if (run.system === OURS && !scenario.runs.some((r) => r.system === OURS)) {
      scenario.memoryBytes = run.memoryBytes
      scenario.keyCount = run.keyCount
      scenario.rawBytes = run.rawBytes
    }
    scenario.runs.push(run)
  }
  const headlineFirst = (s: Scenario) => (isHeadline(s) ? 0 : 1)
  return [...byKey.values()].sort(
    (a, b) =>
      headlineFirst(a) - headlineFirst(b) ||
      (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0) ||
      a.valueBytes - b.valueBytes ||
      (a.memory === b.memory ? 0 : a.memory === 'large' ? -1 : 1),
  )
}

export function isHeadline(s: { dataset: string; valueBytes: number }): boolean {
  return s.dataset === HEADLINE.dataset && s.valueBytes === HEADLINE.valueBytes
}

/** The headline dataset and value size if measured, else the first scenario's (for charts). */
export function headlineOf(results: CompareResults): { dataset: string; valueBytes: number } | undefined {
  const first = scenarios(results)[0]
  return first === undefined ? undefined : { dataset: first.dataset, valueBytes: first.valueBytes }
}

export function isPerWriteVariant(run: SystemRun): boolean {
  return run.settings.some((setting) => setting.includes(PER_WRITE_MARK))
}

export function findRun(scenario: Scenario, system: SystemName, perWrite = false): SystemRun | undefined {
  return scenario.runs.find((run) => run.system === system && isPerWriteVariant(run) === perWrite)
}

export function findResult(run: SystemRun | undefined, workload: WorkloadName, durability?: Durability): WorkloadResult | undefined {
  return run?.results.find((r) => r.workload === workload && (durability === undefined || r.durability === durability))
}

/** The (workload, durability) pairs measured in a scenario, in WorkloadName order then fsync, os, none. */
export function workloadRows(scenario: Scenario): { workload: WorkloadName; durability: Durability }[] {
  const rows: { workload: WorkloadName; durability: Durability }[] = []
  for (const workload of WORKLOADS) {
    for (const durability of DURABILITY_ORDER) {
      if (scenario.runs.some((run) => findResult(run, workload, durability) !== undefined)) rows.push({ workload, durability })
    }
  }
  return rows
}

export interface Comparison {
  ratio: number
  ours: WorkloadResult
  baseline: WorkloadResult
}

/** ours / baseline for a workload at one durability (undefined: ours' first result's durability). */
export function compare(
  scenario: Scenario,
  workload: WorkloadName,
  durability: Durability | undefined,
  baseline: SystemName,
  perWrite = false,
): Comparison | undefined {
  const ours = findResult(findRun(scenario, OURS), workload, durability)
  if (ours === undefined) return undefined
  const other = findResult(findRun(scenario, baseline, perWrite), workload, ours.durability)
  if (other === undefined || !(other.perSecond > 0) || !Number.isFinite(ours.perSecond)) return undefined
  return { ratio: ours.perSecond / other.perSecond, ours, baseline: other }
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '-' : `${ratio.toFixed(2)}x`
}

export function scenarioName(s: { dataset: string; valueBytes: number; memory?: MemoryCondition }): string {
  return `${s.dataset}/${s.valueBytes} B${s.memory === undefined ? '' : `/${s.memory}`}`
}

export function evaluateTargets(results: CompareResults): TargetVerdict[] {
  const all = scenarios(results)
  const verdicts = THROUGHPUT_TARGETS.map((t) => evaluateThroughput(t, all))
  verdicts.push(evaluateDisk(all))
  return verdicts
}

function evaluateThroughput(t: ThroughputTarget, all: readonly Scenario[]): TargetVerdict {
  const candidates = all.filter((s) => t.memory === undefined || s.memory === t.memory)
  const measuredIn = candidates
    .map((scenario) => ({ scenario, comparison: compare(scenario, t.workload, t.durability, t.baseline) }))
    .filter((m): m is { scenario: Scenario; comparison: Comparison } => m.comparison !== undefined)
  const headline = measuredIn.filter((m) => isHeadline(m.scenario))
  const judged = headline.find((m) => m.scenario.memory === 'large') ?? headline[0]
  const parts: string[] = []
  if (judged === undefined) parts.push(`not measured on ${scenarioName(HEADLINE)}`)
  for (const m of measuredIn) {
    let part = `${scenarioName(m.scenario)}: ${formatRatio(m.comparison.ratio)}`
    if (m === judged) part += ' (judged)'
    if (t.workload.startsWith('durable-') && t.baseline === 'rocksdb') {
      const perWrite = compare(m.scenario, t.workload, t.durability, t.baseline, true)
      part = `${scenarioName(m.scenario)}: ${formatRatio(m.comparison.ratio)} vs group-coalesced rocksdb, ` +
        `${formatRatio(perWrite?.ratio)} vs rocksdb ${PER_WRITE_MARK}${m === judged ? ' (judged on group-coalesced)' : ''}`
    }
    parts.push(part)
  }
  let pass: boolean | undefined
  if (judged !== undefined) {
    pass = judged.comparison.ratio >= t.required
    if (judged.comparison.ours.wrong > 0) {
      pass = false
      parts.unshift(`ours gave ${judged.comparison.ours.wrong} wrong answers`)
    }
    if (judged.comparison.baseline.wrong > 0) parts.push(`${t.baseline} gave ${judged.comparison.baseline.wrong} wrong answers`)
  }
  return { id: t.id, label: t.label, required: t.required, measured: judged?.comparison.ratio, pass, detail: parts.join('; ') }
}

function evaluateDisk(all: readonly Scenario[]): TargetVerdict {
  const measuredIn: { scenario: Scenario; ours: number; rocksdb: number }[] = []
  for (const scenario of all) {
    if (scenario.memory !== 'large') continue
    const ours = findRun(scenario, OURS)?.diskBytes
    const rocksdb = findRun(scenario, 'rocksdb')?.diskBytes
    if (ours !== undefined && rocksdb !== undefined && rocksdb > 0 && ours >= 0) measuredIn.push({ scenario, ours, rocksdb })
  }
  const judged = measuredIn.find((m) => isHeadline(m.scenario))
  const parts = measuredIn.map(
    (m) =>
      `${scenarioName(m.scenario)}: ours ${formatBytes(m.ours)} / rocksdb ${formatBytes(m.rocksdb)} = ${formatRatio(m.ours / m.rocksdb)}` +
      (m === judged ? ' (judged)' : ''),
  )
  if (judged === undefined) parts.unshift(`not measured on ${scenarioName({ ...HEADLINE, memory: 'large' })}`)
  const measured = judged === undefined ? undefined : judged.ours / judged.rocksdb
  return {
    id: DISK_TARGET_ID,
    label: `bytes on disk (large memory): ours <= ${DISK_REQUIRED}x rocksdb (uncompressed)`,
    required: DISK_REQUIRED,
    measured,
    pass: measured === undefined ? undefined : measured <= DISK_REQUIRED,
    detail: parts.join('; '),
  }
}
