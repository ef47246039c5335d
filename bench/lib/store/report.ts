/** The store benchmark's tables and target verdicts. */
import { formatBytes, formatCount, formatRate } from '../report.js'
import type { CacheRunResult, Percentiles, PhaseName, PhaseResult, PoolDelta, TargetResult } from './results.js'

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
