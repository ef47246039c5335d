/** Readable tables and target verdicts for the index benchmark. */
import type { Distribution } from './datasets.js'
import type { RowResult, ShapeResult, SystemOutcome, TargetResult } from './results.js'
import type { SystemName } from './systems/system.js'

/** The targets ALEX must meet against sorted-btree, evaluated per distribution. */
export const TARGETS = {
  lookupRatioMin: 2,
  insertRatioMin: 1.5,
  indexBytesRatioMax: 1 / 100,
} as const

const COLUMN_WIDTH = 18

export function formatKeySet(
  rows: readonly RowResult[],
  shapes: readonly ShapeResult[],
  systemNames: readonly SystemName[],
  scanLength: number,
): string {
  const first = rows[0]
  if (first === undefined) return ''
  const lines: string[] = []
  lines.push(`\n${formatCount(first.keyCount)} keys · ${first.distribution}`)
  lines.push(`  ${formatOpCounts(rows, scanLength)}`)
  lines.push(
    '  ' +
      pad('workload', 24) +
      systemNames.map((name) => pad(name, COLUMN_WIDTH)).join('') +
      'alex/btree',
  )
  for (const row of rows) {
    lines.push('  ' + pad(`${row.workload} (${row.unit})`, 24) + systemNames.map((name) => pad(formatOutcome(row, name), COLUMN_WIDTH)).join('') + formatRatio(row.alexToBtree))
    if (row.workload === 'range scans') {
      lines.push(
        '  ' +
          pad('range scans (keys/s)', 24) +
          systemNames.map((name) => pad(formatOutcome(row, name, scanLength), COLUMN_WIDTH)).join('') +
          formatRatio(row.alexToBtree),
      )
    }
  }
  for (const row of rows) {
    for (const outcome of row.outcomes) {
      if (outcome.status === 'error' || outcome.checksumOk === false) {
        lines.push(`  !! ${outcome.system} ${row.workload}: ${outcome.status === 'error' ? 'FAILED' : 'WRONG RESULT'} — ${outcome.note ?? ''}`)
      }
    }
  }
  lines.push(...formatShapes(shapes))
  return lines.join('\n')
}

function formatOpCounts(rows: readonly RowResult[], scanLength: number): string {
  const parts = rows.map((row) => {
    const ops = row.opsPerRepetition
    switch (row.workload) {
      case 'mixed 50/50':
        return `mixed ${formatCount(ops / 2)} inserts + ${formatCount(ops / 2)} lookups`
      case 'range scans':
        return `scans ${formatCount(ops)} × ${scanLength} keys`
      default:
        return `${row.workload} ${formatCount(ops)}`
    }
  })
  const repetitions = rows[0]?.timedRepetitions ?? 0
  return `per repetition: ${parts.join('; ')} (${repetitions} timed + 1 warm-up)`
}

function formatShapes(shapes: readonly ShapeResult[]): string[] {
  const lines: string[] = []
  const afters = ['bulk load', 'mixed 50/50', 'inserts'] as const
  for (const after of afters) {
    const alex = shapes.find((s) => s.after === after && s.system === 'alex')
    const btree = shapes.find((s) => s.after === after && s.system === 'btree')
    if (alex === undefined && btree === undefined) continue
    const parts: string[] = []
    if (alex?.indexBytes !== undefined) parts.push(`alex ${formatBytes(alex.indexBytes)}`)
    if (btree?.indexBytes !== undefined) parts.push(`btree internal nodes ${formatBytes(btree.indexBytes)}`)
    if (alex?.indexBytes !== undefined && btree?.indexBytes !== undefined && btree.indexBytes > 0) {
      const ratio = alex.indexBytes / btree.indexBytes
      parts.push(`ratio ${ratio.toPrecision(3)} (${formatFraction(ratio)})`)
    }
    lines.push(`  ${pad(after === 'bulk load' ? 'index bytes' : '', 13)}${pad(`after ${after}:`, 21)}${parts.join(', ')}`)
  }
  for (const after of afters) {
    const alex = shapes.find((s) => s.after === after && s.system === 'alex')
    if (alex === undefined) continue
    const s = alex.shape
    lines.push(
      `  ${pad(after === 'bulk load' ? 'alex shape' : '', 13)}${pad(after === 'bulk load' ? 'after bulk+reads:' : `after ${after}:`, 21)}` +
        `maxDepth ${s['maxDepth']}, avgDepth ${fixed(s['avgDepth'], 2)}, dataNodes ${s['dataNodes']}, ` +
        `modelNodes ${s['modelNodes']}, avgSearchIterations ${fixed(s['avgSearchIterations'], 2)}, ` +
        `avgShiftsPerInsert ${fixed(s['avgShiftsPerInsert'], 2)}`,
    )
  }
  const btreeShape = shapes.find((s) => s.after === 'bulk load' && s.system === 'btree')
  if (btreeShape !== undefined) {
    const s = btreeShape.shape
    lines.push(`  ${pad('btree shape', 13)}${pad('after bulk load:', 21)}height ${s['height']}, leaves ${s['leafNodes']}, internal nodes ${s['internalNodes']}`)
  }
  const held = shapes.filter((s) => s.after === 'bulk load' && s.heldBytes !== undefined)
  if (held.length > 0) {
    lines.push(`  ${pad('memory', 13)}${pad('after bulk load:', 21)}${held.map((s) => `${s.system} ${formatBytes(s.heldBytes!)}`).join(', ')} (heap + external, whole structure)`)
  }
  return lines
}

