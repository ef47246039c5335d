/**
 * The comparison benchmark's reporting: target verdicts, the text report, the markdown summary and
 * the SVG chart, on hand-made results whose ratios are worked out below by hand.
 */
import { describe, expect, it } from 'vitest'
import { renderChart } from '../bench/lib/compare/chart.js'
import { renderMarkdownSummary, renderReport } from '../bench/lib/compare/report.js'
import { evaluateTargets, type TargetVerdict } from '../bench/lib/compare/targets.js'
import type {
  CompareResults,
  Durability,
  MemoryCondition,
  SystemName,
  SystemRun,
  WorkloadName,
  WorkloadResult,
} from '../bench/lib/compare/types.js'

const MiB = 1024 * 1024
const KEYS = 1_000_000

function result(workload: WorkloadName, perSecond: number, durability: Durability = 'os', more: Partial<WorkloadResult> = {}): WorkloadResult {
  return {
    workload,
    durability,
    perSecond,
    unit: workload === 'scan-100' ? 'keys' : workload === 'recovery' ? 'records' : 'ops',
    samples: [perSecond],
    wrong: 0,
    ...more,
  }
}

function run(
  system: SystemName,
  memory: MemoryCondition,
  results: WorkloadResult[],
  more: Partial<SystemRun> = {},
): SystemRun {
  return {
    system,
    dataset: 'uniform',
    valueBytes: 16,
    keyCount: KEYS,
    memory,
    memoryBytes: memory === 'large' ? 64 * MiB : 2.4e6,
    settings: [`${system} defaults`],
    results,
    diskBytes: 20 * MiB,
    peakRssBytes: 150 * MiB,
    rawBytes: KEYS * (8 + 16),
    ...more,
  }
}

function results(runs: SystemRun[]): CompareResults {
  return {
    kind: 'compare',
    startedAt: '2025-03-04T05:06:07.000Z',
    command: 'node dist-bench/compare-bench.js --scale quick',
    machine: { cpus: 2, cpuModel: 'Test CPU', memoryGiB: 8, node: 'v20.0.0', platform: 'linux' },
    scale: 'quick',
    keyCount: KEYS,
    seed: 7,
    repetitions: 3,
    runs,
  }
}

/**
 * uniform/16/large: ours get-uniform 2M vs rocksdb 250k (8x), rocksdb+cache 1M (2x), lmdb 1.25M (1.6x);
 * scan-100 3M vs rocksdb 500k (6x), lmdb not run; bulk-load 900k vs 300k (3x); insert-random 400k vs
 * 250k (1.6x); durable-256 90k vs 50k group-coalesced (1.8x) and 3k one write per put (30x);
 * disk 30 MiB vs 24 MiB (1.25x; raw 24,000,000 bytes: ours 31,457,280 / 24e6 = 1.31x).
 * uniform/16/small: get-uniform 600k vs rocksdb+cache 200k (3x); get-zipf 800k vs 500k (1.6x);
 * bulk-load 600k vs rocksdb 300k (2x). zipf/16/large: bulk-load 500k vs 250k (2x).
 */
function sample(): CompareResults {
  return results([
    run(
      'learned-storage',
      'large',
      [
        result('bulk-load', 900_000, 'fsync'),
        result('get-uniform', 2_000_000, 'os', { latency: { p50: 1.25, p99: 8.5, p999: 40, max: 900, count: 1000 }, hitRate: 0.9 }),
        result('insert-random', 400_000, 'os'),
        result('scan-100', 3_000_000, 'os'),
        result('durable-256', 90_000, 'fsync'),
      ],
      { diskBytes: 30 * MiB, settings: ['buffer pool 64 MiB'] },
    ),
    // the per-write run comes before the group-coalesced one, so a lookup that ignores its settings picks it
    run('rocksdb', 'large', [result('durable-256', 3_000, 'fsync')], {
      diskBytes: 24 * MiB,
      settings: ['no compression', 'one write per put (sync: true)'],
    }),
    run(
      'rocksdb',
      'large',
      [
        result('bulk-load', 300_000, 'fsync'),
        result('get-uniform', 250_000),
        result('insert-random', 250_000),
        result('scan-100', 500_000),
        result('durable-256', 50_000, 'fsync'),
      ],
      { diskBytes: 24 * MiB, settings: ['no compression', 'group commit'] },
    ),
    run('rocksdb+cache', 'large', [result('get-uniform', 1_000_000)]),
    run('lmdb', 'large', [result('get-uniform', 1_250_000)]),
    run('learned-storage', 'small', [
      result('bulk-load', 600_000, 'fsync'),
      result('get-uniform', 600_000),
      result('get-zipf', 800_000),
    ]),
    run('rocksdb', 'small', [result('bulk-load', 300_000, 'fsync')]),
    run('rocksdb+cache', 'small', [result('get-uniform', 200_000), result('get-zipf', 500_000)]),
    run('learned-storage', 'large', [result('bulk-load', 500_000, 'fsync')], { dataset: 'zipf' }),
    run('rocksdb', 'large', [result('bulk-load', 250_000, 'fsync')], { dataset: 'zipf' }),
  ])
}

