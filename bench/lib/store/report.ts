/** The store benchmark's tables and target verdicts. */
import { median } from '../measure.js'
import { formatBytes, formatCount, formatRate } from '../report.js'
import type { CacheRunResult, DurableWriteResult, DurableWrites, Percentiles, PhaseName, PhaseResult, PoolDelta, RecoveryResult, TargetResult } from './results.js'

/** Targets with the cache larger than the data (issue: store benchmark). */
export const STORE_TARGETS = {
  getsPerSecondMin: 1_000_000,
  scanKeysPerSecondMin: 3_000_000,
} as const

const PHASE_WIDTH = 24
const CELL_WIDTH = 48

interface RowSpec {
  label: string
  phase: PhaseName
  cell: (phase: PhaseResult) => string
  pool?: boolean
}

const ROWS: readonly RowSpec[] = [
  { label: 'bulk load incl. close', phase: 'bulk load', cell: (p) => `${formatRate(p.median)} keys/s`, pool: true },
  { label: '  of which close', phase: 'bulk load', cell: (p) => `${formatMs((p.extra?.['closeSeconds'] ?? Number.NaN) * 1000)}` },
  { label: 'reopen', phase: 'reopen', cell: (p) => `${formatMs(p.median)} ${spread(p)}` },
  { label: 'random get', phase: 'random get', cell: (p) => `${formatRate(p.median)} ops/s ${spread(p)}`, pool: true },
  { label: 'range scan (limit 100)', phase: 'range scan', cell: (p) => `${formatRate(p.median)} keys/s ${spread(p)}`, pool: true },
  { label: 'random put (await each)', phase: 'random put', cell: (p) => `${formatRate(p.median)} ops/s`, pool: true },
  { label: '  incl. the close', phase: 'random put', cell: (p) => `${formatRate(p.extra?.['opsPerSecondIncludingClose'] ?? Number.NaN)} ops/s` },
  { label: 'close after puts', phase: 'close after puts', cell: (p) => formatMs(p.median) },
  { label: 'reopen after puts', phase: 'reopen after puts', cell: (p) => formatMs(p.median) },
]

const LATENCY_ROWS: readonly { label: string; phase: PhaseName }[] = [
  { label: 'get (own pass)', phase: 'get latency' },
  { label: 'range scan (per scan)', phase: 'range scan' },
  { label: 'random put', phase: 'random put' },
]

