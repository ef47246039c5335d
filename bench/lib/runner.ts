/**
 * Runs the five workloads for one key set on every system, repetition by repetition.
 *
 * Order within a repetition rotates (rep r starts with system r mod k), so slow drift on a noisy
 * machine falls on all systems alike. Repetition 0 is the warm-up: same workload, capped at
 * warmupOpsMax operations, checked but not recorded. Each timed call is preceded by a full GC.
 *
 * Phases:
 *   1. read-only: bulk load (the last build of each system is kept), lookups, range scans over those
 *      builds; then all are released. One structure per system is alive during the reads.
 *   2. mixed 50/50: per repetition, bulk load half (untimed), then time insert+lookup pairs; the
 *      structure is checked (last repetition) and released before the next system runs.
 *   3. inserts: per repetition, start empty (untimed), then time inserting every key; checked and
 *      released the same way. So while a system inserts, no other system's mutable structure lives.
 */
import type { Distribution } from './datasets.js'
import { collectGarbage, heldBytes, median, spreadPercent, timeCall } from './measure.js'
import {
  expectedScanSum,
  expectedValueSum,
  makeInsertPlan,
  makeLookupPlan,
  makeMixedPlan,
  makeScanPlan,
  type KeySet,
  type LookupPlan,
} from './plans.js'
import { Prng } from './prng.js'
import { WORKLOAD_UNITS, type RowResult, type ShapeResult, type SystemOutcome, type WorkloadName } from './results.js'
import type { IndexSystem } from './systems/system.js'

export interface RunSettings {
  seed: number
  timedRepetitions: number
  warmupOpsMax: number
  lookupCount: number
  scanCount: number
  scanLength: number
  /** Keys looked up after the insert workloads to check the structure holds the right values. */
  verifyLookupCount: number
}

export interface KeySetRun {
  rows: RowResult[]
  shapes: ShapeResult[]
}

interface RowSpec {
  workload: WorkloadName
  opsPerRepetition: number
  /** Warm up with the whole workload rather than the first warmupOpsMax operations. */
  warmupAtFullSize?: boolean
  /** Untimed preparation before each timed call. */
  setup?: (system: IndexSystem) => void
  /** The timed call over the first opCount operations of the plan; returns its checksum. */
  timed: (system: IndexSystem, opCount: number) => number
  /** The checksum a correct system returns for opCount operations. */
  expected: (opCount: number) => number
  /** Right after a system's last timed repetition: checks and figures; returns a problem or undefined. */
  afterLast?: (system: IndexSystem) => string | undefined
  /** Release each structure right after it is timed (and checked), so only one is alive at a time. */
  releaseAfterTimed?: boolean
}

type Log = (line: string) => void

export function runKeySet(
  systems: readonly IndexSystem[],
  keySet: KeySet,
  distribution: Distribution,
  settings: RunSettings,
  log: Log,
): KeySetRun {
  const keyCount = keySet.sortedKeys.length
  const context: KeySetContext = {
    keyCount,
    distribution,
    systems,
    settings,
    log,
    keySet,
    shapes: [],
    verifyPlan: makeLookupPlan(keySet, Math.min(settings.verifyLookupCount, keyCount), rng(settings, distribution, keyCount, 'verify')),
  }
  const rows = [...runReadPhase(context), runMixedPhase(context), runInsertPhase(context)]
  return { rows: rows.sort((a, b) => workloadOrder(a) - workloadOrder(b)), shapes: context.shapes }
}

interface RowContext {
  keyCount: number
  distribution: Distribution
  systems: readonly IndexSystem[]
  settings: RunSettings
  log: Log
}

interface KeySetContext extends RowContext {
  keySet: KeySet
  shapes: ShapeResult[]
  /** Lookups run untimed after the last repetition of a workload to check the structure's contents. */
  verifyPlan: LookupPlan
}

