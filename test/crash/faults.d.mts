// Types of faults.mjs.
import type { FaultOp } from './crash-fs.mjs'

export declare const FAULT_OPS: FaultOp[]
export interface FaultTrialResult {
  problems: string[]
  fired: boolean
  calls: Record<FaultOp, number>
  ackedWrites: number
  operations: number
  lost: number
  wrong: number
}
export declare function faultTrial(
  root: string,
  seed: number,
  fault: { op: FaultOp; code: 'EIO' | 'ENOSPC'; n: number } | null,
  options?: { durability?: 'fsync' | 'os' | 'none'; planLength?: number },
): Promise<FaultTrialResult>
export declare function risingN(count: number, dense?: number, spread?: number): number[]
