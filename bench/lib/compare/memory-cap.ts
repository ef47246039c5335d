/**
 * The small-memory condition under an equal hard memory cap (BENCH.md rule 8, issue 17).
 *
 * For each scenario, first the runtime allowance: every system's idle child (compare-child.ts `idle`:
 * the key set, the Zipfian generator, the system's code and an empty store opened with the budget,
 * and the measured workloads run against a system that stores nothing, so that the benchmark's own
 * working memory is counted) runs in a group of its own without a limit, and its group's peak usage
 * is read when it exits. The cap is
 *
 *     cap = budget + allowance,   allowance = the largest idle peak over the systems x 1.1
 *
 * The tenth on top is room for the timing of V8's collections, which differs from run to run. What
 * an engine keeps beyond its budget (RocksDB's filter and index blocks and memtable, our model nodes,
 * LMDB's dirty pages, and the garbage each makes per call until V8 collects it) is the engine's and
 * has to fit in the budget and that tenth. History: with the idle child at rest (no workloads) and
 * no room on top, every system was killed at 10M keys (2026-12-05, 9b916cf: a cap of 227.5 MiB over
 * idle peaks of 201-205 MiB), and with a quarter on top (50e96d7) still every one, anonymous memory
 * at the cap in each (LMDB's too, whose engine memory is page cache): the benchmark's own working
 * memory was not in the allowance.
 *
 * and every system runs under that same cap. One cap for all, rather than each system's budget plus
 * its own idle peak: "the same memory" is then literally one number for every system, and no engine
 * whose runtime happens to be heavier at rest (RocksDB's native library and table cache) starts with
 * less room than the others; each system's own idle peak is reported beside the cap, so the slack a
 * lighter runtime gets (at most the difference between the idle peaks) is visible.
 *
 * Then, per system, two children:
 *   1. load (no limit, in a group of its own so that the page cache it fills is charged there):
 *      warm-up load, timed bulk load, close, reopen, close;
 *   2. the store's pages are dropped from the page cache (v1 memory.force_empty / v2 memory.reclaim
 *      of the load's group: exactly the pages the load brought in, nothing else on the machine;
 *      where there is no controller and the bench is root, `echo 1 > /proc/sys/vm/drop_caches`, which
 *      drops every clean page of the machine), and `fincore` says how much of the store is still cached;
 *   3. measure (under the cap): open the store, then every other workload. A child the OOM killer
 *      ends is a result ("killed: memory"), with the workloads it finished.
 *
 * Where no controller is usable (not root, none mounted) the two phases still run, uncapped, and the
 * run says why.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildJob } from '../../compare-child.js'
import { CAPPED_EXEC_ARGV, exitText, isV8HeapExhausted, runChildProcess, type ChildOutcome } from './children.js'
import { MemoryGroup, probeMemoryController, type ControllerProbe } from './memory-cgroup.js'
import { probeDevice } from './device-probe.js'
import { runFor } from './run.js'
import type { MemoryCapRun, SystemName, SystemRun, WorkloadResult } from './types.js'

/** 'auto': budget + measured allowance; 'off': no limit (figures still taken); a number: this cap in bytes. */
export type CapMode = 'auto' | 'off' | number

/** The allowance is the largest idle peak times this (see the comment above). */
export const WORKING_ROOM_FACTOR = 1.1

interface Allowance {
  allowanceBytes: number | undefined
  source: string
  idle: Map<SystemName, { peakBytes: number | undefined; peakRssBytes: number | undefined }>
}

export class SmallMemoryRunner {
  private probeResult: ControllerProbe | undefined
  private readonly allowances = new Map<string, Allowance>()
  private device: MemoryCapRun['device']

  constructor(
    private readonly childPath: string,
    private readonly mode: CapMode,
    /** Every system of the run: the allowance is the largest idle peak over them. */
    private readonly systems: readonly SystemName[],
  ) {}

  /** The controller, probed once. */
  probe(): ControllerProbe {
    this.probeResult ??= probeMemoryController()
    return this.probeResult
  }

  /** A one-line statement of what the small-memory condition will do, for the run's header. */
  describe(): string {
    const probe = this.probe()
    if (this.mode === 'off') return 'small-memory cap: off (--memory-cap off): uncapped, figures still taken'
    if (!probe.usable) return `small-memory cap: NOT ENFORCED (${probe.reason}); the systems run uncapped`
    const how = this.mode === 'auto' ? `budget + ${WORKING_ROOM_FACTOR} x the largest idle-child peak over the systems` : `${this.mode} B (--memory-cap)`
    return `small-memory cap: ${how}, enforced through the ${probe.description}`
  }

