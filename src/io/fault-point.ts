import { parseArmedPoint } from './kill-point.js'

/**
 * Test-only fault points: at an armed point the engine throws as if a step that real machines fail
 * only rarely had failed there (an allocation in the middle of a log append), so a test, in process
 * or in a child process, can prove the failure leaves the store consistent. Kill points
 * (kill-point.ts) end the process; fault points end only the operation.
 *
 * Arm one with the environment variable LEARNED_STORAGE_FAULT_POINT=<name> (the first time the point
 * is reached) or <name>:<n> (the n-th time), read once at module load; or, in process, with
 * `armFaultPoint`. It fires once. Unarmed, a fault point costs one comparison.
 *
 * Every fault point, in one place:
 */
export const FAULT_POINTS = {
  /**
   * WalWriter.append, once the record was given its LSN and its first fragment is in the group (all
   * of a one-fragment record), before the append returns: throws a RangeError, as an allocation
   * failing there would.
   */
  WAL_APPEND_AFTER_LSN: 'wal-append-after-lsn',
} as const
export type FaultPoint = (typeof FAULT_POINTS)[keyof typeof FAULT_POINTS]

const parseArmed = (value: string | undefined): { name: string; at: number } | null =>
  parseArmedPoint(value, 'LEARNED_STORAGE_FAULT_POINT', 'a fault point', Object.values(FAULT_POINTS))
let armed = parseArmed(process.env.LEARNED_STORAGE_FAULT_POINT)
let hits = 0

/** Arms `name` to fire at its n-th hit from now (null disarms). For in-process tests. */
export function armFaultPoint(name: FaultPoint | null, n = 1): void {
  armed = name === null ? null : parseArmed(`${name}:${n}`)
  hits = 0
}

/** Throws the fault of `name` if it is armed and this is the hit to fire at (then disarms it). */
export function faultPoint(name: FaultPoint): void {
  if (armed !== null) fire(name)
}

function fire(name: FaultPoint): void {
  if (armed === null || armed.name !== name || ++hits !== armed.at) return
  armed = null
  throw new RangeError(`Array buffer allocation failed (fault point ${name})`)
}