function verdict(verdicts: TargetVerdict[], id: string): TargetVerdict {
  const found = verdicts.find((v) => v.id === id)
  if (found === undefined) throw new Error(`no verdict ${id}; have ${verdicts.map((v) => v.id).join(', ')}`)
  return found
}

describe('evaluateTargets', () => {
  const verdicts = evaluateTargets(sample())

  it('gives every target of the issue once', () => {
    expect(verdicts).toHaveLength(5 + 3 + 2 + 1 + 1 + 1 + 1)
    expect(new Set(verdicts.map((v) => v.id)).size).toBe(verdicts.length)
  })

  it.each([
    ['get-uniform/large/rocksdb', 5, 8, true],
    ['get-uniform/large/lmdb', 2, 1.6, false],
    ['get-uniform/large/rocksdb+cache', 1, 2, true],
    ['scan-100/large/rocksdb', 5, 6, true],
    ['get-uniform/small/rocksdb+cache', 2, 3, true],
    ['get-zipf/small/rocksdb+cache', 2, 1.6, false],
    ['bulk-load/any/rocksdb', 3, 3, true],
    ['insert-random/any/rocksdb', 2, 1.6, false],
    ['durable-256/any/rocksdb', 1.5, 1.8, true],
    ['disk-bytes/large/rocksdb', 1.5, 1.25, true],
  ] as const)('%s: required %d, measured %d, pass %s', (id, required, measured, pass) => {
    const v = verdict(verdicts, id)
    expect(v.required).toBe(required)
    expect(v.measured).toBeCloseTo(measured, 9)
    expect(v.pass).toBe(pass)
  })

  it.each(['scan-100/large/lmdb', 'read-heavy/small/rocksdb+cache', 'write-heavy/small/rocksdb+cache', 'scan-100/small/rocksdb+cache'])(
    '%s is not measured',
    (id) => {
      const v = verdict(verdicts, id)
      expect(v.measured).toBeUndefined()
      expect(v.pass).toBeUndefined()
    },
  )

  it('judges durable-256 on group-coalesced RocksDB and names the per-write ratio', () => {
    const v = verdict(verdicts, 'durable-256/any/rocksdb')
    expect(v.detail).toContain('1.80x')
    expect(v.detail).toContain('30.00x')
  })

  it('judges bulk-load on uniform/16 large and lists the other scenarios', () => {
    const v = verdict(verdicts, 'bulk-load/any/rocksdb')
    expect(v.detail).toContain('zipf/16 B/large: 2.00x')
    expect(v.detail).toContain('uniform/16 B/small: 2.00x')
  })

  it('fails a target whose ratio passes when ours gave wrong answers', () => {
    const data = sample()
    const ours = data.runs[0]!.results.find((r) => r.workload === 'get-uniform')!
    ours.wrong = 3
    const v = verdict(evaluateTargets(data), 'get-uniform/large/rocksdb')
    expect(v.measured).toBeCloseTo(8, 9)
    expect(v.pass).toBe(false)
  })

  it('measures nothing when there is no uniform/16 scenario', () => {
    const data = sample()
    for (const r of data.runs) r.valueBytes = 100
    const all = evaluateTargets(data)
    expect(all.every((v) => v.measured === undefined && v.pass === undefined)).toBe(true)
  })
})

