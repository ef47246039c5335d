/**
 * The buffer pool: page-size frames within a byte budget, caching pages of one page file.
 *
 * Replacement is exact LRU kept as a doubly-linked list over frame numbers in typed arrays: a hit
 * costs one Map lookup and a few array stores, eviction walks from the least recent end past pinned
 * frames, and nothing is allocated. Chosen by measurement (`npm run bench:pool`, docs/FORMAT.md):
 * CLOCK was about as cheap per access but hit 3 points less often on a skewed stream; `lru-cache`
 * hit as often but cost up to 1.4x more per access and cannot skip pinned entries.
 *
 * Invariants:
 *   1. A page id is resident in at most one frame, and `frameOf` maps exactly the resident pages.
 *   2. A pinned frame (pins > 0) is never evicted, reassigned or discarded.
 *   3. A dirty frame is written (sealed, coalesced with the other dirty frames) before its frame is
 *      reused; `flush` leaves no frame dirty. If that write fails (a full disk), the dirty frames
 *      stay and a read takes a clean frame instead, or with none, `peek` reads the page uncached.
 *   4. A page read from disk is checked (checksum, id, type) before any byte of it is used; a page
 *      that fails is never resident.
 *   5. Resident frames <= `frames` = max(FRAMES_MIN, floor(budget / pageSizeBytes)).
 *   6. The pool only writes pages its owner created or marked dirty; it never writes a page the
 *      owner has not handed it, so copy-on-write rules stay the owner's (leaf-frames.ts, checkpoint.ts).
 *   7. An owned frame (a leaf page: `createOwned`, `fetchOwned`) is never written or marked dirty by
 *      the pool: its `FrameOwner` says whether it needs a write and does it (to a page of its
 *      choosing) when the frame is evicted. Leaf and value pages share the frames and one recency
 *      list, so one budget bounds both.
 */

import { StoreError, assert } from '../errors.js'
import { KILL_POINTS, killPoint } from '../io/kill-point.js'
import { HeaderOffset, NO_PAGE, type PageType } from './page-format.js'
import { FrameIndex } from './frame-index.js'
import { sealPage } from './page-header.js'
import type { PageFile, PageWrite } from './page-file.js'

/** The pool never has fewer frames than this, whatever the budget. */
export const FRAMES_MIN = 8
/** Frames are carved out of chunks of this many bytes (or one page, if larger). */
const CHUNK_BYTES = 4 << 20

/**
 * Who decides how an owned frame is written (src/pages/leaf-frames.ts, for leaf pages): the pool
 * asks before it reuses the frame.
 */
export interface FrameOwner {
  /**
   * The frame holding `pageId` is about to be reused: write its bytes if they must be (where the
   * owner's copy-on-write rules say), and stop using them. Throws (IO, NO_SPACE) when the write
   * fails; the frame then stays as it was.
   */
  evict(pageId: number, bytes: Uint8Array): void
  /** Whether evicting `pageId` would write it. */
  isDirty(pageId: number): boolean
  /**
   * Whether `pageId` was used since it was last asked (and forgets that it was): a used page is
   * moved to the most recent end instead of being evicted (a second chance, as CLOCK gives).
   */
  wasUsed(pageId: number): boolean
}

export interface BufferPoolCounters {
  hits: number
  misses: number
  evictions: number
}

export class BufferPool {
  readonly frames: number
  readonly counters: BufferPoolCounters = { hits: 0, misses: 0, evictions: 0 }
  private readonly pageSizeBytes: number
  private readonly pages: Uint8Array[] = []
  /** Page id held by each frame, or NO_PAGE. */
  private readonly framePage: Float64Array
  private readonly dirty: Uint8Array
  private readonly pins: Uint32Array
  /** 1 where the frame is owned (invariant 7). */
  private readonly owned: Uint8Array
  private owner: FrameOwner | null = null
  private ownedCount = 0
  private readonly frameOf = new FrameIndex()
  // Recency list of resident frames: head is the most recently used, tail the least.
  private readonly newer: Int32Array
  private readonly older: Int32Array
  private head = -1
  private tail = -1
  /** Allocated frames that hold no page (after a discard). */
  private readonly emptyFrames: number[] = []
  private dirtyCount = 0
  /** Counts evictions, discards and clears: a page reference taken from `peek` is still that page's
   *  bytes while this number is unchanged. */
  reassignments = 0

  constructor(
    private readonly file: PageFile,
    budgetBytes: number,
  ) {
    this.pageSizeBytes = file.pageSizeBytes
    this.frames = Math.max(FRAMES_MIN, Math.floor(budgetBytes / this.pageSizeBytes))
    this.framePage = new Float64Array(this.frames).fill(NO_PAGE)
    this.newer = new Int32Array(this.frames).fill(-1)
    this.older = new Int32Array(this.frames).fill(-1)
    this.dirty = new Uint8Array(this.frames)
    this.pins = new Uint32Array(this.frames)
    this.owned = new Uint8Array(this.frames)
  }

