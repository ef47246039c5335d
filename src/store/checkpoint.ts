/**
 * Checkpoints: copy-on-write page images of the index, made durable by a meta-page switch.
 *
 * A checkpoint runs in two parts. The capture (synchronous, so no write interleaves) seals the value
 * pages, encodes every changed leaf into a newly allocated page, encodes the tree image and the free
 * list, and decides the meta page. The write (asynchronous: writers go on meanwhile) puts those pages
 * on disk, syncs, writes the meta page, syncs again, and only then lets the pages the new checkpoint
 * no longer references be reused.
 *
 * Order of writes (a crash at any step leaves the previous checkpoint whole; docs/RECOVERY.md):
 *   1. end the value page being filled; write every dirty value page (coalesced);
 *   2. write every changed leaf: over its page if no checkpoint references it (fresh since the last
 *      capture), else to a newly allocated page, whose old page becomes reusable at step 7 (the
 *      pages of leaves the index retired are freed the same way; leaf-frames.ts owns all of this);
 *   3. write the tree image chain to new pages;
 *   4. write the page map chain (live records per value page, overflow runs: what open needs instead
 *      of reading every leaf) and the free-list chain;
 *   5. extend the file to the page count; fdatasync (durability 'fsync'); wait until the log holds
 *      every record below the redo LSN (it can lag only at 'none');
 *   6. write the meta page, generation + 1, into slot (generation + 1) % 2; fdatasync;
 *   7. commit: the pages freed by step 2-4 become reusable.
 * Invariant: between capture and step 7, no page the durable meta page references is written, and no
 * page captured for the new checkpoint is reused (pages freed meanwhile wait in FreeSpace.pending).
 */

import type { AlexIndex } from '../alex/alex-index.js'
import { assert } from '../errors.js'
import { KILL_POINTS, kill, killPoint, killPointReached } from '../io/kill-point.js'
import type { BufferPool } from '../pages/buffer-pool.js'
import { chainPagesFor, encodeChain } from '../pages/chain-page.js'
import type { FreeSpace } from '../pages/free-space.js'
import { MetaOffset, encodeMetaPage, type Meta } from '../pages/meta-page.js'
import { PageType } from '../pages/page-format.js'
import type { PageFile, PageWrite } from '../pages/page-file.js'
import type { LeafFrames } from '../pages/leaf-frames.js'
import type { ValueStore } from '../pages/value-store.js'
import type { Durability } from './api.js'
import type { Pieces } from './load.js'

/** Captured pages are written in batches of at most this many bytes, yielding between batches. */
const WRITE_BATCH_BYTES = 16 << 20
/**
 * The bytes of the meta page the CHECKPOINT_META_TORN kill point writes before the kill: the page
 * header, magic, version, page size, page count, generation and record count; the fields from the
 * tree head on stay as they were. Inside the first 512-byte sector, where every field is.
 */
const META_TORN_BYTES = MetaOffset.TREE_HEAD

export class Checkpointer {
  treePages: number[]
  freeListPages: number[]
  pageMapPages: number[]
  generation: number
  checkpoints = 0
  private current: Promise<void> | null = null

  constructor(
    private readonly file: PageFile,
    private readonly pool: BufferPool,
    private readonly values: ValueStore,
    private readonly free: FreeSpace,
    private readonly frames: LeafFrames,
    pieces: Pieces,
    private readonly durability: Durability,
    /**
     * Resolves once the log holds every record below `redoLsn` at the store's durability level: run
     * before the meta switch, so the previous checkpoint plus the log always covers this one (a
     * fallback to it after the new meta page is damaged loses nothing; at 'none' the log is otherwise
     * written lazily and could lag a checkpoint).
     */
    private readonly logCovers: (redoLsn: number) => Promise<void> = async () => {},
    /**
     * Visits the value handles that are live but not in the index being captured (writes logged but
     * not applied, records kept for open iterators): the page map leaves them out.
     */
    private readonly heldValues: (visit: (handle: number) => void) => void = () => {},
  ) {
    this.treePages = pieces.treePages
    this.freeListPages = pieces.freeListPages
    this.pageMapPages = pieces.pageMapPages
    this.generation = pieces.generation
  }

  get running(): boolean {
    return this.current !== null
  }

  /** Resolves when no checkpoint is running (never rejects). */
  async idle(): Promise<void> {
    while (this.current !== null) await this.current.catch(() => {})
  }

  /**
   * Captures and writes a checkpoint of `index` whose log replay starts at `redoLsn`. With `sync`,
   * the pages and meta page are synced whatever the durability level (a bulk load's contract).
   */
  run(index: AlexIndex<number>, redoLsn: number, sync = this.durability === 'fsync'): Promise<void> {
    assert(this.current === null, 'two checkpoints at once')
    let captured: { writes: PageWrite[]; meta: Meta }
    try {
      captured = this.capture(index, redoLsn)
    } catch (error) {
      this.free.abortCheckpoint()
      this.frames.captureFailed()
      return Promise.reject(error)
    }
    const done = this.write(captured.writes, captured.meta, sync).finally(() => {
      this.current = null
    })
    this.current = done
    return done
  }

