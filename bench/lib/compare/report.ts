/** Plain-text tables (terminal) and a compact markdown summary (README) of the comparison benchmark. */
import { formatBytes, formatCount, formatRate } from '../report.js'
import {
  BASELINES,
  OURS,
  PER_WRITE_MARK,
  type Scenario,
  type TargetVerdict,
  compare,
  findResult,
  formatRatio,
  isPerWriteVariant,
  isUpperBound,
  scenarioName,
  scenarios,
  workloadRows,
} from './targets.js'
import { SYSTEM_NAMES, type CompareResults, type SystemRun, type WorkloadName, type WorkloadResult } from './types.js'

type Align = 'l' | 'r'

/** Fixed-width columns sized to the widest cell; numbers right-aligned. */
function table(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[], indent = '  '): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    indent +
    cells
      .map((cell, i) => {
        const width = widths[i] ?? cell.length
        return align[i] === 'r' ? cell.padStart(width) : cell.padEnd(width)
      })
      .join('  ')
      .trimEnd()
  return [line(headers), indent + widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)]
}

const UNIT_SUFFIX: Record<WorkloadResult['unit'], string> = { ops: '', keys: ' (keys/s)', records: ' (records/s)' }

function rate(result: WorkloadResult | undefined, run?: SystemRun): string {
  if (result === undefined) return run?.memoryCap?.killed === 'memory' ? KILLED : '-'
  return `${formatRate(result.perSecond)}/s${result.wrong > 0 ? ' WRONG' : ''}`
}

/** A workload a system did not finish because the OOM killer ended it under the memory cap. */
const KILLED = 'killed: memory'

function micros(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-'
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : formatRate(value)
}

function percent(fraction: number | undefined): string {
  return fraction === undefined || !Number.isFinite(fraction) ? '-' : `${(fraction * 100).toFixed(1)}%`
}

/** A column of a scenario table: one system's run (RocksDB may have a second, per-write run). */
interface Column {
  run: SystemRun
  label: string
  perWrite: boolean
}

/** Full name (settings, notes); tables use the short one, explained under the table. */
function columnLabel(run: SystemRun): string {
  return isPerWriteVariant(run) ? `${run.system} (${PER_WRITE_MARK})` : run.system
}

function shortLabel(run: SystemRun): string {
  return isPerWriteVariant(run) ? `${run.system} per-put` : run.system
}

function columnsOf(scenario: Scenario): Column[] {
  const rank = (run: SystemRun) => SYSTEM_NAMES.indexOf(run.system) * 2 + (isPerWriteVariant(run) ? 1 : 0)
  const seen = new Set<string>()
  const columns: Column[] = []
  for (const run of [...scenario.runs].sort((a, b) => rank(a) - rank(b))) {
    const label = columnLabel(run)
    if (seen.has(label)) continue
    seen.add(label)
    columns.push({ run, label: shortLabel(run), perWrite: isPerWriteVariant(run) })
  }
  return columns
}

function scenarioHeading(s: Scenario): string {
  const share = s.rawBytes > 0 ? ` = ${((s.memoryBytes / s.rawBytes) * 100).toFixed(0)}% of raw data` : ''
  return `${s.dataset} · ${s.valueBytes}-byte values · ${formatCount(s.keyCount)} keys · memory ${s.memory} (budget ${formatBytes(s.memoryBytes)}${share})`
}

