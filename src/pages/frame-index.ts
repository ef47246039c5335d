/**
 * Which frame holds a page: the buffer pool's page-id -> frame map, looked up on every read. Page ids
 * below DIRECT_PAGES are a direct index into an Int32Array (frame + 1; 0: not resident), grown as
 * ids appear; larger ids (files of more than DIRECT_PAGES pages) go to a Map. A Map lookup was a
 * hash probe per point read (10M keys: about 5% of a get).
 */

/** Page ids below this are indexed directly: at most 16 MiB of index, for files of 4M pages. */
const DIRECT_PAGES = 1 << 22

export class FrameIndex {
  private direct = new Int32Array(1024)
  private readonly far = new Map<number, number>()
  private count = 0

  get size(): number {
    return this.count
  }

  /** The frame holding `pageId`, or -1. */
  get(pageId: number): number {
    if (pageId < this.direct.length) return this.direct[pageId]! - 1
    if (pageId < DIRECT_PAGES) return -1
    return this.far.get(pageId) ?? -1
  }

  has(pageId: number): boolean {
    return this.get(pageId) >= 0
  }

  /** Records that `frame` holds `pageId` (which no frame held). */
  set(pageId: number, frame: number): void {
    if (pageId < DIRECT_PAGES) {
      if (pageId >= this.direct.length) {
        let length = this.direct.length
        while (length <= pageId) length *= 2
        const grown = new Int32Array(Math.min(length, DIRECT_PAGES))
        grown.set(this.direct)
        this.direct = grown
      }
      if (this.direct[pageId] === 0) this.count++
      this.direct[pageId] = frame + 1
      return
    }
    if (!this.far.has(pageId)) this.count++
    this.far.set(pageId, frame)
  }

  delete(pageId: number): void {
    if (pageId < DIRECT_PAGES) {
      if (pageId < this.direct.length && this.direct[pageId] !== 0) {
        this.direct[pageId] = 0
        this.count--
      }
      return
    }
    if (this.far.delete(pageId)) this.count--
  }

  clear(): void {
    this.direct.fill(0)
    this.far.clear()
    this.count = 0
  }
}
