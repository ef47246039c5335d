// Types of driver.mjs.
import type { History, Figures } from './oracle.mjs'
import type { Rng } from './workload.mjs'
import type * as Api from '../../src/index.js'
import type * as OpenModule from '../../src/store/open.js'
import type * as FileModule from '../../src/io/file.js'
import type { KILL_POINTS as KillPoints } from '../../src/io/kill-point.js'

export type Durability = 'fsync' | 'os' | 'none'
export interface Engine {
  open: typeof Api.open
  openWithFileSystem: typeof OpenModule.openWithFileSystem
  ErrorCode: typeof Api.ErrorCode
  StoreError: typeof Api.StoreError
  KILL_POINTS: typeof KillPoints
  file: typeof FileModule
}
export declare function distUrl(): URL
export declare function loadEngine(): Promise<Engine>

export interface WriterConfig {
  dir: string
  seed: number
  gen: number
  durability: Durability
  planLength: number
  reach?: boolean
  overlapBulk?: boolean
  kill?: { after: 'ack' | 'issue' | 'bulk-entry'; k: number; tear?: boolean }
  power?: { journal: string; graves: string; tearAfterMs?: number; tearAtSync?: { n: number; pattern: string }; tearAtKill?: boolean; tearSeed?: number }
  openOnly?: boolean
}
export interface WriterRun {
  opened: { lastLsn: number; recovery: object } | null
  issued: number
  acked: Set<number>
  checkpoints: number
  errors: string[]
  readProblems: string[]
  done: boolean
  killedByParent: boolean
  code: number | null
  signal: NodeJS.Signals | null
  stderr: string
  timedOut: boolean
  /** The last figures line (`m`) the writer reported, or null. */
  stats: { evictions: number; checkpoints: number; valuesMoved: number; bytesMoved: number; leavesCompacted: number } | null
}
export declare function runWriter(config: WriterConfig, options?: { killPoint?: string; killAfterMs?: number; timeoutMs?: number }): Promise<WriterRun>

export type Kill =
  | { kind: 'ack'; k: number; tear?: boolean }
  | { kind: 'issue'; k: number; tear?: boolean }
  | { kind: 'bulk-entry'; k: number; tear?: boolean }
  | { kind: 'random'; afterMs: number }
  | { kind: 'point'; point: string; n: number }
  | { kind: 'tear'; afterMs: number }
  | { kind: 'tear-sync'; file: 'data' | 'wal'; n: number }
export interface DirectorySpec {
  root: string
  seed: number
  durability: Durability
  power: boolean
  generations: number
  planLength?: number
  /** The soak's plans: a bulk load at generation 0, MiB values, an 8-page cache (planGeneration). */
  reach?: boolean
  /** Issue writes beside the bulk load instead of after it (shows the hole in test/crash/README.md). */
  overlapBulk?: boolean
  /** A command that replays this directory, printed with each of its failures. */
  replay?: string
  killFor(gen: number, rng: Rng, plan: import('./workload.mjs').Plan): Kill
  replayKillFor?(gen: number, rng: Rng): number | undefined
  verifyModeFor?(gen: number, rng: Rng): 'readonly' | 'readwrite'
  onCycle?(figures: Figures): void
  keep?: boolean
}
export declare function runDirectory(spec: DirectorySpec): Promise<{ figures: Figures; failures: string[]; dir: string; history: History }>
export declare function runDirectories(specs: DirectorySpec[], concurrency?: number, onDone?: (outcome: { figures: Figures; failures: string[] }) => void): Promise<{ figures: Figures; failures: string[] }>
export declare function verifyDirectory(
  dir: string,
  history: History,
  generation: { gen: number; plan: import('./workload.mjs').Plan; issued: number; acked: Set<number> },
  options?: { mode?: 'readonly' | 'readwrite'; lowerBound?: number },
): Promise<{ result: import('./oracle.mjs').Verdict | null; error: string | null; state?: Map<number, Uint8Array> }>
export declare function describeKill(kill: Kill): string
export declare function tempRoot(prefix?: string): string
export declare function randomDelayMs(rng: Rng): number
/** `kMax`: the largest k (3,500; the CI files keep to 1,000 for time). */
export declare function seededKill(rng: Rng, kMax?: number): Kill
export declare function tearSyncKill(rng: Rng): Kill
export declare function killPointCount(point: string, rng: Rng, killPoints: typeof KillPoints): number