  async run(job: ChildJob, onProgress: (label: string) => void): Promise<SystemRun> {
    const probe = this.probe()
    const controller = probe.usable ? probe.controller : undefined
    const allowance = await this.allowanceFor(job, onProgress)
    if (this.device === undefined) {
      onProgress('device random-read rate')
      this.device = probeDevice(this.childPath, this.probe(), path.dirname(job.directory))
    }
    const capBytes = this.mode === 'off' ? undefined : typeof this.mode === 'number' ? this.mode : allowance.allowanceBytes === undefined ? undefined : job.memoryBytes + allowance.allowanceBytes
    const enforce = controller !== undefined && capBytes !== undefined
    const idle = allowance.idle.get(job.system)
    const cap: MemoryCapRun = {
      enforced: false,
      mechanism: probe.usable ? (this.mode === 'off' ? 'not enforced: --memory-cap off' : 'not enforced') : `not enforced: ${probe.reason}`,
      budgetBytes: job.memoryBytes,
      allowanceSource: allowance.source,
      coldStart: 'not attempted',
      device: this.device,
      ...(capBytes === undefined ? {} : { capBytes }),
      ...(allowance.allowanceBytes === undefined ? {} : { allowanceBytes: allowance.allowanceBytes }),
      ...(idle?.peakBytes === undefined ? {} : { idlePeakBytes: idle.peakBytes }),
      ...(idle?.peakRssBytes === undefined ? {} : { idlePeakRssBytes: idle.peakRssBytes }),
    }

    // 1. The load, uncapped, in a group of its own so that its page cache can be dropped exactly.
    onProgress('load (uncapped)')
    const loadGroup = controller === undefined ? undefined : MemoryGroup.create(controller, `${job.system}-load`)
    let loaded: ChildOutcome
    try {
      loaded = await runChildProcess(this.childPath, { ...job, mode: 'load' }, { ...(loadGroup === undefined ? {} : { group: loadGroup }), onProgress })
      // 2. Cold start: drop the store's pages from the page cache.
      cap.coldStart = dropStorePages(loadGroup)
    } finally {
      loadGroup?.remove()
    }
    if (loaded.run === undefined || loaded.run.error !== undefined) {
      return runFor(job, { settings: [], results: [], diskBytes: 0, peakRssBytes: 0, memoryCap: cap, error: `load: ${loaded.run?.error ?? exitText(loaded)}` })
    }
    const resident = cachedBytes(job.directory)
    if (resident !== undefined) {
      cap.cachedBytesAtStart = resident.cachedBytes
      cap.storeBytesAtStart = resident.fileBytes
    }
    cap.loadPeakRssBytes = loaded.run.peakRssBytes

    // 3. The measured phase, under the cap.
    const group = controller === undefined ? undefined : MemoryGroup.create(controller, `${job.system}-measure`, enforce ? capBytes : undefined)
    let measured: ChildOutcome
    try {
      if (group !== undefined && enforce) {
        cap.enforced = true
        cap.mechanism = `${probe.usable ? probe.description : ''}: ${group.limitFiles.join(', ')} (page cache and kernel memory included${swapNote()})`
      } else if (group !== undefined) {
        cap.mechanism = `${cap.mechanism}; measured in an unlimited group`
      }
      measured = await runChildProcess(this.childPath, { ...job, mode: 'measure' }, { ...(group === undefined ? {} : { group }), execArgv: CAPPED_EXEC_ARGV, onProgress })
      if (group !== undefined) {
        const peak = group.peakBytes()
        if (peak !== undefined) cap.peakUsageBytes = peak
        cap.oomKills = group.oomKills()
        const hits = group.limitHits()
        if (hits !== undefined) cap.limitHits = hits
      }
    } finally {
      group?.remove()
    }
    return merge(job, loaded.run, measured, cap)
  }

  /** The scenario's allowance, measured once from an idle child of every system. */
  private async allowanceFor(job: ChildJob, onProgress: (label: string) => void): Promise<Allowance> {
    const key = JSON.stringify([job.dataset, job.valueBytes, job.keyCount, job.memoryBytes])
    const known = this.allowances.get(key)
    if (known !== undefined) return known
    const probe = this.probe()
    const idle: Allowance['idle'] = new Map()
    let allowance: Allowance
    if (typeof this.mode === 'number') {
      allowance = { allowanceBytes: undefined, source: 'none: the cap was given (--memory-cap)', idle }
    } else {
      for (const system of this.systems) {
        onProgress(`idle child of ${system}`)
        const group = probe.usable ? MemoryGroup.create(probe.controller, `${system}-idle`) : undefined
        try {
          const outcome = await runChildProcess(
            this.childPath,
            { ...job, system, mode: 'idle', directory: `${job.directory}-idle-${system}` },
            { ...(group === undefined ? {} : { group }), execArgv: CAPPED_EXEC_ARGV, onProgress },
          )
          if (outcome.idle === undefined) throw new Error(`the idle child of ${system} failed: ${exitText(outcome)}`)
          idle.set(system, { peakBytes: group?.peakBytes(), peakRssBytes: outcome.idle.peakRssBytes })
        } finally {
          group?.remove()
        }
      }
      const peaks = [...idle.values()].map((figures) => (probe.usable ? figures.peakBytes : figures.peakRssBytes))
      const measuredAll = peaks.every((p) => p !== undefined)
      allowance = {
        allowanceBytes: measuredAll ? Math.round(Math.max(...(peaks as number[])) * WORKING_ROOM_FACTOR) : undefined,
        source: probe.usable
          ? `the largest cgroup peak (memory.max_usage_in_bytes / memory.peak) of an idle child of each system (key set, Zipfian generator, the system open on an empty store with the budget, the measured workloads run against a system that stores nothing) x ${WORKING_ROOM_FACTOR}`
          : `the largest peak RSS (VmHWM) of an idle child of each system (no cgroup to measure page cache) x ${WORKING_ROOM_FACTOR}`,
        idle,
      }
    }
    this.allowances.set(key, allowance)
    return allowance
  }
}

