/**
 * Leaf frames: the store's data nodes keep their bytes in buffer pool frames, one leaf page each,
 * and this is the one owner of leaf pages: it gives a node its page id and frame, writes the node
 * when the pool evicts it, reads it back when the index next uses it, moves it to a new page where
 * copy-on-write requires, and frees its page when it leaves the index. The checkpoint asks it for
 * the pages of the changed leaves (`capture`).
 *
 * A node's bytes are its frame (src/alex/node-layout.ts is the page layout from byte 32), so a
 * lookup reads the frame directly and storing a node is sealing its frame: there is no image to
 * encode or decode.
 *
 * Copy-on-write (free-space.ts rule 1): a page that a checkpoint references (the durable one, or the
 * one being written) is never written again. A node's page is *fresh* when it was allocated after the
 * last checkpoint capture: no checkpoint references it, so the node is written over it in place. A
 * dirty node whose page is not fresh is written to a new page when it is evicted or captured, and the
 * old page is freed once no checkpoint references it. So a leaf evicted between checkpoints costs one
 * write and at most one new page per checkpoint interval, and recovery (the last checkpoint plus the
 * log) never reads a page written since.
 *
 * Invariants:
 *   1. A resident node's bytes are the frame of page `node.leafId`, and `nodes` maps that page to it;
 *      an evicted node is clean (its page holds its bytes) and not in `nodes`.
 *   2. A page in `fresh` belongs to a live node or is waiting in free space; no checkpoint references it.
 *   3. Only `evict` (the pool's call) drops a node's bytes, and it writes a dirty node first.
 */

import type { DataNode } from '../alex/data-node.js'
import { Tally, type LeafMemory, type StoredLeaf } from '../alex/leaf-store.js'
import { nodeBytes } from '../alex/node-layout.js'
import { ErrorCode, StoreError, assert } from '../errors.js'
import { KILL_POINTS, killPoint } from '../io/kill-point.js'
import type { BufferPool, FrameOwner } from './buffer-pool.js'
import type { FreeSpace } from './free-space.js'
import { checkLeafPage, encodeLeafPage, leafCapacityOf, leafNumKeysOf } from './leaf-page.js'
import { FIRST_DATA_PAGE_ID } from './meta-page.js'
import { PAGE_HEADER_BYTES, PageType } from './page-format.js'
import type { PageFile, PageWrite } from './page-file.js'
import { sealPage } from './page-header.js'

export interface LeafFrameCounters {
  /** Leaves read back from their pages (after an eviction, or first use after open). */
  loads: number
  /** Dirty leaves written because the pool evicted them. */
  evictionWrites: number
  /** Of those, written to a new page (their page was referenced by a checkpoint). */
  evictionMoves: number
}

export class LeafFrames implements LeafMemory, FrameOwner {
  readonly counters: LeafFrameCounters = { loads: 0, evictionWrites: 0, evictionMoves: 0 }
  /** The index's lifetime search and insert counts (LeafMemory.tally), since the store was opened. */
  readonly tally = new Float64Array(Tally.WORDS)
  /** Resident nodes by page id (invariant 1). */
  private readonly nodes = new Map<number, DataNode>()
  /** Pages allocated since the last capture (invariant 2). */
  private readonly fresh = new Set<number>()
  /** Set while a checkpoint is captured: pages freed then wait for that checkpoint to commit. */
  private capturing = false
  /**
   * The leaves the last capture made clean, until its pages are on disk (`captureWritten`): one
   * evicted meanwhile is written as if dirty (to a new page), since its captured page may never be.
   */
  private captured = new Set<DataNode>()

  constructor(
    private readonly file: PageFile,
    private readonly pool: BufferPool,
    private readonly free: FreeSpace,
    /** Bytes of each slot's cell in the store's leaves (node-layout.ts; the meta page's field). */
    readonly cellBytes = 0,
  ) {
    pool.setOwner(this)
  }

  /** Leaves whose bytes are in frames now. */
  get residentLeaves(): number {
    return this.nodes.size
  }

  // ---- LeafMemory: what the index asks -------------------------------------------------------

  allocate(node: DataNode, capacity: number): Uint8Array {
    assert(nodeBytes(capacity, this.cellBytes) <= this.file.pageSizeBytes, `a node of ${capacity} slots does not fit a page`)
    if (node.leafId >= 0 && this.nodes.get(node.leafId) === node) {
      // Rebuilt in place (a resize): the same frame and page; its old slots were copied out.
      const bytes = this.pool.fetchOwned(node.leafId, PageType.DATA)
      bytes.fill(0, PAGE_HEADER_BYTES)
      return bytes
    }
    assert(node.leafId < 0, `allocate for node of page ${node.leafId}, which is not resident`)
    const pageId = this.free.allocate()
    let bytes: Uint8Array
    try {
      bytes = this.pool.createOwned(pageId)
    } catch (error) {
      this.free.release(pageId)
      throw error
    }
    this.fresh.add(pageId)
    this.nodes.set(pageId, node)
    node.leafId = pageId
    return bytes
  }