  /** Sets the owner of the frames `createOwned` and `fetchOwned` make (one per pool). */
  setOwner(owner: FrameOwner): void {
    this.owner = owner
  }

  /** Resident owned pages (leaf pages). */
  get ownedPages(): number {
    return this.ownedCount
  }

  /** Bytes of the frames allocated so far (they are kept until the pool is cleared). */
  get allocatedBytes(): number {
    return this.pages.length * this.pageSizeBytes
  }

  /**
   * A frame for a new owned page `pageId`, zeroed, not pinned and not dirty in the pool's sense
   * (invariant 7). Its bytes are the owner's until the pool evicts it through the owner.
   */
  createOwned(pageId: number): Uint8Array {
    assert(this.owner !== null, 'an owned frame without an owner')
    assert(!this.frameOf.has(pageId), `page ${pageId} is already resident`)
    const frame = this.takeFrame()
    const page = this.pages[frame]!
    page.fill(0)
    this.install(frame, pageId)
    this.owned[frame] = 1
    this.ownedCount++
    return page
  }

  /** The frame of owned page `pageId`, read and checked as `type` on a miss; not pinned. */
  fetchOwned(pageId: number, type: PageType): Uint8Array {
    assert(this.owner !== null, 'an owned frame without an owner')
    let frame = this.frameOf.get(pageId)
    if (frame >= 0) {
      assert(this.owned[frame] === 1, `page ${pageId} is resident but not owned`)
      this.counters.hits++
      if (frame !== this.head) this.touch(frame)
      return this.pages[frame]!
    }
    frame = this.load(pageId, type)
    this.owned[frame] = 1
    this.ownedCount++
    return this.pages[frame]!
  }

  /** Marks owned page `pageId` most recently used (a node's bytes were just used), if resident. */
  touchOwned(pageId: number): void {
    const frame = this.frameOf.get(pageId)
    if (frame >= 0 && frame !== this.head) this.touch(frame)
  }

  /** The resident owned page `from` is now page `to` (its owner gave it a new page: copy-on-write). */
  rename(from: number, to: number): void {
    const frame = this.frameOf.get(from)
    assert(frame >= 0 && this.owned[frame] === 1, `rename of page ${from}, which is not a resident owned page`)
    assert(!this.frameOf.has(to), `rename to page ${to}, which is resident`)
    this.frameOf.delete(from)
    this.frameOf.set(to, frame)
    this.framePage[frame] = to
  }

  /** The page the next eviction would take (least recently used, unpinned), or -1. */
  victimPage(): number {
    let f = this.tail
    while (f >= 0 && this.pins[f] !== 0) f = this.newer[f]!
    return f < 0 ? -1 : this.framePage[f]!
  }

  /** Whether resident page `pageId` is an owned one (a leaf page). */
  isOwnedPage(pageId: number): boolean {
    const frame = this.frameOf.get(pageId)
    return frame !== undefined && this.owned[frame] === 1
  }

  /** True while a page can be loaded without evicting one (an empty or never-used frame). */
  get hasFreeFrame(): boolean {
    return this.emptyFrames.length > 0 || this.pages.length < this.frames
  }

  get residentPages(): number {
    return this.frameOf.size
  }

  get dirtyPages(): number {
    return this.dirtyCount
  }

  get pinnedPages(): number {
    let n = 0
    for (let f = 0; f < this.pages.length; f++) if (this.pins[f]! > 0) n++
    return n
  }

  /** The bytes of a frame (valid while the frame is pinned, or until the next pool call). */
  page(frame: number): Uint8Array {
    return this.pages[frame]!
  }

  /**
   * The bytes of page `pageId`, read and checked as `type` on a miss. Not pinned: valid until the
   * next call into the pool. For a read that copies out at once (the `get` path).
   */
  peek(pageId: number, type: PageType): Uint8Array {
    const frame = this.frameOf.get(pageId)
    if (frame >= 0) {
      this.counters.hits++
      if (frame !== this.head) this.touch(frame)
      return this.pages[frame]!
    }
    let miss: number
    try {
      miss = this.takeFrame()
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
      return this.readUncached(pageId, type)
    }
    return this.pages[this.loadInto(miss, pageId, type)]!
  }

  /**
   * `peek`'s miss when no frame can be freed because the dirty pages cannot be written (a full disk):
   * the page is read into a scratch buffer, not cached, so that reads go on while the store refuses
   * writes. Valid until the next call into the pool, as any `peek`.
   */
  private readUncached(pageId: number, type: PageType): Uint8Array {
    this.scratch ??= new Uint8Array(this.pageSizeBytes)
    this.counters.misses++
    this.reassignments++
    this.file.readPage(pageId, this.scratch, type)
    return this.scratch
  }

