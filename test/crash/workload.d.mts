// Types of workload.mjs (the implementation is plain ESM so that the writer child and the soak
// runner run without a TypeScript loader).

export declare const STORE_OPTIONS: Readonly<{ pageSizeBytes: number; walSegmentBytes: number; checkpointWalBytes: number; cacheBytes: number }>
export declare function mixSeed(...parts: number[]): number
export declare class Rng {
  constructor(seed: number)
  u32(): number
  next(): number
  int(n: number): number
  range(lo: number, hi: number): number
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
}
export declare const VALUE_HEADER_BYTES: number
export interface ValueHeader {
  gen: number
  index: number
  member: number
  batchSize: number
  key: number
  length: number
}
export declare function encodeValue(gen: number, index: number, member: number, batchSize: number, key: number, length: number): Uint8Array
export declare function decodeValue(bytes: Uint8Array): ValueHeader | null
export declare function valueMatches(bytes: Uint8Array, header: ValueHeader): boolean
export declare function writeId(gen: number, index: number, member: number): number
export declare function generationOfWriteId(id: number): number
export declare function describeWriteId(id: number | undefined): string
export declare const MIB_VALUE_BYTES: number
export declare const BULK_ENTRIES_MAX: number

export type BatchMember = { t: 'put'; k: number; len: number } | { t: 'del'; k: number }
export type PlanItem =
  | { t: 'put'; k: number; len: number }
  | { t: 'del'; k: number }
  | { t: 'batch'; ops: BatchMember[] }
  | { t: 'bulk'; form: 'iterable' | 'columns'; ops: { t: 'put'; k: number; len: number }[] }
  | { t: 'get'; k: number }
  | { t: 'range'; gte: number; lt: number; reverse: boolean; limit: number }
  | { t: 'checkpoint' }
export interface Plan {
  items: PlanItem[]
  window: number
  checkpointIntervalMs: number
  /** The writer's cacheBytes (planGeneration always sets it). */
  cacheBytes?: number
}
/** Truthy `reach`: the soak's (a bulk load at generation 0, MiB values, an 8-page cache). */
export declare function planGeneration(seed: number, gen: number, length?: number, reach?: boolean | null): Plan
export declare function isWrite(item: PlanItem): boolean
export declare function writesOf(gen: number, index: number, item: PlanItem): { key: number; id: number | undefined; len: number | undefined }[]

/** The store methods the workload uses (dist's Store satisfies it). */
export interface WorkloadStore {
  put(key: number, value: Uint8Array): Promise<void>
  del(key: number): Promise<void>
  batch(operations: ({ type: 'put'; key: number; value: Uint8Array } | { type: 'del'; key: number })[]): Promise<void>
  get(key: number): Uint8Array | undefined
  range(options?: { gte?: number; lt?: number; reverse?: boolean; limit?: number }): Iterable<[number, Uint8Array]>
  checkpoint(): Promise<void>
  bulkLoad(entries: Iterable<readonly [number, Uint8Array]>): Promise<void>
  bulkLoad(keys: Float64Array, values: (index: number) => Uint8Array): Promise<void>
}
export declare function issueWrite(db: WorkloadStore, gen: number, index: number, item: PlanItem, onBulkEntry?: (member: number) => void): Promise<void>
export declare function executePlan(
  db: WorkloadStore,
  gen: number,
  plan: Plan,
  report: (line: string) => void,
  options?: { stopOnError?: boolean; from?: number; to?: number; onIssued?: (index: number) => void; onBulkEntry?: (index: number, member: number) => void; overlapBulk?: boolean },
): Promise<{ issued: number; firstError: unknown }>