  load(node: DataNode): Uint8Array {
    assert(!this.nodes.has(node.leafId), `load of leaf ${node.leafId}, which is resident`)
    const bytes = this.readChecked(node.leafId)
    const capacity = leafCapacityOf(bytes)
    const numKeys = leafNumKeysOf(bytes)
    if (capacity !== node.capacity || numKeys !== node.numKeys) {
      this.pool.discard(node.leafId)
      throw new StoreError(ErrorCode.CORRUPTION, `${this.where(node.leafId)}: the leaf page holds ${numKeys} keys in ${capacity} slots; the node written there had ${node.numKeys} in ${node.capacity}`)
    }
    this.nodes.set(node.leafId, node)
    this.counters.loads++
    return bytes
  }

  hint(leaves: readonly (DataNode | null)[], count: number): void {
    const size = this.file.pageSizeBytes
    let hinted = 0
    for (let i = 0; i < count; i++) {
      const leaf = leaves[i]
      if (leaf === null || leaf === undefined || leaf.resident || leaf.leafId < 0 || this.pool.isResident(leaf.leafId)) continue
      this.file.hint(leaf.leafId, 0, size)
      hinted++
    }
    if (hinted > 0) this.file.kick()
  }

  unload(node: DataNode): void {
    if (this.nodes.get(node.leafId) !== node) return
    this.nodes.delete(node.leafId)
    this.pool.discard(node.leafId)
  }

