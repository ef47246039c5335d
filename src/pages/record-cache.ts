/**
 * The record cache: small values by key, for point reads over data larger than the buffer pool.
 *
 * A page frame holds a few thousand small records; under skewed reads (Zipfian) the hot ones are
 * spread over every page, so caching whole pages keeps few of them per byte. This cache keeps the
 * records themselves, under their keys: a point read that had to read its value alone (a pool miss,
 * value-store.ts) offers it, and later point reads of the same key are answered from it before the
 * index is looked at, so a hot key costs neither its leaf nor its value page (a leaf page read per
 * hot key is what a cache by value handle still paid: the leaf says where the value is).
 *
 * Layout: 4-way set-associative over typed arrays (no object per entry). Each way holds a key (NaN:
 * empty), the value's length, a use count (0-3) and RECORD_CACHE_VALUE_MAX bytes. A hit bumps
 * the count. An offer to a full set replaces a way whose count is 0; if none is, every count in the
 * set drops by one and the newcomer is not cached: a record must be read more often than its set's
 * residents decay to get in (frequency-biased, so one pass of cold reads cannot flush hot records).
 *
 * Correctness: an entry is the value its key had when it was offered, and the store forgets a key
 * (`remove`) whenever it installs or removes that key's value (Store.install / Store.remove: every
 * put, delete, batch and replayed write), so a cached key always has its current value. Moving a
 * value (compaction) changes its handle, not its bytes. Only the current state's point reads use it
 * (never an iterator, which reads a snapshot). -0 is kept as 0, the key the index knows. The arrays
 * are allocated at the first offer, so a store whose pool holds everything never pays.
 */

/** Values up to this many bytes are cached. */
export const RECORD_CACHE_VALUE_MAX = 48
const WAYS = 4
const COUNT_MAX = 3
/** Bytes one way costs: key, length, count, value. */
const WAY_BYTES = 8 + 1 + 1 + RECORD_CACHE_VALUE_MAX

export class RecordCache {
  /** Sets (a power of two; 0 when the budget is below one set). */
  readonly sets: number
  private keys: Float64Array | null = null
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
    return this.keys === null ? 0 : this.sets * WAYS * WAY_BYTES
  }

  /** Whether anything was ever offered (before that, every lookup misses without counting). */
  get allocated(): boolean {
    return this.keys !== null
  }

  /** The way holding `key` (its value at bytes[way * RECORD_CACHE_VALUE_MAX], length `lengthOf`), or -1. */
  find(key: number): number {
    const keys = this.keys
    if (keys === null) return -1
    if (key === 0) key = 0
    const first = this.setOf(key) * WAYS
    for (let way = first; way < first + WAYS; way++) {
      if (keys[way] === key) {
        const counts = this.counts!
        if (counts[way]! < COUNT_MAX) counts[way]!++
        this.hits++
        return way
      }
    }
    this.misses++
    return -1
  }

  /** Whether `key` is cached, changing nothing (no use counted, no hit or miss). */
  contains(key: number): boolean {
    const keys = this.keys
    if (keys === null) return false
    if (key === 0) key = 0
    const first = this.setOf(key) * WAYS
    for (let way = first; way < first + WAYS; way++) if (keys[way] === key) return true
    return false
  }

  lengthOf(way: number): number {
    return this.lengths![way]!
  }

  /** Offers the value source[start, start + length) of `key` (read from disk, checked; its current value). */
  offer(key: number, source: Uint8Array, start: number, length: number): void {
    if (this.sets === 0 || length > RECORD_CACHE_VALUE_MAX) return
    if (this.keys === null) this.allocate()
    if (key === 0) key = 0
    const keys = this.keys!
    const counts = this.counts!
    const first = this.setOf(key) * WAYS
    let victim = -1
    for (let way = first; way < first + WAYS; way++) {
      if (keys[way] === key) return
      if (victim < 0 && counts[way] === 0) victim = way
    }
    if (victim < 0) {
      for (let way = first; way < first + WAYS; way++) counts[way]!--
      return
    }
    if (keys[victim] !== keys[victim]) this.entries++
    keys[victim] = key
    this.lengths![victim] = length
    // A newcomer starts at 1: it must be read again before the next decay to stay.
    counts[victim] = 1
    const at = victim * RECORD_CACHE_VALUE_MAX
    const bytes = this.bytes
    for (let i = 0; i < length; i++) bytes[at + i] = source[start + i]!
  }

  /** Forgets `key` (its value was replaced or deleted). */
  remove(key: number): void {
    const keys = this.keys
    if (keys === null) return
    if (key === 0) key = 0
    const first = this.setOf(key) * WAYS
    for (let way = first; way < first + WAYS; way++) {
      if (keys[way] === key) {
        keys[way] = NaN
        this.counts![way] = 0
        this.entries--
        return
      }
    }
  }

  private allocate(): void {
    const ways = this.sets * WAYS
    this.keys = new Float64Array(ways).fill(NaN)
    this.lengths = new Uint8Array(ways)
    this.counts = new Uint8Array(ways)
    this.bytes = new Uint8Array(ways * RECORD_CACHE_VALUE_MAX)
  }

  /** The key's 64 bits, through murmur3's finalizer. */
  private setOf(key: number): number {
    KEY_BITS[0] = key
    let h = (Math.imul(KEY_WORDS[1]!, 0x9e3779b1) + KEY_WORDS[0]!) | 0
    h ^= h >>> 16
    h = Math.imul(h, 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    return (h >>> 0) & (this.sets - 1)
  }
}

const KEY_BITS = new Float64Array(1)
const KEY_WORDS = new Uint32Array(KEY_BITS.buffer)
