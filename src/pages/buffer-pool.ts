/**
 * The buffer pool: page-size frames within a byte budget, caching pages of one page file.
 *
 * Replacement is CLOCK (a reference bit per frame and a sweeping hand): a hit costs one Map lookup
 * and one byte store, and eviction allocates nothing. `lru-cache` was measured against it
 * (bench/pool-bench.ts); the figures are in docs/FORMAT.md.
 *
 * Invariants:
 *   1. A page id is resident in at most one frame, and `frameOf` maps exactly the resident pages.
 *   2. A pinned frame (pins > 0) is never evicted, reassigned or discarded.
 *   3. A dirty frame is written (sealed, coalesced with the other dirty frames) before its frame is
 *      reused; `flush` leaves no frame dirty.
 *   4. A page read from disk is checked (checksum, id, type) before any byte of it is used; a page
 *      that fails is never resident.
 *   5. Resident frames <= `frames` = max(FRAMES_MIN, floor(budget / pageSizeBytes)).
 *   6. The pool only writes pages its owner created or marked dirty; it never writes a page the
 *      owner has not handed it, so copy-on-write rules stay the owner's (see store.ts).
 */

import { assert } from '../errors.js'
import { HeaderOffset, NO_PAGE, type PageType } from './page-format.js'
import { sealPage } from './page-header.js'
import type { PageFile, PageWrite } from './page-file.js'

/** The pool never has fewer frames than this, whatever the budget. */
export const FRAMES_MIN = 8
/** Frames are carved out of chunks of this many bytes (or one page, if larger). */
const CHUNK_BYTES = 4 << 20

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
  private readonly referenced: Uint8Array
  private readonly dirty: Uint8Array
  private readonly pins: Uint32Array
  private readonly frameOf = new Map<number, number>()
  private dirtyCount = 0
  private hand = 0

  constructor(
    private readonly file: PageFile,
    budgetBytes: number,
  ) {
    this.pageSizeBytes = file.pageSizeBytes
    this.frames = Math.max(FRAMES_MIN, Math.floor(budgetBytes / this.pageSizeBytes))
    this.framePage = new Float64Array(this.frames).fill(NO_PAGE)
    this.referenced = new Uint8Array(this.frames)
    this.dirty = new Uint8Array(this.frames)
    this.pins = new Uint32Array(this.frames)
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
    if (frame !== undefined) {
      this.counters.hits++
      this.referenced[frame] = 1
      return this.pages[frame]!
    }
    return this.pages[this.load(pageId, type)]!
  }

  /** Frame of page `pageId` (read and checked as `type` on a miss), pinned: `unpin` it when done. */
  fetch(pageId: number, type: PageType): number {
    let frame = this.frameOf.get(pageId)
    if (frame !== undefined) {
      this.counters.hits++
      this.referenced[frame] = 1
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
    if (frame === undefined) return
    assert(this.pins[frame] === 0, `discard of pinned page ${pageId}`)
    if (this.dirty[frame] === 1) {
      this.dirty[frame] = 0
      this.dirtyCount--
    }
    this.frameOf.delete(pageId)
    this.framePage[frame] = NO_PAGE
    this.referenced[frame] = 0
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
      sealPage(page, { type: page[HeaderOffset.TYPE]! as PageType, pageId, lsn: 0 })
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
    this.pages.length = 0
  }

  private load(pageId: number, type: PageType): number {
    this.counters.misses++
    const frame = this.takeFrame()
    // Invariant 4: a page that fails its check is not installed (the frame stays free).
    this.file.readPage(pageId, this.pages[frame]!, type)
    this.install(frame, pageId)
    return frame
  }

  private install(frame: number, pageId: number): void {
    this.framePage[frame] = pageId
    this.referenced[frame] = 1
    this.frameOf.set(pageId, frame)
  }

  /** A free frame: a never-used one while the budget allows, else a CLOCK victim (written if dirty). */
  private takeFrame(): number {
    if (this.pages.length < this.frames) return this.allocateFrame()
    const frames = this.frames
    // Two sweeps clear every reference bit; a third finds a victim unless every frame is pinned.
    for (let step = 0; step < 3 * frames; step++) {
      const f = this.hand
      this.hand = f + 1 === frames ? 0 : f + 1
      if (this.pins[f] !== 0) continue
      if (this.framePage[f] === NO_PAGE) return f
      if (this.referenced[f] === 1) {
        this.referenced[f] = 0
        continue
      }
      if (this.dirty[f] === 1) this.flush()
      this.counters.evictions++
      this.frameOf.delete(this.framePage[f]!)
      this.framePage[f] = NO_PAGE
      return f
    }
    throw new Error(`assertion failed: all ${frames} buffer pool frames are pinned`)
  }

  private allocateFrame(): number {
    const size = this.pageSizeBytes
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / size))
    const frame = this.pages.length
    if (frame % perChunk === 0) this.chunk = new ArrayBuffer(Math.min(perChunk, this.frames - frame) * size)
    this.pages.push(new Uint8Array(this.chunk!, (frame % perChunk) * size, size))
    return frame
  }

  private chunk: ArrayBuffer | null = null
}
