/**
 * A self-contained SVG of the headline scenario: for each memory condition a panel of horizontal
 * bars, one group per workload and one bar per baseline, each the ratio ours / baseline on a log2
 * axis. Bars start at 1x: to the right ours is faster, to the left slower. A black tick marks a
 * target. The only <rect> elements are the bars.
 */
import { formatBytes, formatCount } from '../report.js'
import {
  BASELINES,
  OURS,
  THROUGHPUT_TARGETS,
  type Scenario,
  type TargetVerdict,
  compare,
  findResult,
  findRun,
  headlineOf,
  scenarios,
  workloadRows,
} from './targets.js'
import type { CompareResults, Durability, MemoryCondition, SystemName, WorkloadName } from './types.js'

const COLORS: Record<(typeof BASELINES)[number], string> = { rocksdb: '#d95f02', 'rocksdb+cache': '#7570b3', lmdb: '#1b9e77' }
const WIDTH = 960
const LABEL_RIGHT = 150
const PLOT_LEFT = 200
const PLOT_RIGHT = WIDTH - 70
const BAR = 10
const GROUP_GAP = 12
const PANEL_HEAD = 46
const MEMORIES: readonly MemoryCondition[] = ['large', 'small']

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${r1(x)}" y="${r1(y)}"${attrs === '' ? '' : ` ${attrs}`}>${escapeXml(content)}</text>`
}

function r1(n: number): string {
  return (Math.round(n * 10) / 10).toString()
}

