/**
 * What `open` does to a store's files before the store takes writes, in the order Store.openLocked
 * calls it: create a new store (`createStore`), open the page file at its newest usable meta page
 * (`openPageFile`; load.ts reads the checkpoint), count the pages the checkpoint holds and free the
 * ones a crash leaked (`countStoredPages`, `verifyEpochs` when a meta page is damaged), then replay
 * the log after the checkpoint and cut its torn tail (`recover`, `cutLogAt`), and make the log
 * directory durable (`makeLogDirectory`). docs/RECOVERY.md has the argument.
 */

import path from 'node:path'
import { AlexIndex } from '../alex/alex-index.js'
import { ErrorCode, StoreError } from '../errors.js'
import type { FileSystem, StorageFile } from '../io/file.js'
import { KILL_POINTS, killPoint } from '../io/kill-point.js'
import { FreeSpace } from '../pages/free-space.js'
import { FIRST_DATA_PAGE_ID, type Meta } from '../pages/meta-page.js'
import { PageFile } from '../pages/page-file.js'
import { VALUE_RECORD_SHORT_HEADER_BYTES } from '../pages/value-page.js'
import { PAGE_MAP_OVERFLOW, type ValueStore } from '../pages/value-store.js'
import { decodeBatchRecord } from '../wal/batch-record.js'
import { RecordType, WAL_DIR_NAME } from '../wal/wal-format.js'
import { readWal } from '../wal/wal-reader.js'
import type { Durability, RecoveryStats } from './api.js'
import { invalid } from './arguments.js'
import type { Checkpointer } from './checkpoint.js'
import { newPieces, readNewestMeta, type Pieces } from './load.js'
import { DEFAULT_PAGE_SIZE_BYTES, leafValueBytesFor, type CheckedOptions } from './options.js'

export const DATA_FILE_NAME = 'data.lsp'
/** A new page file is built under this suffix and renamed into place. */
const NEW_FILE_SUFFIX = '.new'
/** Under the log directory: segments a checkpoint ahead of the log made unneeded, kept (`recover`). */
export const WAL_SET_ASIDE_DIR_NAME = 'set-aside'

/** A log segment the writer goes on from: its first LSN and its file name. */
export interface LogSegment {
  firstLsn: number
  name: string
}

/**
 * Creates a new store atomically: the first checkpoint is written to `data.lsp.new`, synced, and
 * renamed to `data.lsp` (the directory synced), so a crash during creation leaves no store or a
 * whole one, never a page file without a meta page. `writeFirstCheckpoint` writes the checkpoint of
 * the empty store made of `pieces` (a Store over them). Refuses (CORRUPTION) if the log holds writes.
 */
export async function createStore(dir: string, options: CheckedOptions, fs: FileSystem, writeFirstCheckpoint: (pieces: Pieces) => Promise<void>): Promise<void> {
  const filePath = path.join(dir, DATA_FILE_NAME)
  // A log with records beside a missing or empty page file means the page file was lost (a new
  // store writes its log only after its page file is in place): refuse rather than start over.
  const walDir = path.join(dir, WAL_DIR_NAME)
  const logged = fs.exists(walDir) ? fs.list(walDir).filter((name) => name.endsWith('.wal') && fileSize(fs, path.join(walDir, name)) > 0) : []
  if (logged.length > 0) {
    throw new StoreError(ErrorCode.CORRUPTION, `${filePath} is missing or empty, but the log holds writes (${logged.join(', ')}): the page file was lost`)
  }
  const newPath = filePath + NEW_FILE_SUFFIX
  // A leftover log cannot belong to a page file that never had a checkpoint.
  for (const name of fs.exists(walDir) ? fs.list(walDir) : []) {
    if (name.endsWith('.wal')) fs.remove(path.join(walDir, name))
  }
  fs.remove(newPath)
  const raw = fs.openFile(newPath, { create: true })
  try {
    const file = new PageFile(raw, options.pageSizeBytes ?? DEFAULT_PAGE_SIZE_BYTES)
    await writeFirstCheckpoint(newPieces(file, options.cacheBytes, leafValueBytesFor(options, file.pageSizeBytes)))
    file.datasync()
  } finally {
    raw.close()
  }
  fs.rename(newPath, filePath)
  fs.syncDirectory(dir)
}

/**
 * The page file over `raw` (the store's, opened by the caller, who closes it on a throw), at its
 * newest usable meta page; `damaged` says what was wrong with the other one (null: both valid).
 * Its writes go to memory when the store is read-only.
 */
