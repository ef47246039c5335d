/**
 * The comparison benchmark's contract: the systems it drives (learned-storage, tuned RocksDB,
 * RocksDB behind an lru-cache of decoded values, LMDB) and the shape of its results.
 *
 * Keys are integer-valued doubles in [0, 2^53). Every value is made by `makeValue` (values.ts): its
 * first 8 bytes are the key as a little-endian f64 and the next 4 bytes a version number, so a reader
 * can tell a right answer from a wrong one without keeping a copy of the data.
 */

export type Durability = 'fsync' | 'os' | 'none'

export const SYSTEM_NAMES = ['learned-storage', 'rocksdb', 'rocksdb+cache', 'lmdb'] as const
export type SystemName = (typeof SYSTEM_NAMES)[number]

export interface SystemConfig {
  /** An empty directory the system owns for the run. */
  directory: string
  /** The memory budget for caching data (our buffer pool; RocksDB's block cache; split for +cache). */
  memoryBytes: number
  /** Applied to every write: 'fsync' = on stable storage before the promise resolves, 'os' = handed to the OS. */
  durability: Durability
  /** The size of most values, for sizing entry-count caches. */
  valueBytes: number
  /**
   * The budget is smaller than the data (the small-memory condition): a system with a setting meant
   * for that case uses it (LMDB: noReadAhead, as its documentation advises for a map larger than memory).
   */
  smallMemory?: boolean
  /** Our page size when the store is created (`--page-size`); undefined = the engine's default. The other systems ignore it. */
  pageSizeBytes?: number
}

/** What a visitor is handed for each entry a scan or multi-get returns; the bytes may be reused after it returns. */
export type EntryVisitor = (key: number, value: Uint8Array) => void

export interface KvSystem {
  readonly name: SystemName
  /** The settings the run used, and the options the analysis names that this system cannot set. */
  readonly settings: readonly string[]
  /**
   * Writes `keys[i]` with `valueAt(i)` for every i, in the given order, in chunks of `chunkSize`
   * through the system's fastest write path (batches/transactions), and resolves once every write is
   * durable (on stable storage).
   */
  bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array, chunkSize: number): Promise<void>
  /** A point read; the bytes may be reused by the next call. */
  get(key: number): Uint8Array | undefined
  /**
   * Point reads of keys[from..to) through the system's fastest batched read (RocksDB: multi-get);
   * calls visit(key, value) for each key found, in order; returns how many were found.
   */
  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number
  /** Visits up to `limit` entries with key >= startKey in ascending order; returns how many. */
  scan(startKey: number, limit: number, visit: EntryVisitor): number
  /** One write at the configured durability; resolves when it is acknowledged at that level. */
  put(key: number, value: Uint8Array): Promise<void>
  /** Bytes the system's files take on disk now. */
  diskBytes(): number
  /** Hits / lookups of the system's own cache since the last reset, or undefined where it cannot tell. */
  cacheHitRate(): number | undefined
  resetCounters(): void
  close(): Promise<void>
}

export type WorkloadName =
  | 'bulk-load'
  | 'get-uniform'
  | 'get-zipf'
  | 'read-heavy'
  | 'write-heavy'
  | 'insert-random'
  | 'scan-100'
  | 'durable-1'
  | 'durable-16'
  | 'durable-256'
  | 'recovery'

export type MemoryCondition = 'large' | 'small'

export interface LatencySummary {
  /** Microseconds. */
  p50: number
  p99: number
  p999: number
  max: number
  count: number
}

export interface WorkloadResult {
  workload: WorkloadName
  durability: Durability
  /** Median over the repetitions; for scans, keys per second; for recovery, records replayed per second. */
  perSecond: number
  unit: 'ops' | 'keys' | 'records'
  samples: number[]
  latency?: LatencySummary
  /** The system's own cache hit rate during the workload (undefined where it cannot tell). */
  hitRate?: number
  /** Answers that did not match the written data (must be 0). */
  wrong: number
  /** Extra figures, e.g. recovery seconds. */
  extra?: Record<string, number>
  note?: string
  /** The process's I/O during the timed repetitions (io-meter.ts), where /proc/self/io exists. */
  io?: IoFigures
}