export function evaluateTargets(
  rows: readonly RowResult[],
  shapes: readonly ShapeResult[],
  keyCount: number,
  distributions: readonly Distribution[],
): TargetResult[] {
  const targets: TargetResult[] = []
  for (const distribution of distributions) {
    const rowFor = (workload: string) => rows.find((r) => r.keyCount === keyCount && r.distribution === distribution && r.workload === workload)
    const ratioTarget = (target: string, workload: string, threshold: number): TargetResult => {
      const value = rowFor(workload)?.alexToBtree
      return {
        target,
        keyCount,
        distribution,
        ...(value === undefined ? {} : { value }),
        threshold,
        higherIsBetter: true,
        verdict: value === undefined ? 'n/a' : value >= threshold ? 'PASS' : 'MISS',
      }
    }
    targets.push(ratioTarget('lookups >= 2x sorted-btree', 'lookups', TARGETS.lookupRatioMin))
    targets.push(ratioTarget('inserts >= 1.5x sorted-btree', 'inserts', TARGETS.insertRatioMin))
    const shapeFor = (system: SystemName) =>
      shapes.find((s) => s.keyCount === keyCount && s.distribution === distribution && s.after === 'bulk load' && s.system === system)
    const alexBytes = shapeFor('alex')?.indexBytes
    const btreeBytes = shapeFor('btree')?.indexBytes
    const bytesRatio = alexBytes !== undefined && btreeBytes !== undefined && btreeBytes > 0 ? alexBytes / btreeBytes : undefined
    targets.push({
      target: 'index bytes <= 1/100 of sorted-btree internal nodes (after bulk load)',
      keyCount,
      distribution,
      ...(bytesRatio === undefined ? {} : { value: bytesRatio }),
      threshold: TARGETS.indexBytesRatioMax,
      higherIsBetter: false,
      verdict: bytesRatio === undefined ? 'n/a' : bytesRatio <= TARGETS.indexBytesRatioMax ? 'PASS' : 'MISS',
    })
  }
  return targets
}

export function formatTargets(targets: readonly TargetResult[], indicative: boolean): string {
  if (targets.length === 0) return ''
  const keyCount = targets[0]!.keyCount
  const lines = [
    `\nTargets at ${formatCount(keyCount)} keys (ALEX vs sorted-btree)` +
      (indicative ? ' — INDICATIVE ONLY: the targets are defined at 10,000,000 keys (run without --quick)' : ''),
  ]
  for (const target of targets) {
    const shown =
      target.value === undefined
        ? 'not measured'
        : target.higherIsBetter
          ? `${target.value.toFixed(2)}x`
          : `${target.value.toPrecision(3)} (${formatFraction(target.value)})`
    lines.push(`  ${pad(target.verdict, 6)}${pad(target.distribution, 11)}${pad(target.target, 72)}${shown}`)
  }
  return lines.join('\n')
}

function formatOutcome(row: RowResult, system: SystemName, multiplier = 1): string {
  const outcome: SystemOutcome | undefined = row.outcomes.find((o) => o.system === system)
  if (outcome === undefined) return '-'
  if (outcome.status === 'n/a') return 'n/a'
  if (outcome.status === 'error') return 'FAILED'
  const flag = outcome.checksumOk === false ? ' WRONG' : ''
  return `${formatRate(outcome.median! * multiplier)} ±${outcome.spreadPercent!.toFixed(0)}%${flag}`
}

function formatRatio(ratio: number | undefined): string {
  return ratio === undefined ? '-' : `${ratio.toFixed(2)}x`
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '?'
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`
  return perSecond.toFixed(0)
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${bytes} B`
}

export function formatCount(count: number): string {
  return count.toLocaleString('en-US')
}

/** A ratio below 1 as "1/N": 0.00489 -> "1/204", 0.809 -> "1/1.24". */
function formatFraction(ratio: number): string {
  if (!(ratio > 0)) return 'n/a'
  const inverse = 1 / ratio
  return `1/${inverse >= 100 ? inverse.toFixed(0) : inverse.toPrecision(3)}`
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits)
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length)
}