export function openPageFile(raw: StorageFile, dir: string, options: CheckedOptions): { file: PageFile; meta: Meta; older: Meta | null; damaged: string | null } {
  const filePath = path.join(dir, DATA_FILE_NAME)
  const readOnly = options.readOnly
  const size = raw.size()
  if (size === 0) throw new StoreError(ErrorCode.IO, `no store in ${dir} to open read-only (${DATA_FILE_NAME} is empty)`)
  const { meta, older, damaged } = readNewestMeta(raw.path, (buffer, position) => raw.read(buffer, 0, buffer.byteLength, position))
  if (options.pageSizeBytes !== undefined && options.pageSizeBytes !== meta.pageSizeBytes) {
    throw invalid(`store ${dir} has ${meta.pageSizeBytes}-byte pages; pageSizeBytes ${options.pageSizeBytes} was asked for`)
  }
  if (options.leafValueBytes !== undefined && options.leafValueBytes !== meta.cellBytes) {
    throw invalid(`store ${dir} keeps values of up to ${meta.cellBytes} bytes in its leaves; leafValueBytes ${options.leafValueBytes} was asked for`)
  }
  if (size < meta.pageCount * meta.pageSizeBytes) {
    throw new StoreError(ErrorCode.CORRUPTION, `${filePath}: ${size} bytes, but the meta page (generation ${meta.generation}) counts ${meta.pageCount} pages of ${meta.pageSizeBytes} bytes`)
  }
  const file = new PageFile(raw, meta.pageSizeBytes)
  file.writeEpoch = meta.generation + 1
  if (readOnly) file.writeToMemory()
  return { file, meta, older, damaged }
}

/**
 * Throws CORRUPTION if a page marked in `used` was written after checkpoint `generation` (its epoch
 * is higher): the checkpoint's own pages are never written again while it is the durable one, so
 * such a page was reused after a newer checkpoint committed.
 */