/** Deltas of /proc/self/io over a workload's timed regions (io-meter.ts says what each counts). */
export interface IoFigures {
  /** Operations done in those regions (scans: scans, not keys). */
  ops: number
  /** Bytes read from the block device (page-cache hits not counted); 4 KiB pages = readBytes / 4096. */
  readBytes: number
  /** Bytes through read system calls, page-cache hits included (mmap reads not). */
  rchar: number
  writeBytes: number
}

/**
 * The small-memory condition's hard memory cap, for one system's run (BENCH.md rule 8). The run is
 * split in two children: the load (warm-up, bulk load, reopen) runs uncapped, the store's pages are
 * then dropped from the page cache, and the measured phase (every other workload) runs in a fresh
 * child under the cap.
 */
export interface MemoryCapRun {
  /** A hard limit was in force for the measured phase. */
  enforced: boolean
  /** How the cap was set (cgroup files and values), or why there was none. */
  mechanism: string
  /** The limit, page cache included: budgetBytes + allowanceBytes (or as given by --memory-cap). */
  capBytes?: number
  budgetBytes: number
  /** The runtime allowance added to the budget: the largest idle-child peak over the systems x WORKING_ROOM_FACTOR (1.1). */
  allowanceBytes?: number
  /** How the allowance was found. */
  allowanceSource: string
  /** This system's own idle child: its cgroup peak (where measured) and peak RSS. */
  idlePeakBytes?: number
  idlePeakRssBytes?: number
  /** The measured child's cgroup peak usage (anonymous memory + page cache + kernel memory). */
  peakUsageBytes?: number
  /** The measured child's peak RSS (VmHWM), as of its last completed workload if it was killed. */
  peakRssBytes?: number
  /** The load child's peak RSS (uncapped). */
  loadPeakRssBytes?: number
  /** OOM kills in the measured child's group, and times its usage hit the limit. */
  oomKills?: number
  limitHits?: number
  /** The measured child was killed by the OOM killer: its later workloads have no results. */
  killed?: 'memory'
  /** What it was doing when killed (its last progress label). */
  killedDuring?: string
  /** How the measured phase was made to start cold, or why it was not. */
  coldStart: string
  /** The store's bytes in the page cache as the measured child starts, and the store's size (fincore). */
  cachedBytesAtStart?: number
  storeBytesAtStart?: number
  /** The device's 4 KiB random-read rate, measured once in the run (device-probe.ts), or why not. */
  device?: DeviceRateFigures | { skipped: string }
}

export interface DeviceRateFigures {
  qd1PerSecond: number
  deepPerSecond: number
  deepDepth: number
  qd1DeviceBytesPerRead: number
  deepDeviceBytesPerRead: number
  fileBytes: number
  how: string
}

export interface SystemRun {
  system: SystemName
  dataset: string
  valueBytes: number
  keyCount: number
  memory: MemoryCondition
  memoryBytes: number
  settings: string[]
  results: WorkloadResult[]
  /** After the workloads, before close. */
  diskBytes: number
  /** Peak resident set of the child process that ran this system. */
  peakRssBytes: number
  /** Raw bytes of the loaded data: keyCount * (8 + valueBytes). */
  rawBytes: number
  /** The small-memory condition's cap and what the run did under it. */
  memoryCap?: MemoryCapRun
  error?: string
}

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  node: string
  platform: string
}

export interface CompareResults {
  kind: 'compare'
  startedAt: string
  command: string
  machine: MachineInfo
  scale: string
  keyCount: number
  seed: number
  repetitions: number
  /** What the small-memory condition's cap was to be: enforced and how, or why not. */
  memoryCap?: string
  runs: SystemRun[]
}
