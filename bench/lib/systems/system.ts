/**
 * The contract every benchmarked index meets. Each system keeps its own hot loops (one method per
 * workload, over Float64Array arguments), so every loop's call sites see one receiver type and the
 * JIT can inline them; the harness only calls a method once per repetition.
 *
 * Methods named "timed" in their comment are what the harness measures; everything else is setup.
 * Timed methods return a checksum of what they read so the work cannot be optimized away; the harness
 * compares it with a checksum computed from the plan itself.
 */

export const SYSTEM_NAMES = ['alex', 'btree', 'array'] as const
export type SystemName = (typeof SYSTEM_NAMES)[number]

export interface IndexSystem {
  readonly name: SystemName
  /** False for read-only baselines: insert workloads are reported as n/a. */
  readonly supportsInserts: boolean
  /** Setup: hand over sorted keys and parallel values in whatever input format the system takes. */
  prepareBulkLoad(sortedKeys: Float64Array, values: Float64Array): void
  /** Timed: build the structure from the prepared input. Returns the size. */
  bulkLoad(): number
  /** Setup: start from an empty structure. */
  startEmpty(): void
  /** Timed: get() of each query key. Returns the sum of values found (a miss adds nothing). */
  lookups(queryKeys: Float64Array, queryCount: number): number
  /** Timed: from each start key, visit up to scanLength entries in key order. Returns sum of key+value. */
  rangeScans(startKeys: Float64Array, scanCount: number, scanLength: number): number
  /** Timed: insert opCount keys in the given order. Returns the final size. */
  inserts(keys: Float64Array, values: Float64Array, opCount: number): number
  /** Timed: for each j, insert keys[j] then look up queryKeys[j]. Returns the sum of values found. */
  insertThenLookup(keys: Float64Array, values: Float64Array, queryKeys: Float64Array, pairCount: number): number
  /** Keys in the current structure (untimed; used to verify the workloads). */
  size(): number
  /** Bytes of the index proper (no key/value slots), or undefined when the system has no such part. */
  indexBytes(): number | undefined
  /** Shape figures of the current structure for the JSON report. */
  describe(): Record<string, number>
  /** Drop the structure and the prepared input so the GC can reclaim them. */
  release(): void
}
