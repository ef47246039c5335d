// Types of corrupt.mjs.
import type { History } from './oracle.mjs'
import type { Plan, Rng } from './workload.mjs'

export interface WalSegment {
  name: string
  size: number
  records: { start: number; end: number; lsn: number; groupLsn: number }[]
}
export declare function parseWal(walDir: string): WalSegment[]
export declare function readRedoLsn(dataPath: string, pageSizeBytes: number): number
export interface CrashedStore {
  dir: string
  history: History
  generation: { gen: number; plan: Plan; issued: number; acked: Set<number> }
  n0: number
  indexOfLsn: number[]
  durability: 'fsync' | 'os' | 'none'
}
export declare function makeCrashedStore(root: string, seed: number, options?: { durability?: 'fsync' | 'os' | 'none'; killAfterMs?: number; killAfterAck?: number; planLength?: number }): Promise<CrashedStore>
export type DamageKind = 'flip-wal' | 'flip-page' | 'flip-meta' | 'truncate-wal' | 'truncate-data' | 'delete-segment'
export declare const DAMAGE_KINDS: DamageKind[]
export interface TrialOutcome {
  outcome: 'detected' | 'right' | 'unnamed' | 'untyped' | 'undetected'
  detail: string
  wrong: number
  lost: number
}
export declare function corruptionTrial(store: CrashedStore, scratch: string, rng: Rng, kind: DamageKind): Promise<TrialOutcome>
export declare function corruptionTrials(store: CrashedStore, scratch: string, seed: number, trials: number): Promise<(TrialOutcome & { kind: DamageKind })[]>