/** Phase 1: bulk load (each system keeps its last build), then lookups and range scans over it. */
function runReadPhase(context: KeySetContext): RowResult[] {
  const { keySet, keyCount, settings, distribution } = context
  const heldBeforeBytes = new Map<IndexSystem, number>()
  const heldAfterBytes = new Map<IndexSystem, number>()
  const bulkRow = measureRow(context, {
    workload: 'bulk load',
    opsPerRepetition: keyCount,
    warmupAtFullSize: true,
    setup: (system) => {
      system.release()
      system.prepareBulkLoad(keySet.sortedKeys, keySet.values)
      collectGarbage()
      heldBeforeBytes.set(system, heldBytes())
    },
    timed: (system) => system.bulkLoad(),
    expected: () => keyCount,
    afterLast: (system) => {
      collectGarbage()
      heldAfterBytes.set(system, heldBytes() - (heldBeforeBytes.get(system) ?? 0))
      return verifyStructure(context, system, keyCount)
    },
  })
  const built = context.systems.filter((system) => outcomeOf(bulkRow, system).status === 'ok')
  const lookupPlan = makeLookupPlan(keySet, settings.lookupCount, rng(settings, distribution, keyCount, 'lookups'))
  const lookupRow = measureRow({ ...context, systems: built }, {
    workload: 'lookups',
    opsPerRepetition: settings.lookupCount,
    timed: (system, opCount) => system.lookups(lookupPlan.queryKeys, opCount),
    expected: (opCount) => expectedValueSum(lookupPlan.expectedValues, opCount),
  })
  const scanPlan = makeScanPlan(keySet, settings.scanCount, settings.scanLength, rng(settings, distribution, keyCount, 'scans'))
  const scanRow = measureRow({ ...context, systems: built }, {
    workload: 'range scans',
    opsPerRepetition: settings.scanCount,
    timed: (system, opCount) => system.rangeScans(scanPlan.startKeys, opCount, scanPlan.scanLength),
    expected: (opCount) => expectedScanSum(keySet, scanPlan, opCount),
  })
  // Shapes are taken after the reads, so that ALEX's search counters cover the lookups and scans.
  for (const system of built) recordShape(context, system, 'bulk load', heldAfterBytes.get(system))
  releaseAll(context.systems)
  return [bulkRow, lookupRow, scanRow]
}

/** Phase 2: bulk load half the keys (untimed), then time inserting the rest interleaved with lookups. */
function runMixedPhase(context: KeySetContext): RowResult {
  const { keySet, keyCount, settings, distribution } = context
  const plan = makeMixedPlan(keySet, rng(settings, distribution, keyCount, 'mixed'))
  const row = measureRow(context, {
    workload: 'mixed 50/50',
    opsPerRepetition: 2 * plan.insertKeys.length,
    setup: (system) => {
      system.release()
      system.prepareBulkLoad(plan.initial.sortedKeys, plan.initial.values)
      system.bulkLoad()
    },
    timed: (system, opCount) => system.insertThenLookup(plan.insertKeys, plan.insertValues, plan.queryKeys, opCount / 2),
    expected: (opCount) => expectedValueSum(plan.expectedValues, opCount / 2),
    afterLast: (system) => {
      const problem = verifyStructure(context, system, keyCount)
      recordShape(context, system, 'mixed 50/50')
      return problem
    },
    releaseAfterTimed: true,
  })
  releaseAll(context.systems)
  return row
}

/** Phase 3: start empty (untimed), then time inserting every key in random order. */
function runInsertPhase(context: KeySetContext): RowResult {
  const { keySet, keyCount, settings, distribution } = context
  const plan = makeInsertPlan(keySet, rng(settings, distribution, keyCount, 'inserts'))
  const row = measureRow(context, {
    workload: 'inserts',
    opsPerRepetition: keyCount,
    setup: (system) => {
      system.release()
      system.startEmpty()
    },
    timed: (system, opCount) => system.inserts(plan.insertKeys, plan.insertValues, opCount),
    expected: (opCount) => opCount,
    afterLast: (system) => {
      const problem = verifyStructure(context, system, keyCount)
      recordShape(context, system, 'inserts')
      return problem
    },
    releaseAfterTimed: true,
  })
  releaseAll(context.systems)
  return row
}

/** Checks size and a sample of lookups; returns a problem description or undefined. */
function verifyStructure(context: KeySetContext, system: IndexSystem, expectedSize: number): string | undefined {
  const size = system.size()
  if (size !== expectedSize) return `size ${size}, expected ${expectedSize}`
  const { queryKeys, expectedValues } = context.verifyPlan
  const sum = system.lookups(queryKeys, queryKeys.length)
  const expectedSum = expectedValueSum(expectedValues, expectedValues.length)
  return sum === expectedSum ? undefined : `verification lookups summed to ${sum}, expected ${expectedSum}`
}

function recordShape(context: KeySetContext, system: IndexSystem, after: ShapeResult['after'], held?: number): void {
  try {
    const indexBytes = system.indexBytes()
    context.shapes.push({
      keyCount: context.keyCount,
      distribution: context.distribution,
      after,
      system: system.name,
      ...(indexBytes === undefined ? {} : { indexBytes }),
      ...(held === undefined ? {} : { heldBytes: held }),
      shape: system.describe(),
    })
  } catch (error) {
    context.log(`  ! ${system.name} figures after ${after}: ${describeError(error)}`)
  }
}

function releaseAll(systems: readonly IndexSystem[]): void {
  for (const system of systems) system.release()
  collectGarbage()
}