/** One table per page size: phases down, cache settings across. */
export function formatPageSize(runs: readonly CacheRunResult[], keyCount: number): string {
  const first = runs[0]
  if (first === undefined) return ''
  const pageSize = first.pageSizeBytes ?? first.requestedPageSizeBytes
  const lines: string[] = []
  lines.push(`\npage size ${pageSize === undefined ? '?' : formatCount(pageSize)} B${first.requestedPageSizeBytes === undefined ? ' (store default)' : ''} · ${formatCount(keyCount)} keys`)
  lines.push('  ' + pad('', PHASE_WIDTH) + runs.map((r) => pad(`cache ${r.cacheSetting} = ${formatBytes(r.cacheBytes)} (${(r.cacheBytes / r.dataBytes).toFixed(2)}x data)`, CELL_WIDTH)).join(''))
  lines.push('  ' + pad('phase', PHASE_WIDTH) + runs.map(() => pad('rate            hit%    pages read', CELL_WIDTH)).join(''))
  for (const row of ROWS) {
    const cells = runs.map((run) => {
      const phase = run.phases.find((p) => p.phase === row.phase)
      if (phase === undefined) return pad(run.error === undefined ? '-' : 'FAILED', CELL_WIDTH)
      const main = pad(row.cell(phase), 16)
      return pad(row.pool === true && phase.pool !== undefined ? main + poolCells(phase.pool) : main, CELL_WIDTH)
    })
    lines.push('  ' + pad(row.label, PHASE_WIDTH) + cells.join(''))
  }
  lines.push('  ' + pad('latency µs p50/p99/p99.9', PHASE_WIDTH))
  for (const row of LATENCY_ROWS) {
    const cells = runs.map((run) => pad(formatPercentiles(run.phases.find((p) => p.phase === row.phase)?.latencyUs), CELL_WIDTH))
    lines.push('  ' + pad(`  ${row.label}`, PHASE_WIDTH) + cells.join(''))
  }
  lines.push('  ' + pad('bytes on disk', PHASE_WIDTH) + runs.map((r) => pad(formatShape(r, 'afterLoad'), CELL_WIDTH)).join(''))
  lines.push('  ' + pad('  after puts', PHASE_WIDTH) + runs.map((r) => pad(formatShape(r, 'afterPuts'), CELL_WIDTH)).join(''))
  lines.push('  ' + pad('pages after load', PHASE_WIDTH) + runs.map((r) => pad(formatPages(r, 'afterLoad'), CELL_WIDTH)).join(''))
  lines.push('  ' + pad('  after puts', PHASE_WIDTH) + runs.map((r) => pad(formatPages(r, 'afterPuts'), CELL_WIDTH)).join(''))
  lines.push('  ' + pad('JS memory of open store', PHASE_WIDTH) + runs.map((r) => pad(formatHeld(r), CELL_WIDTH)).join(''))
  lines.push('  ' + pad('bulk load written', PHASE_WIDTH) + runs.map((r) => pad(formatWritten(r), CELL_WIDTH)).join(''))
  for (const run of runs) {
    if (run.error !== undefined) lines.push(`  !! cache ${run.cacheSetting}: FAILED — ${run.error}`)
    for (const v of run.verifications) {
      if (v.mismatches > 0) lines.push(`  !! cache ${run.cacheSetting}: ${v.check}: ${formatCount(v.mismatches)} of ${formatCount(v.checked)} wrong; first: ${v.firstMismatch ?? '?'}`)
    }
  }
  return lines.join('\n')
}

function poolCells(pool: PoolDelta): string {
  const lookups = pool.hits + pool.misses
  const hitRate = lookups === 0 ? '-' : `${((pool.hits / lookups) * 100).toFixed(1)}%`
  return pad(hitRate, 8) + formatCount(pool.pagesRead)
}

function formatShape(run: CacheRunResult, which: 'afterLoad' | 'afterPuts'): string {
  const shape = run[which]
  if (shape === undefined) return '-'
  const dir = shape.directoryBytes !== shape.bytesOnDisk ? `, dir ${formatBytes(shape.directoryBytes)}` : ''
  return `${formatBytes(shape.bytesOnDisk)} = ${shape.spaceAmplification.toFixed(2)}x raw (${formatBytes(shape.directoryAllocatedBytes)} allocated${dir})`
}

function formatPages(run: CacheRunResult, which: 'afterLoad' | 'afterPuts'): string {
  const pages = run[which]?.pages
  if (pages === undefined) return '-'
  return `${formatCount(pages.total)}: leaf ${formatCount(pages.leaf)}, value ${formatCount(pages.value)}, free ${formatCount(pages.free + pages.pendingFree)}`
}

/** Heap + external bytes the process gained by opening the loaded store (index in memory and pool frames). */
function formatHeld(run: CacheRunResult): string {
  const held = run.phases.find((p) => p.phase === 'reopen')?.extra?.['heldAfterOpenBytes']
  return held === undefined ? '-' : `${formatBytes(held)} after open (heap + external)`
}

function formatWritten(run: CacheRunResult): string {
  const io = run.phases.find((p) => p.phase === 'bulk load')?.io
  return io === undefined ? '-' : `${formatBytes(io.writeBytes)} in ${formatCount(io.writeCalls)} writes`
}

function formatPercentiles(p: Percentiles | undefined): string {
  if (p === undefined) return '-'
  return `${num(p.p50)} / ${num(p.p99)} / ${num(p.p999)}`
}

