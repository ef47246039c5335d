/** The shape of what one benchmark run measures; report.ts prints it and index-bench.ts writes it. */
import type { Distribution } from './datasets.js'
import type { SystemName } from './systems/system.js'

export const WORKLOADS = ['bulk load', 'lookups', 'mixed 50/50', 'inserts', 'range scans'] as const
export type WorkloadName = (typeof WORKLOADS)[number]

export const WORKLOAD_UNITS: Record<WorkloadName, string> = {
  'bulk load': 'keys/s',
  lookups: 'ops/s',
  'mixed 50/50': 'ops/s',
  inserts: 'ops/s',
  'range scans': 'scans/s',
}

export interface SystemOutcome {
  system: SystemName
  status: 'ok' | 'n/a' | 'error'
  /** Throughput of each timed repetition (warm-up excluded), in the row's unit. */
  samples: number[]
  median?: number
  spreadPercent?: number
  /** Every timed repetition returned the checksum the plan predicts, and post-run checks passed. */
  checksumOk?: boolean
  /** Sum of the checksums of the timed repetitions. */
  checksum?: number
  note?: string
}

export interface RowResult {
  keyCount: number
  distribution: Distribution
  workload: WorkloadName
  unit: string
  /** Operations per timed repetition (keys loaded, lookups, inserts+lookups, inserts, or scans). */
  opsPerRepetition: number
  warmupOps: number
  timedRepetitions: number
  outcomes: SystemOutcome[]
  /** Median ALEX throughput over median sorted-btree throughput. */
  alexToBtree?: number
}

/** A structure's figures after a workload: index bytes, bytes held, and the system's own shape. */
export interface ShapeResult {
  keyCount: number
  distribution: Distribution
  after: 'bulk load' | 'mixed 50/50' | 'inserts'
  system: SystemName
  indexBytes?: number
  /** V8 heap plus external bytes retained by the structure (bulk load only). */
  heldBytes?: number
  shape: Record<string, number>
}

export interface TargetResult {
  target: string
  keyCount: number
  distribution: Distribution
  value?: number
  threshold: number
  higherIsBetter: boolean
  verdict: 'PASS' | 'MISS' | 'n/a'
}
