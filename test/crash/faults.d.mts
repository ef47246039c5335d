// Types of faults.mjs.
import type { FaultOp } from './crash-fs.mjs'

export declare const FAULT_OPS: FaultOp[]
export interface FaultTrialResult {
  problems: string[]
  fired: boolean
  calls: Record<FaultOp, number>
  /** op -> file -> calls. */
  callsByPath: Record<FaultOp, Record<string, number>>
  ackedWrites: number
  operations: number
  lost: number
  wrong: number
  /** Unsynced writes thrown away by failed syncs (fsyncgate). */
  dropped: number
  /** Calls the full disk refused. */
  refused: number
  /** Writes that counted towards filling the disk (a run with n = Infinity counts them). */
  spaceMatches: number
}
export interface FaultSpec {
  op: FaultOp
  code: 'EIO' | 'ENOSPC'
  n: number
  path?: RegExp
  /** fsyncgate: the failed sync throws away the file's unsynced writes. */
  dropUnsynced?: boolean
  /** The disk fills at the n-th matching write and stays full until the reopen. */
  diskFull?: { growOnly?: boolean }
}
export declare function faultTrial(
  root: string,
  seed: number,
  fault: FaultSpec | null,
  options?: { durability?: 'fsync' | 'os' | 'none'; planLength?: number; power?: boolean },
): Promise<FaultTrialResult>
/** Calls of `op` in a trial to files matching `pattern`. */
export declare function callsTo(result: FaultTrialResult, op: FaultOp, pattern: RegExp): number
export declare function risingN(count: number, dense?: number, spread?: number): number[]