  private scratch: Uint8Array | null = null

  /**
   * `readAhead`'s buffer for one run, reused (grown to the largest run so far, at most half the
   * frames): a fresh buffer per run was garbage outside V8's heap, which V8 collects late, so a
   * scan-heavy process under a memory limit grew by it.
   */
  private runBuffer(bytes: number): Uint8Array {
    if (this.runBytes.byteLength < bytes) this.runBytes = new Uint8Array(bytes)
    return this.runBytes.subarray(0, bytes)
  }

  private runBytes = new Uint8Array(0)

  /**
   * Byte `offset` of page `pageId` if it is resident, else 0; changes nothing (no recency, no load).
   * A read-ahead: reading it early starts the cache miss a later `peek` would wait for.
   */
  peekByte(pageId: number, offset: number): number {
    const frame = this.frameOf.get(pageId)
    return frame >= 0 ? this.pages[frame]![offset]! : 0
  }

  isResident(pageId: number): boolean {
    return this.frameOf.has(pageId)
  }

  /**
   * Reads pages that are not resident, ascending `pageIds`, each run of adjacent ids with one
   * positioned read, and installs them (checked) without pinning. At most half the frames are used,
   * so a read-ahead never evicts what it just read. Returns the pages read.
   */
  readAhead(pageIds: readonly number[], type: PageType): number {
    const limit = Math.min(pageIds.length, Math.floor(this.frames / 2))
    const size = this.pageSizeBytes
    let read = 0
    let start = 0
    while (start < limit) {
      let end = start + 1
      while (end < limit && pageIds[end] === pageIds[end - 1]! + 1) end++
      const first = pageIds[start]!
      const count = end - start
      const run = this.runBuffer(count * size)
      this.file.readRun(first, count, run, type)
      for (let i = 0; i < count; i++) {
        if (this.frameOf.has(first + i)) continue
        let frame: number
        try {
          frame = this.takeFrame()
        } catch (error) {
          // No frame can be freed (the dirty pages cannot be written): read ahead no further.
          if (!(error instanceof StoreError)) throw error
          return read
        }
        this.pages[frame]!.set(run.subarray(i * size, (i + 1) * size))
        this.install(frame, first + i)
        this.counters.misses++
        read++
      }
      start = end
    }
    return read
  }

  /** Frame of page `pageId` (read and checked as `type` on a miss), pinned: `unpin` it when done. */
  fetch(pageId: number, type: PageType): number {
    let frame = this.frameOf.get(pageId)
    if (frame >= 0) {
      this.counters.hits++
      if (frame !== this.head) this.touch(frame)
    } else {
      frame = this.load(pageId, type)
    }
    this.pins[frame]!++
    return frame
  }

  /** A frame for a new page `pageId` (zeroed, dirty, pinned): its contents are the caller's to fill. */
  create(pageId: number): number {
    assert(!this.frameOf.has(pageId), `page ${pageId} is already resident`)
    const frame = this.takeFrame()
    this.pages[frame]!.fill(0)
    this.install(frame, pageId)
    this.markDirty(frame)
    this.pins[frame]!++
    return frame
  }

  unpin(frame: number): void {
    assert(this.pins[frame]! > 0, `unpin of frame ${frame}, which is not pinned`)
    this.pins[frame]!--
  }

  markDirty(frame: number): void {
    assert(this.framePage[frame] !== NO_PAGE, `frame ${frame} holds no page`)
    if (this.dirty[frame] === 0) {
      this.dirty[frame] = 1
      this.dirtyCount++
    }
  }

  /** Drops page `pageId` without writing it (the page was freed). */
  discard(pageId: number): void {
    const frame = this.frameOf.get(pageId)
    if (frame < 0) return
    assert(this.pins[frame] === 0, `discard of pinned page ${pageId}`)
    if (this.dirty[frame] === 1) {
      this.dirty[frame] = 0
      this.dirtyCount--
    }
    if (this.owned[frame] === 1) {
      this.owned[frame] = 0
      this.ownedCount--
    }
    this.frameOf.delete(pageId)
    this.framePage[frame] = NO_PAGE
    this.unlink(frame)
    this.emptyFrames.push(frame)
    this.reassignments++
  }

  /** Seals and writes every dirty frame, in page order, adjacent pages in one write. */
  flush(): void {
    if (this.dirtyCount === 0) return
    const writes: PageWrite[] = []
    const frames: number[] = []
    for (let f = 0; f < this.pages.length; f++) {
      if (this.dirty[f] !== 1) continue
      const page = this.pages[f]!
      const pageId = this.framePage[f]!
      sealPage(page, { type: page[HeaderOffset.TYPE]! as PageType, pageId, epoch: this.file.writeEpoch })
      writes.push({ pageId, page })
      frames.push(f)
    }
    this.file.writePages(writes)
    for (const f of frames) this.dirty[f] = 0
    this.dirtyCount = 0
  }