  private capture(index: AlexIndex<number>, redoLsn: number): { writes: PageWrite[]; meta: Meta } {
    const size = this.file.pageSizeBytes
    this.values.settleReleases()
    this.free.beginCheckpoint()
    // 1.
    this.values.seal()
    this.pool.flush()
    // Before any page is allocated below: the map covers every value and overflow page there is.
    const pageMap = this.values.pageMap(this.free.frontier, this.heldValues)
    // 2.
    const writes: PageWrite[] = this.frames.capture(index.leaves())
    // 3.
    const tree = index.encodeTree()
    const treePages = this.allocate(chainPagesFor(tree.byteLength, size))
    writes.push(...encodeChain(tree, treePages, PageType.MODEL, size, this.file.writeEpoch))
    for (const page of this.treePages) this.free.releaseAtCommit(page)
    this.treePages = treePages
    // 4.
    // The u32 words as they lie in memory: little-endian, as everywhere (a node's bytes are its page).
    const mapBytes = new Uint8Array(pageMap.buffer, pageMap.byteOffset, pageMap.byteLength)
    const mapPages = this.allocate(chainPagesFor(mapBytes.byteLength, size))
    writes.push(...encodeChain(mapBytes, mapPages, PageType.PAGE_MAP, size, this.file.writeEpoch))
    for (const page of this.pageMapPages) this.free.releaseAtCommit(page)
    this.pageMapPages = mapPages
    for (const page of this.freeListPages) this.free.releaseAtCommit(page)
    const listPages = this.allocate(chainPagesFor(4 * (this.free.freeCount + this.free.pendingCount), size))
    const entries = this.free.freeAfterCommit()
    const stream = new Uint8Array(4 * entries.length)
    const view = new DataView(stream.buffer)
    for (let i = 0; i < entries.length; i++) view.setUint32(4 * i, entries[i]!, true)
    writes.push(...encodeChain(stream, listPages, PageType.FREE_LIST, size, this.file.writeEpoch))
    this.freeListPages = listPages
    const meta: Meta = {
      pageSizeBytes: size,
      pageCount: this.free.frontier,
      generation: this.generation + 1,
      records: index.size,
      treeHead: treePages[0]!,
      freeListHead: listPages[0]!,
      treeBytes: tree.byteLength,
      freeListEntries: entries.length,
      redoLsn,
      pageMapHead: mapPages[0]!,
      pageMapEntries: pageMap.length,
      cellBytes: this.frames.cellBytes,
    }
    return { writes, meta }
  }

  private allocate(count: number): number[] {
    const pages: number[] = []
    for (let i = 0; i < count; i++) pages.push(this.free.allocate())
    return pages
  }

  private async write(writes: PageWrite[], meta: Meta, sync: boolean): Promise<void> {
    try {
      // 2-4, in batches, letting writers run between them.
      writes.sort((a, b) => a.pageId - b.pageId)
      const perBatch = Math.max(1, Math.floor(WRITE_BATCH_BYTES / this.file.pageSizeBytes))
      for (let i = 0; i < writes.length; i += perBatch) {
        this.file.writePages(writes.slice(i, i + perBatch))
        if (i + perBatch < writes.length) await new Promise<void>((resolve) => setImmediate(resolve))
      }
      this.frames.captureWritten()
      // 5.
      this.file.reserve(meta.pageCount)
      if (sync) await this.file.datasyncAsync()
      killPoint(KILL_POINTS.CHECKPOINT_AFTER_PAGES)
      await this.logCovers(meta.redoLsn)
      // 6.
      const metaPage = encodeMetaPage(meta)
      if (killPointReached(KILL_POINTS.CHECKPOINT_META_TORN)) {
        // A tear through the fields: the new header and the first fields reach the slot, the rest
        // of the first sector (tree and free-list heads, sizes, redo LSN) keeps the older meta's
        // bytes, so the checksum fails. (Cutting the page in half would tear only zeros.)
        this.file.file.write(metaPage, 0, META_TORN_BYTES, (meta.generation % 2) * this.file.pageSizeBytes)
        kill()
      }
      this.file.writePages([{ pageId: meta.generation % 2, page: metaPage }])
      if (sync) await this.file.datasyncAsync()
      killPoint(KILL_POINTS.CHECKPOINT_AFTER_META)
    } catch (error) {
      this.free.abortCheckpoint()
      this.frames.captureFailed()
      throw error
    }
    // 7.
    this.generation = meta.generation
    this.file.writeEpoch = meta.generation + 1
    this.free.commit()
    this.checkpoints++
  }
}