function renderScenario(s: Scenario): string[] {
  const columns = columnsOf(s)
  const ours = columns.find((c) => c.run.system === OURS)
  const others = columns.filter((c) => c !== ours)
  const ratioColumns = others.filter((c) => (BASELINES as readonly string[]).includes(c.run.system))
  const headers = ['workload', 'durability']
  if (ours !== undefined) headers.push(ours.label, 'p50 µs', 'p99 µs', 'p99.9 µs')
  headers.push(...others.map((c) => c.label), ...ratioColumns.map((c) => `ours/${c.label}`))
  const rows = workloadRows(s).map(({ workload, durability }) => {
    const anyResult = columns.map((c) => findResult(c.run, workload, durability)).find((r) => r !== undefined)
    const row = [`${workload}${UNIT_SUFFIX[anyResult?.unit ?? 'ops']}`, durability]
    if (ours !== undefined) {
      const mine = findResult(ours.run, workload, durability)
      row.push(rate(mine, ours.run), micros(mine?.latency?.p50), micros(mine?.latency?.p99), micros(mine?.latency?.p999))
    }
    row.push(...others.map((c) => rate(findResult(c.run, workload, durability), c.run)))
    row.push(...ratioColumns.map((c) => formatRatio(compare(s, workload, durability, c.run.system, c.perWrite)?.ratio)))
    return row
  })
  const lines = [`\n== ${scenarioHeading(s)} ==`]
  lines.push(...table(headers, rows, headers.map((_, i) => (i < 2 ? 'l' : 'r'))))
  for (const c of columns.filter((c) => c.perWrite)) {
    lines.push(`  ${c.label}: the ${c.run.system} run whose settings say '${PER_WRITE_MARK}' (targets use the other run)`)
  }

  const getWorkloads = workloadRows(s)
    .map((r) => r.workload)
    .filter((w, i, all): w is WorkloadName => w.startsWith('get-') && all.indexOf(w) === i)
  const systemHeaders = ['system', 'on disk', 'space amp', 'peak RSS', ...getWorkloads.map((w) => `hit ${w}`), 'wrong']
  const systemRows = columns.map((c) => [
    c.label,
    formatBytes(c.run.diskBytes),
    c.run.rawBytes > 0 ? `${(c.run.diskBytes / c.run.rawBytes).toFixed(2)}x` : '-',
    c.run.peakRssBytes > 0 ? formatBytes(c.run.peakRssBytes) : '-',
    ...getWorkloads.map((w) => percent(findResult(c.run, w)?.hitRate)),
    String(wrongTotal(c.run)),
  ])
  lines.push('')
  lines.push(...table(systemHeaders, systemRows, systemHeaders.map((_, i) => (i === 0 ? 'l' : 'r'))))
  lines.push(...renderMemoryCap(s, columns))

  for (const c of columns) {
    if (c.run.error !== undefined) lines.push(`  !!! ${c.label} FAILED: ${c.run.error}`)
    const wrong = c.run.results.filter((r) => r.wrong > 0)
    if (wrong.length > 0) {
      lines.push(
        `  !!! WRONG ANSWERS: ${c.label} gave ${wrongTotal(c.run)} wrong answers (` +
          wrong.map((r) => `${r.workload} ${r.wrong}`).join(', ') +
          `) — its figures are invalid !!!`,
      )
    }
    for (const r of c.run.results) {
      const extra = Object.entries(r.extra ?? {}).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(4)}`)
      if (r.note !== undefined || extra.length > 0) {
        lines.push(`  note: ${c.label} ${r.workload}: ${[r.note, ...extra].filter((p) => p !== undefined).join('; ')}`)
      }
    }
  }
  return lines
}

/**
 * The small-memory condition's cap (enforced or not, its size and how it was found), each system's
 * memory under it, and what each workload read per operation.
 */
function renderMemoryCap(s: Scenario, columns: readonly Column[]): string[] {
  const capped = columns.filter((c) => c.run.memoryCap !== undefined)
  const first = capped[0]?.run.memoryCap
  if (first === undefined) return []
  const lines = ['']
  const caps = [...new Set(capped.map((c) => c.run.memoryCap!.capBytes))]
  const enforced = capped.every((c) => c.run.memoryCap!.enforced)
  const someEnforced = capped.some((c) => c.run.memoryCap!.enforced)
  const capText = caps.map((b) => (b === undefined ? 'none' : formatBytes(b))).join(' / ')
  const sum = first.allowanceBytes === undefined ? '' : ` = budget ${formatBytes(first.budgetBytes)} + allowance ${formatBytes(first.allowanceBytes)}`
  lines.push(
    `  memory cap: ${enforced ? 'ENFORCED' : someEnforced ? 'PARTLY ENFORCED' : 'NOT ENFORCED'}, ${capText}${sum}, the same for every system, page cache included`,
    `    how: ${first.mechanism}`,
    `    allowance: ${first.allowanceSource}`,
    `    cold start: ${first.coldStart}`,
  )
  const device = first.device
  if (device !== undefined) {
    if ('skipped' in device) lines.push(`    device: not measured (${device.skipped})`)
    else {
      lines.push(
        `    device: 4 KiB random reads ${formatRate(device.qd1PerSecond)}/s at queue depth 1, ${formatRate(device.deepPerSecond)}/s at depth ${device.deepDepth} (${formatPerOp(device.qd1DeviceBytesPerRead)} and ${formatPerOp(device.deepDeviceBytesPerRead)} from the device per read)`,
        `      ${device.how}`,
      )
      for (const c of capped) {
        const r = findResult(c.run, 'get-uniform')
        if (r === undefined || r.io === undefined || r.io.ops === 0) continue
        const pagesPerGet = r.io.readBytes / r.io.ops / 4096
        const readsPerSecond = r.perSecond * pagesPerGet
        lines.push(
          `      ${c.label} uniform gets: ${formatRate(r.perSecond)}/s = ${(r.perSecond / device.qd1PerSecond).toFixed(2)}x the depth-1 read rate; ${pagesPerGet.toFixed(2)} device pages a get = ${formatRate(readsPerSecond)} reads/s, ${percent(readsPerSecond / device.deepPerSecond)} of the depth-${device.deepDepth} rate`,
        )
      }
    }
  }
  const headers = ['system', 'outcome', 'cgroup peak', 'peak RSS', 'idle peak', 'idle RSS', 'load peak RSS', 'limit hits', 'store cached at start']
  const rows = capped.map((c) => {
    const m = c.run.memoryCap!
    const outcome = m.killed === 'memory' ? `${KILLED} (during ${m.killedDuring ?? '?'})` : c.run.error !== undefined ? 'FAILED' : 'ok'
    const cached = m.cachedBytesAtStart === undefined ? '-' : `${formatBytes(m.cachedBytesAtStart)} of ${formatBytes(m.storeBytesAtStart ?? 0)}`
    return [c.label, outcome, bytesOr(m.peakUsageBytes), bytesOr(m.peakRssBytes), bytesOr(m.idlePeakBytes), bytesOr(m.idlePeakRssBytes), bytesOr(m.loadPeakRssBytes), m.limitHits === undefined ? '-' : String(m.limitHits), cached]
  })
  lines.push(...table(headers, rows, headers.map((_, i) => (i < 2 ? 'l' : 'r'))))
  lines.push(
    '    cgroup peak: the measured phase\'s group (anonymous memory, page cache, kernel memory); peak RSS: that child\'s VmHWM;',
    '    idle: an idle child of the system (its cgroup peak is what the allowance is the largest of); load: the uncapped load child',
  )

  // The bulk load ran uncapped, in the load child: not a figure of the capped phase.
  const workloads = workloadRows(s).filter(({ workload }) => workload !== 'bulk-load' && capped.some((c) => findResult(c.run, workload)?.io !== undefined))
  if (workloads.length === 0) return lines
  lines.push('', '  reads per operation under the cap (device: /proc/<pid>/io read_bytes, block-device reads only, page-cache hits not counted,')
  lines.push('  4 KiB pages = read_bytes / 4096; syscall: rchar, bytes through read calls incl. page-cache hits, mmap reads not; scans: per 100-key scan)')
  const ioHeaders = ['workload', ...capped.map((c) => c.label)]
  const ioRows = workloads.map(({ workload, durability }) => [
    workload,
    ...capped.map((c) => {
      const r = findResult(c.run, workload, durability)
      if (r === undefined) return c.run.memoryCap?.killed === 'memory' ? KILLED : '-'
      return ioCell(r, c.run)
    }),
  ])
  lines.push(...table(ioHeaders, ioRows, ioHeaders.map((_, i) => (i === 0 ? 'l' : 'r'))))
  return lines
}

/** "device 1.2 KiB (0.30 pg), syscall 4.0 KiB, hit 9.0%" for one workload of one system. */
function ioCell(r: WorkloadResult, run: SystemRun): string {
  const hit = r.hitRate !== undefined ? percent(r.hitRate) : run.system === 'learned-storage' || run.system === 'rocksdb+cache' ? '-' : 'n/a'
  if (r.io === undefined || r.io.ops === 0) return `hit ${hit}`
  const perOp = (bytes: number): number => bytes / r.io!.ops
  const device = perOp(r.io.readBytes)
  return `device ${formatPerOp(device)} (${(device / 4096).toFixed(2)} pg), syscall ${formatPerOp(perOp(r.io.rchar))}, hit ${hit}`
}

function formatPerOp(bytes: number): string {
  return bytes >= 1024 ? formatBytes(Math.round(bytes)) : `${bytes.toFixed(bytes < 10 ? 1 : 0)} B`
}

function bytesOr(bytes: number | undefined): string {
  return bytes === undefined ? '-' : formatBytes(bytes)
}

function wrongTotal(run: SystemRun): number {
  return run.results.reduce((sum, r) => sum + r.wrong, 0)
}

function statusOf(v: TargetVerdict): string {
  return v.pass === undefined ? 'not measured' : v.pass ? 'PASS' : 'MISS'
}

function requiredText(v: TargetVerdict): string {
  return `${isUpperBound(v) ? '<=' : '>='} ${formatRatio(v.required)}`
}

export function renderVerdicts(verdicts: readonly TargetVerdict[]): string[] {
  const counts = (['PASS', 'MISS', 'not measured'] as const).map((s) => `${verdicts.filter((v) => statusOf(v) === s).length} ${s}`)
  const lines = [`\nTargets (judged on uniform, 16-byte values): ${counts.join(', ')}`]
  const rows = verdicts.map((v) => [statusOf(v), v.label, requiredText(v), formatRatio(v.measured)])
  const body = table(['verdict', 'target', 'required', 'measured'], rows, ['l', 'l', 'r', 'r'])
  lines.push(...body.slice(0, 2))
  verdicts.forEach((v, i) => {
    lines.push(body[i + 2] ?? '')
    if (v.detail !== '') lines.push(`      ${v.detail}`)
  })
  return lines
}

export function renderReport(results: CompareResults, verdicts: TargetVerdict[]): string {
  const m = results.machine
  const lines = [
    `learned-storage vs RocksDB, RocksDB + lru-cache, LMDB — scale ${results.scale}, ${formatCount(results.keyCount)} keys, ` +
      `seed ${results.seed}, median of ${results.repetitions} repetitions`,
    `started ${results.startedAt} · ${results.command}`,
    `machine: ${m.cpuModel} × ${m.cpus}, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}`,
    `throughput per second of ops (scans: keys, recovery: records); ratios > 1x mean ours is faster`,
  ]
  if (results.memoryCap !== undefined) lines.push(results.memoryCap)
  for (const s of scenarios(results)) lines.push(...renderScenario(s))

  const wrong = results.runs.reduce((sum, run) => sum + wrongTotal(run), 0)
  lines.push('')
  lines.push(
    wrong === 0
      ? 'wrong answers: 0 (every system, every workload)'
      : `!!!!!! WRONG ANSWERS: ${wrong} in total — results with wrong answers are invalid !!!!!!`,
  )
  const failed = results.runs.filter((r) => r.error !== undefined)
  if (failed.length > 0) lines.push(`!!!!!! ${failed.length} run(s) FAILED: ${failed.map((r) => `${columnLabel(r)} ${scenarioName(r)}`).join(', ')}`)

  lines.push('\nSettings')
  const settings = new Map<string, string[]>()
  for (const run of [...results.runs].sort((a, b) => SYSTEM_NAMES.indexOf(a.system) - SYSTEM_NAMES.indexOf(b.system))) {
    const label = columnLabel(run)
    const list = settings.get(label) ?? []
    for (const setting of run.settings) if (!list.includes(setting)) list.push(setting)
    settings.set(label, list)
  }
  for (const [label, list] of settings) {
    lines.push(`  ${label}:`)
    lines.push(...(list.length === 0 ? ['    (none reported)'] : list.map((s) => `    - ${s}`)))
  }
  lines.push(...renderVerdicts(verdicts))
  if (results.keyCount !== TARGET_KEY_COUNT) {
    lines.push(
      `  (the targets are set for ${formatCount(TARGET_KEY_COUNT)} keys: \`npm run bench -- --scale 10m\`. At ${formatCount(results.keyCount)} keys they are a guide only:`,
      '   fixed costs, such as the syncs of a load, weigh more in a smaller run.)',
    )
  }
  return lines.join('\n') + '\n'
}

