// Types of oracle.mjs.
import type { Plan } from './workload.mjs'

export interface Figures {
  cycles: number
  operationsVerified: number
  acknowledgedWritesVerified: number
  acknowledgedWritesLost: number
  wrongValuesReturned: number
  corruptionsUndetected: number
  notAPrefix: number
  otherFailures: number
  corruptionTrials: number
  corruptionsDetected: number
  bulkLoadsVerified: number
  bulkEntriesVerified: number
  bulkLoadsCutShort: number
  mibValuesVerified: number
  evictions: number
  compactionValuesMoved: number
  compactionBytesMoved: number
  killPointsHit: Record<string, number>
}
export declare function newFigures(): Figures
export declare function addFigures(into: Figures, from: Figures): Figures

/** What readState needs of a store (dist's Store satisfies it). */
export interface ReadableStore {
  range(options?: object): Iterable<[number, Uint8Array]>
  get(key: number): Uint8Array | undefined
  stats(): { records: number }
}
export declare function readState(db: ReadableStore): Map<number, Uint8Array>
export declare function identify(state: Map<number, Uint8Array>): { ids: Map<number, number>; wrong: string[] }

export interface Generation {
  gen: number
  plan: Plan
  issued: number
  acked: Set<number>
  rejected?: Set<number>
}
export interface Verdict {
  ok: boolean
  n: number
  lost: number
  wrong: number
  notAPrefix: number
  messages: string[]
  ackedWrites: number
  operations: number
}
export declare class History {
  constructor(durability: 'fsync' | 'os' | 'none')
  durability: 'fsync' | 'os' | 'none'
  base: Map<number, number>
  generation: number
  verify(state: Map<number, Uint8Array>, generation: Generation & { lowerBound?: number; commit?: boolean }): Verdict
}