  /** Forgets every page (after flush, at close). */
  clear(): void {
    assert(this.dirtyCount === 0, 'clearing a pool with dirty pages')
    this.frameOf.clear()
    this.framePage.fill(NO_PAGE)
    this.pins.fill(0)
    this.owned.fill(0)
    this.ownedCount = 0
    this.pages.length = 0
    this.emptyFrames.length = 0
    this.reassignments++
    this.head = -1
    this.tail = -1
  }

  private load(pageId: number, type: PageType): number {
    return this.loadInto(this.takeFrame(), pageId, type)
  }

  private loadInto(frame: number, pageId: number, type: PageType): number {
    this.counters.misses++
    // Invariant 4: a page that fails its check is not installed (the frame goes back as empty).
    try {
      this.file.readPage(pageId, this.pages[frame]!, type)
    } catch (error) {
      this.emptyFrames.push(frame)
      throw error
    }
    this.install(frame, pageId)
    return frame
  }

  private install(frame: number, pageId: number): void {
    this.framePage[frame] = pageId
    this.frameOf.set(pageId, frame)
    this.pushNewest(frame)
  }

  /** A free frame: an empty one, a never-used one while the budget allows, else the least recently
   *  used unpinned frame (all dirty frames are written first if it is dirty). */
  private takeFrame(): number {
    const empty = this.emptyFrames.pop()
    if (empty !== undefined) return empty
    if (this.pages.length < this.frames) return this.allocateFrame()
    let f = this.tail
    // Owned frames are used without the pool seeing it: one used since last asked goes to the
    // front instead (each is asked once per pass, so this ends within a pass over the frames).
    for (let asked = 0; f >= 0 && asked < this.frames; asked++) {
      if (this.pins[f] !== 0) {
        f = this.newer[f]!
        continue
      }
      if (this.owned[f] !== 1 || !this.owner!.wasUsed(this.framePage[f]!)) break
      const next = this.newer[f]!
      this.touch(f)
      f = next
    }
    // Past the front (every frame used, the last one moved): the least recent again, asked already.
    if (f < 0) f = this.tail
    while (f >= 0 && this.pins[f] !== 0) f = this.newer[f]!
    if (f < 0) throw new Error(`assertion failed: all ${this.frames} buffer pool frames are pinned`)
    try {
      if (this.owned[f] === 1) {
        this.owner!.evict(this.framePage[f]!, this.pages[f]!)
      } else if (this.dirty[f] === 1) {
        this.flush()
        killPoint(KILL_POINTS.POOL_EVICT_WRITE)
      }
    } catch (error) {
      // The page cannot be written (a full disk): take the least recently used frame that needs no
      // write instead, so that reads go on while the store refuses writes; the dirty ones stay.
      if (!(error instanceof StoreError)) throw error
      f = this.tail
      while (f >= 0 && (this.pins[f] !== 0 || this.dirty[f] === 1 || (this.owned[f] === 1 && this.owner!.isDirty(this.framePage[f]!)))) f = this.newer[f]!
      if (f < 0) throw error
      if (this.owned[f] === 1) this.owner!.evict(this.framePage[f]!, this.pages[f]!)
    }
    if (this.owned[f] === 1) {
      this.owned[f] = 0
      this.ownedCount--
    }
    this.counters.evictions++
    this.reassignments++
    this.frameOf.delete(this.framePage[f]!)
    this.framePage[f] = NO_PAGE
    this.unlink(f)
    return f
  }

  private touch(frame: number): void {
    this.unlink(frame)
    this.pushNewest(frame)
  }

  private unlink(frame: number): void {
    const newer = this.newer[frame]!
    const older = this.older[frame]!
    if (newer >= 0) this.older[newer] = older
    else if (this.head === frame) this.head = older
    if (older >= 0) this.newer[older] = newer
    else if (this.tail === frame) this.tail = newer
    this.newer[frame] = -1
    this.older[frame] = -1
  }

  private pushNewest(frame: number): void {
    this.newer[frame] = -1
    this.older[frame] = this.head
    if (this.head >= 0) this.newer[this.head] = frame
    this.head = frame
    if (this.tail < 0) this.tail = frame
  }

  private allocateFrame(): number {
    const size = this.pageSizeBytes
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / size))
    const frame = this.pages.length
    // Shared memory, so that a later worker thread can read frames the main thread fills.
    if (frame % perChunk === 0) this.chunk = new SharedArrayBuffer(Math.min(perChunk, this.frames - frame) * size)
    this.pages.push(new Uint8Array(this.chunk!, (frame % perChunk) * size, size))
    return frame
  }

  private chunk: SharedArrayBuffer | null = null
}
