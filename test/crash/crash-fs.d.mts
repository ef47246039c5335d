// Types of crash-fs.mjs.
import type { FileSystem } from '../../src/io/file.js'
import type { Rng } from './workload.mjs'

export type FaultOp = 'write' | 'sync' | 'open' | 'truncate' | 'rename' | 'remove' | 'syncDirectory'
export interface Fault {
  op: FaultOp
  code: 'EIO' | 'ENOSPC'
  /** Matching calls that succeed before the one that fails. Default 0. */
  after?: number
  path?: RegExp
  /** (op 'sync') fsyncgate: the failed sync throws away the file's unsynced writes. */
  dropUnsynced?: boolean
}
export interface CrashFileSystemOptions {
  holdUnsynced?: boolean
  journalPath?: string
  graveDir?: string
  /** Tear the unsynced writes and die as the n-th sync of a file matching `pattern` starts. */
  tearAtSync?: { n: number; pattern: RegExp; rng: Rng; directories?: boolean }
}
export declare class CrashFileSystem implements FileSystem {
  /** `fileModule`: the engine's io/file.js (from loadEngine().file). */
  constructor(fileModule: unknown, options?: CrashFileSystemOptions)
  readonly calls: Record<FaultOp, number>
  readonly injected: { op: FaultOp; path: string; code: string }[]
  /** Unsynced writes thrown away by failed syncs (fsyncgate), and calls a full disk refused. */
  readonly droppedWrites: number
  readonly spaceRefusals: number
  readonly spaceMatches: number
  /** Syncs seen by `tearAtSync` (files matching its pattern; directories too with `directories`). */
  readonly syncsSeen: number
  failNext(fault: Fault): void
  fillDisk(options?: { after?: number; path?: RegExp; growOnly?: boolean }): void
  freeSpace(): number
  die(): void
  tearAndDie(rng: Rng): never
  openFile: FileSystem['openFile']
  list: FileSystem['list']
  exists: FileSystem['exists']
  mkdir: FileSystem['mkdir']
  remove: FileSystem['remove']
  rename: FileSystem['rename']
  syncDirectory: FileSystem['syncDirectory']
}
export declare function powerCut(journalPath: string, graveDir?: string): string[]