export function verifyEpochs(file: PageFile, used: Uint8Array, generation: number): void {
  const scratch = new Uint8Array(file.pageSizeBytes)
  for (let page = FIRST_DATA_PAGE_ID; page < used.length; page++) {
    if (used[page] === 0) continue
    const epoch = file.readEpoch(page, scratch)
    if (epoch > generation) {
      throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: page ${page} at offset ${page * file.pageSizeBytes} was written after checkpoint ${generation} (epoch ${epoch}): it was reused once a newer checkpoint committed`)
    }
  }
}

/** The parts of a store just loaded that countStoredPages reads and completes. */
export interface LoadedStore {
  file: PageFile
  free: FreeSpace
  index: AlexIndex<number>
  values: ValueStore
  /** The checkpoint's page map (value-store.ts `pageMap`). */
  pageMap: Uint32Array
  checkpointer: Pick<Checkpointer, 'treePages' | 'freeListPages' | 'pageMapPages' | 'generation'>
  recovery: RecoveryStats
}

/**
 * After loading: the pages in use, from the tree (model pages, each leaf's page), the chains and the
 * page map (value pages and overflow runs, whose counts the value store takes over); then every page
 * below the page count that nothing references and the free list does not hold is freed (a crash
 * after pages were allocated, before the checkpoint that would have referenced them). Reads no page.
 * Returns the pages in use (1 at a page id).
 */
export function countStoredPages(loaded: LoadedStore): Uint8Array {
  const { file, free, pageMap } = loaded
  const used = new Uint8Array(free.frontier)
  const where = `${file.path} (checkpoint ${loaded.checkpointer.generation})`
  const claim = (page: number, what: string): void => {
    if (used[page] !== 0) throw new StoreError(ErrorCode.CORRUPTION, `${where}: page ${page} is named twice (again as ${what})`)
    used[page] = 1
  }
  used[0] = 1
  used[1] = 1
  for (const page of loaded.checkpointer.treePages) claim(page, 'a tree image page')
  for (const page of loaded.checkpointer.freeListPages) claim(page, 'a free-list page')
  for (const page of loaded.checkpointer.pageMapPages) claim(page, 'a page map page')
  for (const leaf of loaded.index.leaves()) claim(leaf.leafId, 'a leaf')
  for (let page = 0; page < pageMap.length; page++) {
    const entry = pageMap[page]!
    if (entry === 0) continue
    if (page < FIRST_DATA_PAGE_ID) throw new StoreError(ErrorCode.CORRUPTION, `${where}: the page map names meta page ${page} as a value or overflow page`)
    // A value page holds at most a record per 5 bytes (the smallest record: header and no value).
    if (entry !== PAGE_MAP_OVERFLOW && entry > file.pageSizeBytes / VALUE_RECORD_SHORT_HEADER_BYTES) throw new StoreError(ErrorCode.CORRUPTION, `${where}: the page map counts ${entry} live records on page ${page}, more than a page holds`)
    claim(page, entry === PAGE_MAP_OVERFLOW ? 'an overflow page in the page map' : 'a value page in the page map')
  }
  loaded.values.loadPageMap(pageMap)
  const leaked: number[] = []
  for (let page = FIRST_DATA_PAGE_ID; page < used.length; page++) {
    const isFree = free.isListed(page)
    if (used[page] === 0 && !isFree) leaked.push(page)
    // A page both in use and on the free list would be handed out again while it holds data.
    if (used[page] !== 0 && isFree) {
      throw new StoreError(ErrorCode.CORRUPTION, `${file.path}: the free list (chain from the meta page of generation ${loaded.checkpointer.generation}) names page ${page}, which the checkpoint uses`)
    }
  }
  free.addFreePages(leaked)
  loaded.recovery.leakedPages = leaked.length
  return used
}

/** What `recover` replays the log into, and what it reports through. */
export interface LogReplay {
  fs: FileSystem
  walDir: string
  readOnly: boolean
  /** walRecovery 'salvage': damage in the log ends it like a torn tail. */
  salvage: boolean
  /** The last LSN the checkpoint holds (its redo LSN - 1). */
  appliedLsn: number
  /** The checkpoint's generation and the page file's path, for messages. */
  generation: number
  filePath: string
  /** Filled in: records replayed, bytes dropped, why replay stopped, how long it took. */
  recovery: RecoveryStats
  put: (key: number, value: Uint8Array) => void
  del: (key: number) => void
  /**
   * The checking pass's look at each key the log writes (read-write opens): the store reads the leaf
   * that holds it (checked on its first read since open) and the value record it would release, so
   * that damage there is found before replay changes a page.
   */
  inspect: (key: number) => void
}

/**
 * Replays the log from the checkpoint's redo LSN; cuts a torn tail off (unless read-only). Returns
 * the last LSN applied and the segments the log goes on from (none when read-only).
 *
 * A failed open changes no file: a read-write open first reads the whole log and checks every
 * record it would replay (framing, LSNs, batch payloads) without applying anything, so that every
 * CORRUPTION is found before replay can write a page (a buffer-pool eviction) or the log is cut;
 * then it reads the log again and applies it. Only then are files changed (the cut, the removals
 * and the setting aside below). Reading the log twice is the price (replay is bounded by the log
 * since the last checkpoint).
 */
export function recover(log: LogReplay, damagedMeta: string | null): { appliedLsn: number; segments: LogSegment[] } {
  const started = performance.now()
  const { fs, walDir, readOnly, recovery } = log
  let appliedLsn = log.appliedLsn
  const redoLsn = appliedLsn + 1
  const salvage = log.salvage
  let firstSeen = 0
  let current = 0
  const where = (): string => `${walDir}: record ${current}`
  const put = log.put
  const del = log.del
  const inspectPut = (key: number, _value: Uint8Array): void => log.inspect(key)
  const inspectDel = (key: number): void => log.inspect(key)
  const pass = (apply: boolean) =>
    readWal(fs, walDir, salvage, (lsn, type, payload) => {
      if (firstSeen === 0) firstSeen = lsn
      if (lsn < redoLsn) return
      if (type !== RecordType.BATCH) return
      current = lsn
      if (!apply) {
        decodeBatchRecord(payload, where, inspectPut, inspectDel)
        return
      }
      decodeBatchRecord(payload, where, put, del)
      appliedLsn = lsn
      recovery.replayedRecords++
      killPoint(KILL_POINTS.RECOVERY_REPLAY)
    })
  // Read-only: nothing is written, so one pass checks and applies (into memory).
  let result = pass(readOnly)
  const logStart = result.segments.length > 0 ? result.segments[0]!.firstLsn : firstSeen
  if (logStart > redoLsn || (firstSeen > redoLsn)) {
    const why = `${walDir}: the log starts at LSN ${Math.max(logStart, firstSeen)}, but the checkpoint (the redo LSN field of the meta page of generation ${log.generation} in ${log.filePath}) needs it from LSN ${redoLsn}`
    // The usual cause: the newest meta page is damaged, and the older checkpoint's log is gone.
    throw new StoreError(ErrorCode.CORRUPTION, damagedMeta === null ? why : `${damagedMeta}; falling back to the older meta page failed: ${why}`)
  }
  if (!readOnly) result = pass(true)
  appliedLsn = Math.max(appliedLsn, result.lastLsn)
  recovery.droppedBytes = result.droppedBytes
  recovery.stoppedBecause = result.stoppedBecause
  recovery.replayMs = performance.now() - started
  if (readOnly) return { appliedLsn, segments: [] }
  const logBehind = result.lastLsn < appliedLsn
  // A log set aside is kept whole (below); otherwise its torn tail is cut off.
  if (result.end !== null && !logBehind) cutLogAt(fs, walDir, result.end, result.segments.map((s) => s.name))
  // Segments that start past the last record hold nothing valid (a crash right after creating
  // one): the writer's next segment may take the same name, so they go now.
  //
  // The checkpoint can be ahead of the log: at durability 'none' or 'os' a power loss can drop
  // log records that a synced checkpoint holds. Then every segment holds only records the
  // checkpoint has, and the log that follows must not leave a gap in its LSNs. But a redo LSN
  // that lies (a crafted or damaged meta page with a valid checksum) looks the same, and its
  // segments hold acknowledged writes the checkpoint does not: so segments that hold valid
  // records are never deleted here but set aside, renamed into wal/set-aside/ (the redo LSN
  // prefixed), where nothing reads them and a user can; segments without a valid record go.
  const kept: { firstLsn: number; name: string }[] = []
  const setAside: string[] = []
  let removed = false
  const segments = result.segments
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    if (result.end !== null && segment.name > result.end.segment && !logBehind) continue
    if (logBehind || segment.firstLsn > appliedLsn) {
      const nextFirst = i + 1 < segments.length ? segments[i + 1]!.firstLsn : Infinity
      const holdsRecords = firstSeen > 0 && segment.firstLsn <= result.lastLsn && nextFirst > firstSeen
      if (holdsRecords) setAside.push(segment.name)
      else fs.remove(path.join(walDir, segment.name))
      removed = true
    } else {
      kept.push({ firstLsn: segment.firstLsn, name: segment.name })
    }
  }
  if (setAside.length > 0) {
    const aside = path.join(walDir, WAL_SET_ASIDE_DIR_NAME)
    fs.mkdir(aside)
    for (const name of setAside) fs.rename(path.join(walDir, name), path.join(aside, `${redoLsn}-${name}`))
    fs.syncDirectory(aside)
    recovery.stoppedBecause ??= `the checkpoint (redo LSN ${redoLsn}) is ahead of the log (last record ${result.lastLsn}): ${setAside.join(', ')} set aside in ${aside}`
  }
  if (removed) fs.syncDirectory(walDir)
  return { appliedLsn, segments: kept }
}

/** Makes the log end at `end`: truncates that segment there and removes the segments after it. */
function cutLogAt(fs: FileSystem, walDir: string, end: { segment: string; offset: number }, names: string[]): void {
  const segmentPath = path.join(walDir, end.segment)
  const file = fs.openFile(segmentPath, {})
  try {
    if (file.size() !== end.offset) {
      file.truncate(end.offset)
      file.datasync()
    }
  } finally {
    file.close()
  }
  let removed = false
  for (const name of names) {
    if (name > end.segment) {
      fs.remove(path.join(walDir, name))
      removed = true
    }
  }
  if (removed) fs.syncDirectory(walDir)
}

/** Makes the log directory (if missing) and, at 'fsync', syncs the store directory that holds it. */
export function makeLogDirectory(fs: FileSystem, dir: string, walDir: string, durability: Durability): void {
  if (!fs.exists(walDir)) fs.mkdir(walDir)
  // The log directory's entry must survive a power loss, or so would none of the log. Synced at
  // every read-write open at 'fsync', not only when this open made it: an earlier open (or one at
  // 'os') may have made it and died before syncing the store directory.
  if (durability === 'fsync') fs.syncDirectory(dir)
}

export function isMissingOrEmpty(fs: FileSystem, file: string): boolean {
  return !fs.exists(file) || fileSize(fs, file) === 0
}

function fileSize(fs: FileSystem, file: string): number {
  const handle = fs.openFile(file, { readOnly: true })
  try {
    return handle.size()
  } finally {
    handle.close()
  }
}