function ratioLabel(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio >= 1 ? ratio.toFixed(1) : ratio.toFixed(2)}x`
}

function gridLabel(power: number): string {
  return power >= 0 ? `${2 ** power}x` : power >= -2 ? `${2 ** power}x` : `1/${2 ** -power}x`
}

interface Row {
  workload: WorkloadName
  durability: Durability
  bars: { baseline: SystemName; ratio: number | undefined }[]
  ticks: { baseline: SystemName; required: number; pass: boolean | undefined }[]
}

function panelRows(scenario: Scenario, memory: MemoryCondition, verdicts: readonly TargetVerdict[]): Row[] {
  const ours = findRun(scenario, OURS)
  return workloadRows(scenario)
    .filter(({ workload, durability }) => findResult(ours, workload, durability) !== undefined)
    .map(({ workload, durability }) => ({
      workload,
      durability,
      bars: BASELINES.map((baseline) => {
        const ratio = compare(scenario, workload, durability, baseline)?.ratio
        return { baseline, ratio: ratio !== undefined && ratio > 0 && Number.isFinite(ratio) ? ratio : undefined }
      }),
      ticks: THROUGHPUT_TARGETS.filter(
        (t) => t.workload === workload && (t.memory === undefined || t.memory === memory) && (t.durability === undefined || t.durability === durability),
      ).map((t) => ({ baseline: t.baseline, required: t.required, pass: verdicts.find((v) => v.id === t.id)?.pass })),
    }))
}

export function renderChart(results: CompareResults, verdicts: TargetVerdict[]): string {
  const headline = headlineOf(results)
  const panels = MEMORIES.map((memory) => {
    const scenario = scenarios(results).find(
      (s) => headline !== undefined && s.dataset === headline.dataset && s.valueBytes === headline.valueBytes && s.memory === memory,
    )
    return { memory, scenario, rows: scenario === undefined ? [] : panelRows(scenario, memory, verdicts) }
  })

  const values = [0.25, 4]
  for (const p of panels) {
    for (const row of p.rows) {
      for (const bar of row.bars) if (bar.ratio !== undefined) values.push(bar.ratio)
      for (const tick of row.ticks) values.push(tick.required)
    }
  }
  const lo = Math.max(-10, Math.floor(Math.log2(Math.min(...values))))
  const hi = Math.min(10, Math.ceil(Math.log2(Math.max(...values))))
  const x = (ratio: number) => {
    const l = Math.min(hi, Math.max(lo, Math.log2(ratio)))
    return PLOT_LEFT + ((l - lo) / (hi - lo)) * (PLOT_RIGHT - PLOT_LEFT)
  }
  const groupHeight = BASELINES.length * BAR + GROUP_GAP

  const m = results.machine
  const out: string[] = []
  const title = 'learned-storage vs RocksDB, RocksDB + lru-cache, LMDB: throughput ratio ours / baseline'
  const subtitle =
    `${headline === undefined ? 'no runs' : `${headline.dataset}, ${headline.valueBytes}-byte values`} · ${formatCount(results.keyCount)} keys · ` +
    `scale ${results.scale} · ${m.cpuModel} × ${m.cpus}, ${m.memoryGiB} GiB, node ${m.node} · ${results.startedAt.slice(0, 10)}`
  out.push(text(16, 26, title, 'font-size="16" font-weight="bold"'))
  out.push(text(16, 46, subtitle, 'font-size="12" fill="#444"'))
  let legendX = 16
  for (const baseline of BASELINES) {
    out.push(`<path d="M${legendX} 58h12v12h-12z" fill="${COLORS[baseline]}"/>`)
    out.push(text(legendX + 17, 68, `vs ${baseline}`, 'font-size="12"'))
    legendX += 30 + 7 * (`vs ${baseline}`).length
  }
  out.push(`<line x1="${legendX}" y1="56" x2="${legendX}" y2="72" stroke="#000" stroke-width="2.5"/>`)
  out.push(text(legendX + 6, 68, 'target (red: bar falls short)', 'font-size="12"'))
  out.push(text(legendX + 195, 68, 'right of 1x: ours faster · left: ours slower · log2 scale', 'font-size="12" fill="#444"'))

  let y = 88
  for (const panel of panels) {
    const s = panel.scenario
    const head = s === undefined ? `memory ${panel.memory}: not measured` : `memory ${panel.memory} (budget ${formatBytes(s.memoryBytes)})`
    out.push(text(16, y + 16, head, 'font-size="14" font-weight="bold"'))
    const top = y + PANEL_HEAD
    const bottom = top + Math.max(1, panel.rows.length) * groupHeight
    for (let power = lo; power <= hi; power++) {
      const gx = r1(x(2 ** power))
      const strong = power === 0
      out.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${bottom}" stroke="${strong ? '#222' : '#ddd'}" stroke-width="${strong ? 1.5 : 1}"/>`)
      out.push(text(x(2 ** power), top - 12, gridLabel(power), `font-size="11" text-anchor="middle"${strong ? ' font-weight="bold"' : ' fill="#666"'}`))
    }
    if (panel.rows.length === 0) out.push(text(PLOT_LEFT + 10, top + 16, 'no data', 'font-size="12" fill="#888"'))
    panel.rows.forEach((row, i) => {
      const gy = top + i * groupHeight + GROUP_GAP / 2
      const ambiguous = panel.rows.filter((other) => other.workload === row.workload).length > 1
      const label = ambiguous ? `${row.workload} (${row.durability})` : row.workload
      out.push(text(LABEL_RIGHT, gy + (BASELINES.length * BAR) / 2 + 4, label, 'font-size="12" text-anchor="end"'))
      row.bars.forEach((bar, j) => {
        const by = gy + j * BAR
        const one = x(1)
        const ticks = row.ticks.filter((t) => t.baseline === bar.baseline)
        if (bar.ratio === undefined) {
          if (ticks.length > 0) out.push(text(one + 4, by + BAR - 1, `vs ${bar.baseline}: not measured`, 'font-size="9" fill="#888"'))
        } else {
          const end = x(bar.ratio)
          const left = Math.min(one, end)
          const width = Math.max(1, Math.abs(end - one))
          const color = COLORS[bar.baseline as (typeof BASELINES)[number]]
          out.push(`<rect x="${r1(left)}" y="${r1(by + 1)}" width="${r1(width)}" height="${BAR - 2}" fill="${color}"><title>${escapeXml(`${row.workload} vs ${bar.baseline}: ${bar.ratio.toFixed(2)}x`)}</title></rect>`)
          const after = bar.ratio >= 1
          out.push(text(after ? end + 4 : end - 4, by + BAR - 1, ratioLabel(bar.ratio), `font-size="10"${after ? '' : ' text-anchor="end"'}`))
        }
        for (const tick of ticks) {
          const tx = r1(x(tick.required))
          const colour = bar.ratio === undefined ? '#888' : bar.ratio < tick.required ? '#c00' : '#000'
          out.push(`<line x1="${tx}" y1="${r1(by - 1)}" x2="${tx}" y2="${r1(by + BAR + 1)}" stroke="${colour}" stroke-width="2.5"><title>${escapeXml(`target ${tick.required}x vs ${tick.baseline}: ${tick.pass === undefined ? 'not measured' : tick.pass ? 'PASS' : 'MISS'}`)}</title></line>`)
        }
      })
    })
    y = bottom + 24
  }
  const height = y
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
    `font-family="system-ui, -apple-system, Segoe UI, sans-serif" style="background:#fff">\n${out.join('\n')}\n</svg>`
  )
}