  /**
   * A leaf the tree image names (at open), known by its header until first read: its page id must be
   * a used page that is not free. Nothing is read here.
   */
  describe(leafId: number, pageCount: number, makeNode: () => DataNode): DataNode {
    if (leafId < FIRST_DATA_PAGE_ID || leafId >= pageCount || this.free.isListed(leafId)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${this.where(leafId)}: the tree names it as a leaf, but it is free or outside the used pages`)
    }
    return makeNode()
  }

  release(node: DataNode): void {
    const pageId = node.leafId
    if (pageId < 0) return
    if (this.nodes.get(pageId) === node) {
      this.nodes.delete(pageId)
      this.pool.discard(pageId)
    }
    node.evict()
    this.captured.delete(node)
    this.fresh.delete(pageId)
    this.freePage(pageId)
    node.leafId = -1
  }

  /**
   * Adopts the stored leaf on page `leafId` as a node (at open): its frame is read and checked, and
   * the node's bytes are that frame (no copy). `makeNode` builds the node over the bytes.
   */
  adopt(leafId: number, pageCount: number, makeNode: (bytes: Uint8Array) => DataNode): DataNode {
    const where = this.where(leafId)
    if (leafId < FIRST_DATA_PAGE_ID || leafId >= pageCount || this.free.isListed(leafId)) {
      throw new StoreError(ErrorCode.CORRUPTION, `${where}: the tree names it as a leaf, but it is free or outside the used pages`)
    }
    assert(!this.nodes.has(leafId), `leaf ${leafId} adopted twice`)
    const bytes = this.readChecked(leafId, pageCount)
    const node = makeNode(bytes)
    this.nodes.set(leafId, node)
    return node
  }

  /**
   * Reads page `pageId` into its frame and checks it as a leaf (checksum, type, then the layout).
   * When no frame can be had because the changed pages cannot be written (a full disk), the page is
   * read into bytes of its own outside the pool, so that reads go on while the store refuses writes
   * (such a node stays in memory, beyond the budget, until the store is closed).
   */
  private readChecked(pageId: number, pageCount = this.free.frontier): Uint8Array {
    let bytes: Uint8Array
    try {
      bytes = this.pool.fetchOwned(pageId, PageType.DATA)
    } catch (error) {
      if (!(error instanceof StoreError) || this.pool.isResident(pageId)) throw error
      bytes = new Uint8Array(this.file.pageSizeBytes)
      this.file.readPage(pageId, bytes, PageType.DATA)
      checkLeafPage(bytes, () => this.where(pageId), pageCount, this.cellBytes)
      return bytes
    }
    try {
      checkLeafPage(bytes, () => this.where(pageId), pageCount, this.cellBytes)
    } catch (error) {
      this.pool.discard(pageId)
      throw error
    }
    return bytes
  }

  // ---- FrameOwner: what the pool asks ---------------------------------------------------------

  wasUsed(pageId: number): boolean {
    const node = this.nodes.get(pageId)
    if (node === undefined || !node.referenced) return false
    node.referenced = false
    return true
  }

  isDirty(pageId: number): boolean {
    const node = this.nodes.get(pageId)
    return node !== undefined && (node.dirty || this.captured.has(node))
  }

  evict(pageId: number, bytes: Uint8Array): void {
    const node = this.nodes.get(pageId)
    if (node === undefined) return
    if (node.dirty || this.captured.has(node)) {
      this.writeOut(node, bytes)
      killPoint(KILL_POINTS.LEAF_EVICT_WRITE)
    }
    this.nodes.delete(pageId)
    node.evict()
  }

  /**
   * Writes every changed resident leaf now (it stays resident, clean): so that nothing a caller
   * walks moves to another page while it walks (check() claims pages, then reads values, which may
   * evict leaves).
   */
  writeChanged(): void {
    for (const [pageId, node] of [...this.nodes]) {
      if (!node.dirty && !this.captured.has(node)) continue
      const target = this.writeOut(node, node.bytes)
      if (target !== pageId) {
        this.pool.rename(pageId, target)
        this.nodes.delete(pageId)
        this.nodes.set(target, node)
      }
    }
  }

  /**
   * Writes a changed node's bytes (its frame, sealed in place): over its page if fresh, else to a new
   * page (copy-on-write), the old one freed. The node is clean afterwards, under the returned page id.
   */
  private writeOut(node: DataNode, bytes: Uint8Array): number {
    const pageId = node.leafId
    const target = this.fresh.has(pageId) ? pageId : this.free.allocate()
    try {
      node.writeHeader()
      sealPage(bytes, { type: PageType.DATA, pageId: target, epoch: this.file.writeEpoch })
      this.file.writePages([{ pageId: target, page: bytes }])
    } catch (error) {
      if (target !== pageId) this.free.release(target)
      throw error
    }
    this.counters.evictionWrites++
    if (target !== pageId) {
      this.counters.evictionMoves++
      this.fresh.add(target)
      this.freePage(pageId)
      node.leafId = target
    }
    node.dirty = false
    this.captured.delete(node)
    return target
  }

  // ---- checkpoints ----------------------------------------------------------------------------

  /**
   * For a checkpoint being captured (after FreeSpace.beginCheckpoint): the sealed page of every
   * changed leaf among `leaves`, each written over its page if fresh or to a new one (the frame
   * moves with it), the old page freed when the checkpoint commits. Every leaf is clean afterwards,
   * and no page is fresh: the checkpoint references them all.
   */
  capture(leaves: Iterable<StoredLeaf<number>>): PageWrite[] {
    const writes: PageWrite[] = []
    this.capturing = true
    try {
      for (const leaf of leaves) {
        const node = leaf as DataNode
        if (!node.dirty) continue
        assert(this.nodes.get(node.leafId) === node, `dirty leaf ${node.leafId} is not resident`)
        const old = node.leafId
        const target = this.fresh.has(old) ? old : this.free.allocate()
        const page = new Uint8Array(this.file.pageSizeBytes)
        encodeLeafPage(page, node, this.cellBytes)
        sealPage(page, { type: PageType.DATA, pageId: target, epoch: this.file.writeEpoch })
        writes.push({ pageId: target, page })
        if (target !== old) {
          this.pool.rename(old, target)
          this.nodes.delete(old)
          this.nodes.set(target, node)
          node.leafId = target
          this.freePage(old)
        }
        node.dirty = false
        this.captured.add(node)
      }
    } finally {
      this.capturing = false
    }
    this.fresh.clear()
    return writes
  }

  /** The captured pages are on disk: the captured leaves may be evicted without a write. */
  captureWritten(): void {
    this.captured.clear()
  }

  /**
   * The checkpoint's writes failed: its pages may not hold the leaves, so the captured leaves are
   * dirty again (an eviction writes them to a new page; nothing reads the unwritten ones).
   */
  captureFailed(): void {
    for (const node of this.captured) if (node.leafId >= 0) node.dirty = true
    this.captured.clear()
  }

  /** Frees a leaf page: reusable once no checkpoint references it. */
  private freePage(pageId: number): void {
    if (this.capturing) this.free.releaseAtCommit(pageId)
    else this.free.release(pageId)
  }

  private where(pageId: number): string {
    return `${this.file.path}: page ${pageId} at offset ${this.file.offsetOf(pageId)}`
  }
}
