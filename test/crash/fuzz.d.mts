// Types of fuzz.mjs.
export declare const OPEN_TIME_LIMIT_MS: number
export declare const MEMORY_LIMIT_BYTES: number
export interface FuzzShape {
  name: string
  pageSizeBytes: number
  bulk: number
  before: number
  after: number
  overflowEvery: number
}
export declare const SHAPES: FuzzShape[]
export declare function pageChecksum(page: Uint8Array): number
export interface FuzzFailure {
  seed: number
  trial: number
  shape: string
  field: string
  file: string
  offset: number
  truth: number
  value: string
  problems: string[]
}
export interface FuzzFigures {
  trials: number
  rightData: number
  corruption: number
  version: number
  older: number
  handleMoved: number
  hangs: number
  untyped: number
  otherCode: number
  unnamed: number
  wrongValues: number
  changedFiles: number
  memoryOverLimit: number
  slow: number
  failures: FuzzFailure[]
  byField: Record<string, { trials: number; failed: number; outcomes: Record<string, number> }>
  ms: number
}
export declare function fuzzTrials(options: {
  root: string
  seed?: number
  trials?: number
  from?: number
  /** Trials run at once, each loop with its own child (default 1). */
  jobs?: number
  onTrial?: (trial: Omit<FuzzFailure, 'problems'> & { outcomes: string[]; problems: string[] }) => void
}): Promise<FuzzFigures>