/** The load's bulk-load result, then the measured workloads (those finished, if the child was killed). */
function merge(job: ChildJob, loaded: SystemRun, measured: ChildOutcome, cap: MemoryCapRun): SystemRun {
  const load = loaded.results[0]
  const results: WorkloadResult[] = load === undefined ? [] : [load]
  const finished = measured.run?.results ?? measured.workloads.map((w) => w.result)
  results.push(...finished)
  const lastRss = measured.workloads.at(-1)?.peakRssBytes
  const peakRssBytes = measured.run?.peakRssBytes ?? lastRss
  if (peakRssBytes !== undefined) cap.peakRssBytes = peakRssBytes
  if (load !== undefined && measured.run !== undefined) load.extra = { ...load.extra, diskBytesAtEnd: measured.run.diskBytes }
  const settings = [
    ...loaded.settings,
    'small memory: the load ran uncapped in its own child; the store\'s pages were then dropped from the page cache and the other workloads ran in a fresh child under the memory cap; peak RSS is that child\'s',
  ]
  let error: string | undefined
  if (measured.run === undefined) {
    if (measured.signal === 'SIGKILL' && (cap.oomKills ?? 0) > 0) {
      cap.killed = 'memory'
      cap.killedDuring = `${measured.lastProgress}; the kernel's OOM killer`
    } else if (cap.enforced && isV8HeapExhausted(measured)) {
      cap.killed = 'memory'
      cap.killedDuring = `${measured.lastProgress}; V8 heap out of memory (its limit sized from the cap)`
    } else {
      error = `measure: ${exitText(measured)}`
    }
  }
  return runFor(job, {
    settings,
    results,
    diskBytes: loaded.diskBytes,
    peakRssBytes: peakRssBytes ?? 0,
    memoryCap: cap,
    ...(error === undefined ? {} : { error }),
  })
}

function swapNote(): string {
  let swaps = ''
  try {
    swaps = readFileSync('/proc/swaps', 'utf8')
  } catch {
    return ''
  }
  return swaps.trim().split('\n').length > 1 ? '' : '; the machine has no swap'
}

/** Drops the store's pages from the page cache; says how, or why not. */
function dropStorePages(loadGroup: MemoryGroup | undefined): string {
  if (loadGroup !== undefined) {
    const how = loadGroup.dropPageCache()
    if (how !== undefined) return `the store's pages dropped after the load (${how})`
  }
  if (process.getuid?.() === 0) {
    try {
      writeFileSync('/proc/sys/vm/drop_caches', '1')
      return "page cache dropped after the load with 'echo 1 > /proc/sys/vm/drop_caches' (every clean page on the machine, not only the store's)"
    } catch {
      // fall through
    }
  }
  return "NOT cold: the store's pages may still be in the page cache from the load (no memory cgroup and no root to drop them)"
}

/** Bytes of the directory's files in the page cache, and their size, by `fincore`; undefined without it. */
function cachedBytes(directory: string): { cachedBytes: number; fileBytes: number } | undefined {
  const files = filesUnder(directory)
  if (files.length === 0) return { cachedBytes: 0, fileBytes: 0 }
  let text: string
  try {
    text = execFileSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...files], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return undefined
  }
  let cached = 0
  let size = 0
  for (const line of text.split('\n')) {
    const [res, bytes] = line.trim().split(/\s+/)
    if (res === undefined || bytes === undefined || res === '') continue
    cached += Number(res)
    size += Number(bytes)
  }
  return Number.isFinite(cached) && Number.isFinite(size) ? { cachedBytes: cached, fileBytes: size } : undefined
}

function filesUnder(directory: string): string[] {
  const files: string[] = []
  let entries
  try {
    entries = readdirSync(directory, { withFileTypes: true })
  } catch {
    return files
  }
  for (const entry of entries) {
    const file = path.join(directory, entry.name)
    if (entry.isDirectory()) files.push(...filesUnder(file))
    else if (entry.isFile() && statSync(file, { throwIfNoEntry: false }) !== undefined) files.push(file)
  }
  return files
}