/** The key count the issue's target ratios are set for. */
const TARGET_KEY_COUNT = 10_000_000

/** Escapes what would break a table cell or open an HTML tag; '>=' and '<=' stay readable. */
function md(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/<(?=[A-Za-z/!?])/g, '&lt;')
}

export function renderMarkdownSummary(results: CompareResults, verdicts: TargetVerdict[]): string {
  const all = scenarios(results)
  const first = all[0]
  const headline = all.filter((s) => first !== undefined && s.dataset === first.dataset && s.valueBytes === first.valueBytes)
  const m = results.machine
  const lines = [
    `**${first === undefined ? 'no runs' : md(`${first.dataset}, ${first.valueBytes}-byte values`)}**, ${formatCount(results.keyCount)} keys ` +
      `(scale ${md(results.scale)}), ${md(m.cpuModel)} × ${m.cpus}, node ${md(m.node)}, ${md(results.startedAt.slice(0, 10))}. ` +
      `Throughput per second (scans: keys/s); ratios are ours / baseline.`,
    '',
    `| memory | workload | ${SYSTEM_NAMES.join(' | ')} | ${BASELINES.map((b) => `vs ${b}`).join(' | ')} |`,
    `|---|---|${SYSTEM_NAMES.map(() => '--:').join('|')}|${BASELINES.map(() => '--:').join('|')}|`,
  ]
  for (const s of headline) {
    for (const { workload, durability } of workloadRows(s)) {
      const cells = SYSTEM_NAMES.map((name) => {
        const run = s.runs.find((r) => r.system === name && !isPerWriteVariant(r))
        return rate(findResult(run, workload, durability), run)
      })
      const ratios = BASELINES.map((b) => formatRatio(compare(s, workload, durability, b)?.ratio))
      lines.push(`| ${s.memory} | ${workload} (${durability}) | ${cells.join(' | ')} | ${ratios.join(' | ')} |`)
    }
  }
  const cap = headline.flatMap((s) => s.runs).find((r) => r.memoryCap !== undefined)?.memoryCap
  if (cap !== undefined) {
    lines.push(
      '',
      `Small memory: ${cap.enforced ? `every system under one hard cap of ${formatBytes(cap.capBytes ?? 0)} (budget ${formatBytes(cap.budgetBytes)} + allowance ${formatBytes(cap.allowanceBytes ?? 0)}), page cache included` : `cap NOT enforced (${md(cap.mechanism)})`}; ${md(cap.coldStart)}.`,
    )
  }
  lines.push('', 'Targets:', '')
  for (const v of verdicts) {
    const status = v.pass === undefined ? 'not measured' : v.pass ? '**PASS**' : '**MISS**'
    lines.push(`- ${status} — ${md(v.label)}: ${formatRatio(v.measured)} (required ${requiredText(v)})`)
  }
  return lines.join('\n') + '\n'
}