function measureRow(context: RowContext, spec: RowSpec): RowResult {
  const { settings, log } = context
  // Mixed pairs are two operations, so the warm-up cap is rounded down to an even count.
  const cappedOps = Math.min(spec.opsPerRepetition, settings.warmupOpsMax)
  const warmupOps = spec.warmupAtFullSize === true ? spec.opsPerRepetition : Math.max(2, cappedOps - (cappedOps % 2))
  const expectedByOpCount = new Map<number, number>()
  const expected = (opCount: number): number => {
    let value = expectedByOpCount.get(opCount)
    if (value === undefined) {
      value = spec.expected(opCount)
      expectedByOpCount.set(opCount, value)
    }
    return value
  }
  const outcomes = new Map<IndexSystem, SystemOutcome>()
  for (const system of context.systems) {
    const applicable = system.supportsInserts || (spec.workload !== 'mixed 50/50' && spec.workload !== 'inserts')
    outcomes.set(system, {
      system: system.name,
      status: applicable ? 'ok' : 'n/a',
      samples: [],
      ...(applicable ? { checksumOk: true, checksum: 0 } : { note: 'read-only baseline' }),
    })
  }
  const seconds: number[] = []
  for (let repetition = 0; repetition <= settings.timedRepetitions; repetition++) {
    const isWarmup = repetition === 0
    const opCount = isWarmup ? warmupOps : spec.opsPerRepetition
    for (const system of rotate(context.systems, repetition)) {
      const outcome = outcomes.get(system)!
      if (outcome.status !== 'ok') continue
      try {
        spec.setup?.(system)
        collectGarbage()
        const timed = timeCall(() => spec.timed(system, opCount))
        seconds.push(timed.seconds)
        if (timed.checksum !== expected(opCount)) {
          outcome.checksumOk = false
          outcome.note = `checksum ${timed.checksum}, expected ${expected(opCount)} (repetition ${repetition})`
        }
        if (!isWarmup) {
          outcome.samples.push(opCount / timed.seconds)
          outcome.checksum! += timed.checksum
        }
      } catch (error) {
        outcome.status = 'error'
        outcome.note = `repetition ${repetition}: ${describeError(error)}`
        log(`  ! ${system.name} ${spec.workload}: ${outcome.note}`)
        system.release()
        continue
      }
      if (repetition === settings.timedRepetitions) checkAfterLast(spec, system, outcome)
      if (spec.releaseAfterTimed === true) system.release()
    }
  }
  for (const system of context.systems) {
    const outcome = outcomes.get(system)!
    if (outcome.status !== 'ok') continue
    outcome.median = median(outcome.samples)
    outcome.spreadPercent = spreadPercent(outcome.samples)
    if (outcome.checksumOk === false) log(`  ! ${system.name} ${spec.workload}: WRONG RESULT — ${outcome.note}`)
  }
  const row: RowResult = {
    keyCount: context.keyCount,
    distribution: context.distribution,
    workload: spec.workload,
    unit: WORKLOAD_UNITS[spec.workload],
    opsPerRepetition: spec.opsPerRepetition,
    warmupOps,
    timedRepetitions: settings.timedRepetitions,
    outcomes: [...outcomes.values()],
  }
  const alex = row.outcomes.find((o) => o.system === 'alex')
  const btree = row.outcomes.find((o) => o.system === 'btree')
  // No ratio from a wrong result: a fast wrong answer must not pass a target.
  const trusted = (o: SystemOutcome | undefined) => o?.status === 'ok' && o.checksumOk !== false
  if (trusted(alex) && trusted(btree)) row.alexToBtree = alex!.median! / btree!.median!
  const totalSeconds = seconds.reduce((a, b) => a + b, 0)
  log(`  ${spec.workload}: ${row.outcomes.map(formatBrief).join(', ')} (${totalSeconds.toFixed(1)} s timed)`)
  return row
}

function checkAfterLast(spec: RowSpec, system: IndexSystem, outcome: SystemOutcome): void {
  try {
    const problem = spec.afterLast?.(system)
    if (problem !== undefined) {
      outcome.checksumOk = false
      outcome.note = problem
    }
  } catch (error) {
    outcome.checksumOk = false
    outcome.note = `after last repetition: ${describeError(error)}`
  }
}

function formatBrief(outcome: SystemOutcome): string {
  if (outcome.status !== 'ok') return `${outcome.system} ${outcome.status}`
  return `${outcome.system} ${(median(outcome.samples) / 1e6).toFixed(2)}M`
}

export function outcomeOf(row: RowResult, system: IndexSystem): SystemOutcome {
  const outcome = row.outcomes.find((o) => o.system === system.name)
  if (outcome === undefined) throw new Error(`no outcome for ${system.name}`)
  return outcome
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}

function rng(settings: RunSettings, distribution: Distribution, keyCount: number, purpose: string): Prng {
  return new Prng(settings.seed, `${purpose}:${distribution}:${keyCount}`)
}

const WORKLOAD_ORDER: readonly WorkloadName[] = ['bulk load', 'lookups', 'mixed 50/50', 'inserts', 'range scans']
function workloadOrder(row: RowResult): number {
  return WORKLOAD_ORDER.indexOf(row.workload)
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
