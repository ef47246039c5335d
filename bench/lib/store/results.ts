/** What one store-benchmark run measures; store-bench.ts prints it and writes it as JSON. */
import type { PageCounts } from 'learned-storage'

export const PHASES = [
  'bulk load',
  'reopen',
  'random get',
  'get latency',
  'range scan',
  'random put',
  'close after puts',
  'reopen after puts',
] as const
export type PhaseName = (typeof PHASES)[number]

/** Buffer-pool counters summed over a phase's timed repetitions (from stats().bufferPool). */
export interface PoolDelta {
  hits: number
  misses: number
  evictions: number
  pagesRead: number
  bytesRead: number
  pagesWritten: number
  bytesWritten: number
  writeCalls: number
}

/** The process's own I/O over a phase, from /proc/self/io (Linux): bytes and calls through read/write syscalls. */
export interface ProcessIoDelta {
  readBytes: number
  writeBytes: number
  readCalls: number
  writeCalls: number
}

export interface Percentiles {
  p50: number
  p99: number
  p999: number
  max: number
}

export interface PhaseResult {
  phase: PhaseName
  /** 'keys/s', 'ops/s' or 'ms' (a duration: lower is better). */
  unit: 'keys/s' | 'ops/s' | 'ms'
  /** Operations (keys, gets, puts) per timed repetition; 1 for durations. */
  opsPerRepetition: number
  /** One figure per timed repetition, in the unit. */
  samples: number[]
  median: number
  spreadPercent: number
  pool?: PoolDelta
  io?: ProcessIoDelta
  /** Per-operation latency in microseconds (per scan for range scans), all timed repetitions pooled. */
  latencyUs?: Percentiles
  /** Phase-specific figures, e.g. the close time inside the bulk load. */
  extra?: Record<string, number>
}

export interface VerificationResult {
  check: string
  checked: number
  mismatches: number
  firstMismatch?: string
}

export interface StoreShape {
  records: number
  bytesOnDisk: number
  /** Sum of the sizes of all files in the store's directory (catches files stats() does not count). */
  directoryBytes: number
  /** Blocks the file system allocated for them (st_blocks × 512): less than the size when files are sparse. */
  directoryAllocatedBytes: number
  /** bytesOnDisk / (records × 24 B raw: 8-byte key + 16-byte value). */
  spaceAmplification: number
  pages: PageCounts
}

export interface CacheRunResult {
  /** What was asked for (undefined: the store's default) and what the store reports. */
  requestedPageSizeBytes?: number
  pageSizeBytes?: number
  cacheSetting: string
  cacheBytes: number
  /** The data size the cache was sized against: bytes on disk after the untimed warm-up load. */
  dataBytes: number
  phases: PhaseResult[]
  afterLoad?: StoreShape
  afterPuts?: StoreShape
  verifications: VerificationResult[]
  error?: string
}

export interface TargetResult {
  target: string
  pageSizeBytes?: number
  value?: number
  threshold: number
  verdict: 'PASS' | 'MISS' | 'n/a'
  note?: string
}

// ---- durable writes and recovery (the WAL phases) -----------------------------------------------

/** One timed run of W writers doing `await put()` on a fresh store at one durability level. */
export interface DurableWriteRun {
  repetition: number
  puts: number
  seconds: number
  putsPerSecond: number
  /** stats().wal deltas over the timed region: group-commit writes and fdatasyncs. */
  groups: number
  syncs: number
  checkpoints: number
  io?: ProcessIoDelta
  /** Untimed: close() after the timed region (the final checkpoint). */
  closeMs: number
}

export interface DurableWriteResult {
  durability: 'fsync' | 'os' | 'none'
  writers: number
  /** puts/s of each repetition, their median and spread. */
  samples: number[]
  median: number
  spreadPercent: number
  /** Summed over the repetitions. */
  puts: number
  groups: number
  syncs: number
  recordsPerGroup: number
  /** NaN when nothing was synced (levels other than 'fsync'). */
  recordsPerSync: number
  /** Per-put latency (call to resolution), all repetitions pooled. */
  latencyUs: Percentiles
  runs: DurableWriteRun[]
  verification: VerificationResult
  error?: string
}

/** The disk's own rate: one process looping a 64-byte positioned write + fdatasync (async, as the log does). */
export interface RawSyncResult {
  /** Syncs per second of each repetition (measured just before that repetition's runs). */
  samples: number[]
  median: number
  spreadPercent: number
  latencyUs: Percentiles
}

export interface DurableWrites {
  /** Absent when no level is 'fsync'. */
  rawSync?: RawSyncResult
  results: DurableWriteResult[]
}

/** What the writer child reported once every put had resolved (just before it was killed). */
export interface WalChildReport {
  records: number
  writers: number
  seconds: number
  putsPerSecond: number
  lastLsn: number
  durableLsn: number
  groups: number
  checkpoints: number
  walSegments: number
  walFileBytes: number
  dataFileBytes: number
}

export interface RecoveryOpen {
  /** 'original' is the killed directory itself; the others are byte copies of it made before any open. */
  copy: string
  openMs: number
  replayedRecords: number
  replayMs: number
  droppedBytes: number
  stoppedBecause: string | null
  leakedPages: number
  records: number
  heldAfterOpenBytes: number
  /** Untimed: close() after the open (checkpoints the replayed records). */
  closeMs: number
}

export interface RecoveryResult {
  records: number
  child?: WalChildReport
  /** How the child ended: 'SIGKILL' when we killed it. */
  childExit?: string
  opens: RecoveryOpen[]
  /** Medians over the opens: records/s by open() wall time and by stats().recovery.replayMs. */
  openMsMedian: number
  replayMsMedian: number
  recordsPerSecondByOpen: number
  recordsPerSecondByReplay: number
  verifications: VerificationResult[]
  error?: string
}