describe('renderReport', () => {
  const data = sample()
  const verdicts = evaluateTargets(data)
  const text = renderReport(data, verdicts)

  it('prints throughputs, latencies, ratios and verdicts', () => {
    for (const expected of ['2.00M/s', '250.0k/s', '1.25M/s', '8.00x', '1.60x', '30.00x', '1.31x', 'MISS', 'PASS', 'not measured']) {
      expect(text).toContain(expected)
    }
    expect(text).toContain('wrong answers: 0')
    expect(text).toContain('rocksdb per-put')
    expect(text).toContain('rocksdb (one write per put):')
    expect(text).toContain('group commit')
    expect(text).toContain('scan-100 (keys/s)')
  })

  it('orders rows as WorkloadName does', () => {
    const section = text.slice(text.indexOf('memory large'))
    const order = ['bulk-load', 'get-uniform', 'insert-random', 'scan-100', 'durable-256'].map((w) => section.indexOf(`\n  ${w}`))
    expect(order.every((at) => at > 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
  })

  it('says the targets are set for 10M keys when the run is of another size, and not when it is of 10M', () => {
    expect(KEYS).not.toBe(10_000_000)
    expect(text).toContain('the targets are set for 10,000,000 keys')
    const full = sample()
    full.keyCount = 10_000_000
    expect(renderReport(full, evaluateTargets(full))).not.toContain('the targets are set for')
  })

  it('shouts about wrong answers', () => {
    const bad = sample()
    bad.runs[2]!.results[1]!.wrong = 2
    const report = renderReport(bad, evaluateTargets(bad))
    expect(report).toContain('WRONG ANSWERS')
    expect(report).not.toContain('wrong answers: 0')
  })

  it('renders a markdown summary of the headline scenario', () => {
    const md = renderMarkdownSummary(data, verdicts)
    expect(md).toContain('| large | get-uniform (os) | 2.00M/s | 250.0k/s | 1.00M/s | 1.25M/s | 8.00x | 2.00x | 1.60x |')
    expect(md).toContain('**MISS**')
    expect(md).not.toContain('zipf/')
  })
})

describe('the small-memory cap in the report', () => {
  /** The sample with the small runs under a cap: ours finished, rocksdb+cache was OOM-killed during get-zipf. */
  function capped(): CompareResults {
    const data = sample()
    data.memoryCap = 'small-memory cap: budget + the largest idle-child peak over the systems, enforced through the cgroup v1 memory controller'
    const cap = {
      enforced: true,
      mechanism: 'cgroup v1: memory.limit_in_bytes = 62914560',
      capBytes: 60 * MiB,
      budgetBytes: 2.4e6,
      allowanceBytes: 60 * MiB - 2.4e6,
      allowanceSource: 'idle children',
      coldStart: "the store's pages dropped after the load (memory.force_empty of the load's cgroup)",
    }
    for (const r of data.runs.filter((r) => r.memory === 'small')) {
      r.memoryCap = { ...cap, peakUsageBytes: 58 * MiB, peakRssBytes: 90 * MiB, idlePeakBytes: 50 * MiB, cachedBytesAtStart: 0, storeBytesAtStart: 20 * MiB }
    }
    const ours = data.runs.find((r) => r.memory === 'small' && r.system === 'learned-storage')!
    // 200,000 gets read 81,920,000 device bytes: 409.6 B = 0.10 pages per get; rchar 1,024,000 = 5.1 B per get.
    ours.results[1]!.io = { ops: 200_000, readBytes: 81_920_000, rchar: 1_024_000, writeBytes: 0 }
    ours.results[1]!.hitRate = 0.25
    const cached = data.runs.find((r) => r.memory === 'small' && r.system === 'rocksdb+cache')!
    cached.results = [result('get-uniform', 200_000)]
    cached.memoryCap = { ...cached.memoryCap!, killed: 'memory', killedDuring: 'get zipf: repetition 2/3' }
    return data
  }

  it('says the cap was enforced, its size and how it was made', () => {
    const text = renderReport(capped(), evaluateTargets(capped()))
    expect(text).toContain('memory cap: ENFORCED, 60.0 MiB = budget 2.3 MiB + allowance 57.7 MiB')
    expect(text).toContain('memory.limit_in_bytes = 62914560')
    expect(text).toContain('memory.force_empty')
    expect(text).toContain('small-memory cap: budget + the largest idle-child peak')
  })

  it('reports an OOM kill as a result, not a failure, and marks the workloads it did not finish', () => {
    const data = capped()
    const text = renderReport(data, evaluateTargets(data))
    expect(text).toContain('killed: memory (during get zipf: repetition 2/3)')
    const zipfRow = text.split('\n').find((line) => line.startsWith('  get-zipf') && line.includes('killed: memory'))
    expect(zipfRow).toBeDefined()
    expect(text).not.toContain('FAILED')
    expect(renderMarkdownSummary(data, evaluateTargets(data))).toContain('killed: memory')
  })

  it('prints device and syscall reads per operation, pages and the hit rate', () => {
    const text = renderReport(capped(), evaluateTargets(capped()))
    expect(text).toContain('device 410 B (0.10 pg), syscall 5.1 B, hit 25.0%')
    expect(text).toContain('read_bytes')
  })

  it('gives the device random-read rate and each system\'s uniform gets as a fraction of it', () => {
    const data = capped()
    for (const r of data.runs) {
      if (r.memoryCap === undefined) continue
      r.memoryCap.device = { qd1PerSecond: 20_000, deepPerSecond: 25_000, deepDepth: 32, qd1DeviceBytesPerRead: 4096, deepDeviceBytesPerRead: 4000, fileBytes: 2 ** 30, how: 'random preads' }
    }
    const ours = data.runs.find((r) => r.memory === 'small' && r.system === 'learned-storage')!
    const gets = ours.results[1]!
    expect(gets.workload).toBe('get-uniform')
    const text = renderReport(data, evaluateTargets(data))
    expect(text).toContain('device: 4 KiB random reads 20.0k/s at queue depth 1, 25.0k/s at depth 32')
    // 0.10 device pages a get (81,920,000 B over 200,000 gets); reads/s = gets/s x 0.1.
    const line = text.split('\n').find((l) => l.includes('learned-storage uniform gets:'))
    expect(line).toContain(`= ${(gets.perSecond / 20_000).toFixed(2)}x the depth-1 read rate; 0.10 device pages a get`)
    expect(line).toContain(`${((gets.perSecond * 0.1) / 25_000 * 100).toFixed(1)}% of the depth-32 rate`)
    data.runs.forEach((r) => r.memoryCap !== undefined && (r.memoryCap.device = { skipped: 'not root' }))
    expect(renderReport(data, evaluateTargets(data))).toContain('device: not measured (not root)')
  })

  it('says when the cap was not enforced', () => {
    const data = capped()
    for (const r of data.runs) if (r.memoryCap !== undefined) r.memoryCap = { ...r.memoryCap, enforced: false, mechanism: 'not enforced: not root' }
    const text = renderReport(data, evaluateTargets(data))
    expect(text).toContain('memory cap: NOT ENFORCED')
    expect(text).toContain('not enforced: not root')
    expect(renderMarkdownSummary(data, evaluateTargets(data))).toContain('cap NOT enforced')
  })

  it('leaves the report of a run without a cap as it was', () => {
    expect(renderReport(sample(), evaluateTargets(sample()))).not.toContain('memory cap')
  })
})

describe('renderChart', () => {
  it('draws one bar per measured ratio of the headline scenario', () => {
    const data = sample()
    const svg = renderChart(data, evaluateTargets(data))
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    // large: bulk-load 1, get-uniform 3, insert-random 1, scan-100 1, durable-256 1 (per-write run left out);
    // small: bulk-load 1, get-uniform 1, get-zipf 1.
    expect(svg.match(/<rect\b/g)?.length).toBe(10)
    expect(svg).toContain('8.0x')
    expect(svg).toContain('1.6x')
    expect(svg).toContain('>1x<')
    expect(svg).toContain('>0.25x<')
  })

  it('escapes text', () => {
    const data = sample()
    for (const r of data.runs) r.dataset = 'a<b&"c"'
    data.machine.cpuModel = 'CPU <fast>'
    const svg = renderChart(data, evaluateTargets(data))
    expect(svg).toContain('a&lt;b&amp;&quot;c&quot;')
    expect(svg).toContain('CPU &lt;fast&gt;')
    expect(svg).not.toContain('a<b')
    // every '<' opens a tag
    expect(svg.match(/<(?![a-z/])/g)).toBeNull()
    expect(svg.match(/<rect\b/g)?.length).toBe(10)
  })
})