function num(us: number): string {
  if (!Number.isFinite(us)) return '?'
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2)
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`
}

function spread(phase: PhaseResult): string {
  return phase.samples.length < 2 ? '' : `±${phase.spreadPercent.toFixed(0)}%`
}

/** Targets per page size, judged on the run whose cache is larger than the data. */
export function evaluateTargets(runs: readonly CacheRunResult[]): TargetResult[] {
  const targets: TargetResult[] = []
  for (const run of runs) {
    if (run.cacheSetting !== 'big') continue
    const trusted = run.error === undefined && run.verifications.every((v) => v.mismatches === 0)
    const bigEnough = run.cacheBytes > (run.afterLoad?.bytesOnDisk ?? Number.POSITIVE_INFINITY)
    const judge = (target: string, phase: PhaseName, threshold: number): TargetResult => {
      const value = run.phases.find((p) => p.phase === phase)?.median
      const base = { target, ...(run.pageSizeBytes === undefined ? {} : { pageSizeBytes: run.pageSizeBytes }), threshold }
      if (!trusted) return { ...base, verdict: 'n/a', note: 'the run failed or returned wrong results' }
      if (!bigEnough) return { ...base, verdict: 'n/a', note: 'the cache was not larger than the data' }
      if (value === undefined || !Number.isFinite(value)) return { ...base, verdict: 'n/a', note: 'not measured' }
      return { ...base, value, verdict: value >= threshold ? 'PASS' : 'MISS' }
    }
    targets.push(judge('synchronous get >= 1,000,000/s', 'random get', STORE_TARGETS.getsPerSecondMin))
    targets.push(judge('range scans >= 3,000,000 keys/s', 'range scan', STORE_TARGETS.scanKeysPerSecondMin))
  }
  return targets
}

export function formatTargets(targets: readonly TargetResult[], indicativeNote: string | undefined): string {
  if (targets.length === 0) return '\nTargets: not judged (they need a run with the cache larger than the data: --cache-fractions big)'
  const lines = [`\nTargets, cache larger than the data${indicativeNote === undefined ? '' : ` — ${indicativeNote}`}`]
  for (const t of targets) {
    const shown = t.value === undefined ? (t.note ?? 'not measured') : `${formatRate(t.value)} (${(t.value / t.threshold).toFixed(2)}x the target)`
    lines.push(`  ${pad(t.verdict, 6)}${pad(`page ${t.pageSizeBytes ?? '?'} B`, 14)}${pad(t.target, 36)}${shown}`)
  }
  return lines.join('\n')
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length)
}

// ---- the WAL phases: durable writes and recovery ------------------------------------------------

export const WAL_TARGETS = {
  /** At 'fsync', 256 writers in flight against 1: what group commit must deliver. */
  groupCommitSpeedupMin: 50,
  groupCommitWriters: 256,
  /** Records replayed per second of open() after a kill with the records only in the log. */
  recoveryRecordsPerSecondMin: 1_000_000,
  recoveryRecords: 1_000_000,
} as const

/** puts/s of `writers` writers at `level` over puts/s of 1 writer, or undefined if either is missing. */
export function writerSpeedup(results: readonly DurableWriteResult[], level: string, writers: number): number | undefined {
  const one = results.find((r) => r.durability === level && r.writers === 1)
  const many = results.find((r) => r.durability === level && r.writers === writers)
  if (one === undefined || many === undefined || !(one.median > 0) || !Number.isFinite(many.median)) return undefined
  return many.median / one.median
}

/** The many-writer over the single-writer rate within each repetition (the runs are interleaved). */
export function pairedSpeedups(results: readonly DurableWriteResult[], level: string, writers: number): number[] {
  const one = results.find((r) => r.durability === level && r.writers === 1)
  const many = results.find((r) => r.durability === level && r.writers === writers)
  if (one === undefined || many === undefined) return []
  const ratios: number[] = []
  for (const run of many.runs) {
    const base = one.runs.find((o) => o.repetition === run.repetition)
    if (base !== undefined && base.putsPerSecond > 0) ratios.push(run.putsPerSecond / base.putsPerSecond)
  }
  return ratios
}

export function formatDurableWrites(durable: DurableWrites, describe: string): string {
  const results = durable.results
  const lines = [`\nDurable single writes — ${describe}`]
  const raw = durable.rawSync
  if (raw !== undefined) {
    lines.push(
      `  raw disk, same file system: ${formatRate(raw.median)} write(64 B) + fdatasync per second ${raw.samples.length < 2 ? '' : `±${raw.spreadPercent.toFixed(0)}%`} ` +
        `(latency µs ${formatPercentiles(raw.latencyUs)}), in place in a preallocated file: about what 1 fsync writer can reach`,
    )
  }
  const header = ['level', 'writers', 'puts/s (median ±spread)', 'vs 1 writer', 'puts', 'log writes', 'syncs', 'records/write', 'records/sync', 'latency µs p50 / p99 / p99.9', 'close']
  const widths = [7, 9, 24, 13, 11, 12, 9, 15, 14, 30, 8]
  lines.push('  ' + header.map((h, i) => pad(h, widths[i]!)).join(''))
  for (const r of results) {
    const speedup = writerSpeedup(results, r.durability, r.writers)
    const closeMs = median(r.runs.map((run) => run.closeMs))
    const cells = [
      r.durability,
      String(r.writers),
      r.error !== undefined && r.samples.length === 0 ? 'FAILED' : `${formatRate(r.median)} ${r.samples.length < 2 ? '' : `±${r.spreadPercent.toFixed(0)}%`}`,
      speedup === undefined ? '-' : `${speedup.toFixed(1)}x`,
      formatCount(r.puts),
      formatCount(r.groups),
      formatCount(r.syncs),
      Number.isFinite(r.recordsPerGroup) ? r.recordsPerGroup.toFixed(1) : '-',
      Number.isFinite(r.recordsPerSync) ? r.recordsPerSync.toFixed(1) : '-',
      formatPercentiles(r.latencyUs),
      formatMs(closeMs),
    ]
    lines.push('  ' + cells.map((c, i) => pad(c, widths[i]!)).join(''))
  }
  const writers = WAL_TARGETS.groupCommitWriters
  const paired = pairedSpeedups(results, 'fsync', writers)
  if (paired.length > 0) {
    lines.push(`  fsync ${writers} writers / 1 writer within each repetition: ${paired.map((x) => `${x.toFixed(1)}x`).join(', ')} (median ${median(paired).toFixed(1)}x)`)
  }
  for (const r of results) {
    if (r.error !== undefined) lines.push(`  !! ${r.durability} ${r.writers} writers: FAILED — ${r.error}`)
    if (r.verification.mismatches > 0) lines.push(`  !! ${r.durability} ${r.writers} writers: ${formatCount(r.verification.mismatches)} of ${formatCount(r.verification.checked)} wrong; first: ${r.verification.firstMismatch ?? '?'}`)
  }
  return lines.join('\n')
}

export function formatRecovery(result: RecoveryResult): string {
  const lines = [`\nRecovery after a kill — ${formatCount(result.records)} single-put records in the log, no checkpoint after the store's creation`]
  const child = result.child
  if (child !== undefined) {
    lines.push(
      `  writer child: ${formatRate(child.putsPerSecond)} puts/s at 'os' with ${child.writers} in flight (${child.seconds.toFixed(2)} s, ${formatCount(child.groups)} log writes); ` +
        `log ${formatBytes(child.walFileBytes)} (${(child.walFileBytes / child.records).toFixed(1)} B/record) in ${child.walSegments} segment(s); ended by ${result.childExit ?? '?'}`,
    )
  }
  if (result.opens.length > 0) {
    lines.push(
      `  open() after the kill: ${formatMs(result.openMsMedian)} (median of ${result.opens.length}: ${result.opens.map((o) => formatMs(o.openMs)).join(', ')}), ` +
        `of which log replay ${formatMs(result.replayMsMedian)}`,
    )
    lines.push(`  replay rate: ${formatRate(result.recordsPerSecondByOpen)} records/s by open() wall time, ${formatRate(result.recordsPerSecondByReplay)} records/s by stats().recovery.replayMs`)
    const first = result.opens[0]!
    lines.push(
      `  first open: ${formatCount(first.replayedRecords)} replayed, ${formatCount(first.records)} keys, dropped ${formatBytes(first.droppedBytes)}, leaked pages freed ${formatCount(first.leakedPages)}` +
        `${first.stoppedBecause === null ? '' : `, log reading stopped because: ${first.stoppedBecause}`}; ` +
        `JS memory after open ${formatBytes(first.heldAfterOpenBytes)}; close (checkpoint of the replayed records) ${formatMs(first.closeMs)}`,
    )
  }
  if (result.error !== undefined) lines.push(`  !! FAILED — ${result.error}`)
  for (const v of result.verifications) {
    if (v.mismatches > 0) lines.push(`  !! ${v.check}: ${formatCount(v.mismatches)} of ${formatCount(v.checked)} wrong; first: ${v.firstMismatch ?? '?'}`)
  }
  return lines.join('\n')
}

