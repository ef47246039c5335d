/** Timing, garbage collection and summary statistics for the benchmark harness. */

const gcFunction = (globalThis as { gc?: () => void }).gc

/** True when node runs with --expose-gc; without it repetitions start with whatever garbage is left. */
export const canCollectGarbage = gcFunction !== undefined

/** Full collection so one repetition's garbage is not collected inside the next one's timing. */
export function collectGarbage(): void {
  if (gcFunction !== undefined) {
    gcFunction()
    gcFunction()
  }
}

export interface Timed {
  seconds: number
  checksum: number
}

export function timeCall(run: () => number): Timed {
  const start = process.hrtime.bigint()
  const checksum = run()
  const end = process.hrtime.bigint()
  return { seconds: Number(end - start) / 1e9, checksum }
}

/** Bytes the process holds in the V8 heap plus memory outside it (typed-array backing stores). */
export function heldBytes(): number {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** (max - min) / median, in percent: how far apart the repetitions were. */
export function spreadPercent(samples: readonly number[]): number {
  if (samples.length < 2) return 0
  return ((Math.max(...samples) - Math.min(...samples)) / median(samples)) * 100
}
