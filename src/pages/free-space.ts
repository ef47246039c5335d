/**
 * Free-space accounting: which pages may be written now.
 *
 * Rules (the copy-on-write half of crash safety; checkpoint.ts writes the checkpoint):
 *   1. A page the last durable checkpoint references is never written before a checkpoint that no
 *      longer references it commits. Such a page, once freed, waits in `pending`. A checkpoint starts
 *      with `beginCheckpoint()`, which moves `pending` to `committing` (pages the checkpoint being
 *      written does not reference); pages freed while it is written go to `pending` again (the new
 *      checkpoint may reference them). `abortCheckpoint()` puts `committing` back into `pending`.
 *   2. Nor is a page the *previous* durable checkpoint references written while that checkpoint's
 *      meta page is still on disk (it is the older of the two until the next checkpoint overwrites
 *      its slot), so that open can always fall back to it when the newer meta page is damaged.
 *      `commit()`, after the new meta page is durable, moves `committing` to `cooling` and the
 *      pages cooling since the checkpoint before to `free`.
 *   3. `free` holds pages neither durable meta page references; they may be written at once.
 *   4. Pages at or past `frontier` have never been used; allocation takes them after `free` runs out.
 *   5. Every page id below `frontier`, other than the two meta pages, is exactly one of: in use, in
 *      `free`, `cooling`, `committing` or `pending`.
 * At open, the pages on the free list that the older meta page references (load.ts `pagesOf`: its
 * chains, the leaves its tree image names, its page map) start in `cooling`, the rest in `free`.
 */

import { assert } from '../errors.js'
import { PAGE_ID_MAX } from './page-format.js'
import { FIRST_DATA_PAGE_ID } from './meta-page.js'
import { ErrorCode, StoreError } from '../errors.js'

export class FreeSpace {
  /** Reusable pages, sorted descending so that `pop()` takes the lowest. */
  private free: number[]
  private pending: number[] = []
  private committing: number[] = []
  /** Pages the older durable meta page may reference: reusable after the next checkpoint commits. */
  private cooling: number[]
  private freeSet: Set<number>
  /** Every page on the free list of the durable checkpoint: `free` and `cooling`. */
  private listedSet: Set<number>

  constructor(
    free: readonly number[],
    /** One past the highest page in use. */
    public frontier: number,
    /** Called with the new frontier whenever it moves (the page file grows to cover it). */
    private readonly onGrow: (frontier: number) => void = () => {},
    /** Pages on the free list that the older meta page references (at open: load.ts `pagesOf`). */
    cooling: readonly number[] = [],
  ) {
    assert(frontier >= FIRST_DATA_PAGE_ID, `frontier ${frontier}`)
    this.free = [...free].sort((a, b) => b - a)
    this.freeSet = new Set(this.free)
    this.cooling = [...cooling]
    this.listedSet = new Set([...this.free, ...this.cooling])
    assert(this.listedSet.size === this.free.length + this.cooling.length, 'a page both free and cooling')
  }

  get freeCount(): number {
    return this.free.length
  }

  /** Pages freed but not yet reusable: pending, committing and cooling. */
  get pendingCount(): number {
    return this.pending.length + this.committing.length + this.cooling.length
  }

  /** A page that may be written now (rule 3 or 4). */
  allocate(): number {
    const page = this.free.pop()
    if (page !== undefined) {
      this.freeSet.delete(page)
      this.listedSet.delete(page)
      return page
    }
    return this.grow(1)
  }

  /** `count` consecutive pages that may be written now: a run in `free` if there is one, else new pages. */
  allocateRun(count: number): number {
    if (count === 1) return this.allocate()
    // free is descending: a run first..first+count-1 appears as count consecutive entries.
    const free = this.free
    for (let i = free.length - 1; i >= count - 1; i--) {
      const first = free[i]!
      if (free[i - count + 1] === first + count - 1) {
        for (let j = i - count + 1; j <= i; j++) {
          this.freeSet.delete(free[j]!)
          this.listedSet.delete(free[j]!)
        }
        free.splice(i - count + 1, count)
        return first
      }
    }
    return this.grow(count)
  }

  private grow(count: number): number {
    const first = this.frontier
    if (first + count - 1 > PAGE_ID_MAX) throw new StoreError(ErrorCode.NO_SPACE, `the page file is full (${PAGE_ID_MAX + 1} pages)`)
    this.onGrow(first + count)
    this.frontier += count
    return first
  }

  /** Frees a page a durable checkpoint may reference: reusable after two later checkpoints commit (rules 1, 2). */
  release(pageId: number): void {
    assert(pageId >= FIRST_DATA_PAGE_ID && pageId < this.frontier, `release of page ${pageId}`)
    this.pending.push(pageId)
  }

  /** While a checkpoint is captured: frees a page that checkpoint does not reference. */
  releaseAtCommit(pageId: number): void {
    assert(pageId >= FIRST_DATA_PAGE_ID && pageId < this.frontier, `release of page ${pageId}`)
    this.committing.push(pageId)
  }

  beginCheckpoint(): void {
    assert(this.committing.length === 0, 'a checkpoint is already being written')
    this.committing = this.pending
    this.pending = []
  }

  /**
   * The free list of the checkpoint being written: every page it does not reference (free, cooling
   * and committing), ascending.
   */
  freeAfterCommit(): number[] {
    return this.free.concat(this.cooling, this.committing).sort((a, b) => a - b)
  }

  /**
   * The checkpoint is durable: the pages the previous one referenced and this one does not become
   * reusable (its meta page is now the older one, and no later one will reference them); the pages
   * this one stopped referencing cool until the next commit (rule 2).
   */
  commit(): void {
    for (const page of this.cooling) {
      assert(!this.freeSet.has(page), `page ${page} freed twice`)
      this.freeSet.add(page)
      this.free.push(page)
    }
    for (const page of this.committing) {
      assert(!this.listedSet.has(page), `page ${page} freed twice`)
      this.listedSet.add(page)
    }
    this.cooling = this.committing
    this.committing = []
    this.free.sort((a, b) => b - a)
  }

  /** The checkpoint failed: its pages wait for the next one. */
  abortCheckpoint(): void {
    this.pending = this.committing.concat(this.pending)
    this.committing = []
  }

  /** At open: pages nothing references (leaked by a crash between checkpoints) are free at once. */
  addFreePages(pageIds: readonly number[]): void {
    for (const pageId of pageIds) {
      assert(!this.listedSet.has(pageId) && pageId >= FIRST_DATA_PAGE_ID && pageId < this.frontier, `adding page ${pageId} to the free list`)
      this.freeSet.add(pageId)
      this.listedSet.add(pageId)
      this.free.push(pageId)
    }
    this.free.sort((a, b) => b - a)
  }

  /** Whether `pageId` may be written now. */
  isFree(pageId: number): boolean {
    return this.freeSet.has(pageId)
  }

  /** Whether `pageId` is on the durable checkpoint's free list (free or cooling): it holds nothing that checkpoint needs. */
  isListed(pageId: number): boolean {
    return this.listedSet.has(pageId)
  }

  /** Pages waiting for a checkpoint (pending, committing and cooling), for checks. */
  waiting(): number[] {
    return this.pending.concat(this.committing, this.cooling)
  }
}