export interface WalTarget extends TargetResult {
  /** How the value is shown: a ratio or a rate. */
  unit: 'x' | 'records/s'
}

export function evaluateWalTargets(durableWrites: DurableWrites | undefined, recovery: RecoveryResult | undefined): WalTarget[] {
  const targets: WalTarget[] = []
  if (durableWrites !== undefined) {
    const durable = durableWrites.results
    const writers = WAL_TARGETS.groupCommitWriters
    const base = { target: `fsync puts, ${writers} writers >= ${WAL_TARGETS.groupCommitSpeedupMin}x 1 writer`, threshold: WAL_TARGETS.groupCommitSpeedupMin, unit: 'x' as const }
    const involved = durable.filter((r) => r.durability === 'fsync' && (r.writers === 1 || r.writers === writers))
    const speedup = writerSpeedup(durable, 'fsync', writers)
    if (involved.some((r) => r.error !== undefined || r.verification.mismatches > 0)) targets.push({ ...base, verdict: 'n/a', note: 'a run failed or read back wrong values' })
    else if (speedup === undefined) targets.push({ ...base, verdict: 'n/a', note: `not measured (needs fsync with 1 and ${writers} writers)` })
    else targets.push({ ...base, value: speedup, verdict: speedup >= base.threshold ? 'PASS' : 'MISS' })
  }
  if (recovery !== undefined) {
    const trusted = recovery.error === undefined && recovery.verifications.every((v) => v.mismatches === 0)
    for (const [label, value] of [
      ['open() after kill >= 1M replayed records/s', recovery.recordsPerSecondByOpen],
      ['  log replay alone (replayMs), same bar', recovery.recordsPerSecondByReplay],
    ] as const) {
      const base = { target: label, threshold: WAL_TARGETS.recoveryRecordsPerSecondMin, unit: 'records/s' as const }
      if (!trusted) targets.push({ ...base, verdict: 'n/a', note: 'the run failed or recovered wrong contents' })
      else if (!Number.isFinite(value)) targets.push({ ...base, verdict: 'n/a', note: 'not measured' })
      else targets.push({ ...base, value, verdict: value >= base.threshold ? 'PASS' : 'MISS' })
    }
  }
  return targets
}

export function formatWalTargets(targets: readonly WalTarget[], recoveryNote: string | undefined): string {
  if (targets.length === 0) return ''
  const lines = ['\nTargets, write-ahead log']
  for (const t of targets) {
    const note = t.unit === 'records/s' && recoveryNote !== undefined ? ` — ${recoveryNote}` : ''
    const shown =
      t.value === undefined ? (t.note ?? 'not measured') : t.unit === 'x' ? `${t.value.toFixed(1)}x (${(t.value / t.threshold).toFixed(2)} of the target)` : `${formatRate(t.value)} records/s (${(t.value / t.threshold).toFixed(2)}x the target)`
    lines.push(`  ${pad(t.verdict, 6)}${pad(t.target, 48)}${shown}${note}`)
  }
  return lines.join('\n')
}
