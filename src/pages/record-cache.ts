/**
 * The record cache: small values by handle, for point reads over data larger than the buffer pool.
 *
 * A page frame holds a few thousand small records; under skewed reads (Zipfian) the hot ones are
 * spread over every page, so caching whole pages keeps few of them per byte. This cache keeps the
 * records themselves: a value read alone (a pool miss, value-store.ts) is offered to it, and later
 * reads of the same handle are answered from it without I/O.
 *
 * Layout: 4-way set-associative over typed arrays (no object per entry). Each way holds a handle
 * (-1: empty), the value's length, a use count (0-3) and RECORD_CACHE_VALUE_MAX bytes. A hit bumps
 * the count. An offer to a full set replaces a way whose count is 0; if none is, every count in the
 * set drops by one and the newcomer is not cached: a record must be read more often than its set's
 * residents decay to get in (frequency-biased, so one pass of cold reads cannot flush hot records).
 *
 * Correctness: a handle names one record for the record's life; a record's bytes never change; its
 * handle is only reused after the record is released, and `remove` is called on release (and the
 * whole cache is dropped with the store), so a cached handle always has the bytes its record has.
 * The arrays are allocated at the first offer, so a store whose pool holds everything never pays.
 */

/** Values up to this many bytes are cached. */
export const RECORD_CACHE_VALUE_MAX = 48
const WAYS = 4
const COUNT_MAX = 3
/** Bytes one way costs: handle, length, count, value. */
const WAY_BYTES = 8 + 1 + 1 + RECORD_CACHE_VALUE_MAX

export class RecordCache {
  /** Sets (a power of two; 0 when the budget is below one set). */
  readonly sets: number
  private handles: Float64Array | null = null
  private lengths: Uint8Array | null = null
  private counts: Uint8Array | null = null
  /** The values: way w at bytes[w * RECORD_CACHE_VALUE_MAX, ...). */
  bytes: Uint8Array = new Uint8Array(0)
  hits = 0
  misses = 0
  entries = 0

  constructor(budgetBytes: number) {
    let sets = 0
    if (budgetBytes >= WAYS * WAY_BYTES) {
      sets = 1
      while (sets * 2 * WAYS * WAY_BYTES <= budgetBytes) sets *= 2
    }
    this.sets = sets
  }

  get enabled(): boolean {
    return this.sets > 0
  }

  /** Bytes the cache holds allocated (0 until the first offer). */
  get allocatedBytes(): number {
    return this.handles === null ? 0 : this.sets * WAYS * WAY_BYTES
  }

  /** The way holding `handle` (its value at bytes[way * RECORD_CACHE_VALUE_MAX], length `lengthOf`), or -1. */
  find(handle: number): number {
    const handles = this.handles
    if (handles === null) return -1
    const first = this.setOf(handle) * WAYS
    for (let way = first; way < first + WAYS; way++) {
      if (handles[way] === handle) {
        const counts = this.counts!
        if (counts[way]! < COUNT_MAX) counts[way]!++
        this.hits++
        return way
      }
    }
    this.misses++
    return -1
  }

  lengthOf(way: number): number {
    return this.lengths![way]!
  }

  /** Offers the value source[start, start + length) of `handle` (read from disk, checked). */
  offer(handle: number, source: Uint8Array, start: number, length: number): void {
    if (this.sets === 0 || length > RECORD_CACHE_VALUE_MAX) return
    if (this.handles === null) this.allocate()
    const handles = this.handles!
    const counts = this.counts!
    const first = this.setOf(handle) * WAYS
    let victim = -1
    for (let way = first; way < first + WAYS; way++) {
      if (handles[way] === handle) return
      if (victim < 0 && counts[way] === 0) victim = way
    }
    if (victim < 0) {
      for (let way = first; way < first + WAYS; way++) counts[way]!--
      return
    }
    if (handles[victim] === -1) this.entries++
    handles[victim] = handle
    this.lengths![victim] = length
    // A newcomer starts at 1: it must be read again before the next decay to stay.
    counts[victim] = 1
    const at = victim * RECORD_CACHE_VALUE_MAX
    const bytes = this.bytes
    for (let i = 0; i < length; i++) bytes[at + i] = source[start + i]!
  }

  /** Forgets `handle` (its record was released). */
  remove(handle: number): void {
    const handles = this.handles
    if (handles === null) return
    const first = this.setOf(handle) * WAYS
    for (let way = first; way < first + WAYS; way++) {
      if (handles[way] === handle) {
        handles[way] = -1
        this.counts![way] = 0
        this.entries--
        return
      }
    }
  }

  private allocate(): void {
    const ways = this.sets * WAYS
    this.handles = new Float64Array(ways).fill(-1)
    this.lengths = new Uint8Array(ways)
    this.counts = new Uint8Array(ways)
    this.bytes = new Uint8Array(ways * RECORD_CACHE_VALUE_MAX)
  }

  /** Handles are pageId * 2^21 + offset * 2: both halves, through murmur3's finalizer. */
  private setOf(handle: number): number {
    const low = handle % 2097152
    const high = (handle - low) / 2097152
    let h = (Math.imul(high | 0, 0x9e3779b1) + low) | 0
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    return (h >>> 0) & (this.sets - 1)
  }
}
