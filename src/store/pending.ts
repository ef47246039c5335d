/**
 * Operations logged but not yet applied to the index (their records are not durable yet), in LSN
 * order: a queue over parallel typed arrays, so that a write costs no objects here. The operations
 * of one batch share its LSN and are applied together.
 */

export class PendingOps {
  private lsns = new Float64Array(256)
  private keys = new Float64Array(256)
  private handles = new Float64Array(256)
  private puts = new Uint8Array(256)
  private head = 0
  private tail = 0

  get length(): number {
    return this.tail - this.head
  }

  /** The LSN of the oldest operation (the queue must not be empty). */
  get firstLsn(): number {
    return this.lsns[this.head]!
  }

  get firstKey(): number {
    return this.keys[this.head]!
  }

  get firstHandle(): number {
    return this.handles[this.head]!
  }

  get firstIsPut(): boolean {
    return this.puts[this.head] === 1
  }

  /**
   * How many queued operations, from the oldest and at most `max`, have an LSN <= lsn; their keys
   * are keyList[headIndex, headIndex + count) (valid until the next push or shift).
   */
  countUpTo(lsn: number, max: number): number {
    const end = Math.min(this.tail, this.head + max)
    let i = this.head
    while (i < end && this.lsns[i]! <= lsn) i++
    return i - this.head
  }

  get keyList(): Float64Array {
    return this.keys
  }

  get headIndex(): number {
    return this.head
  }

  /** Queues one operation; `handle` is the value's for a put (ignored for a delete). */
  push(lsn: number, key: number, handle: number, isPut: boolean): void {
    if (this.tail === this.lsns.length) this.makeRoom()
    const at = this.tail++
    this.lsns[at] = lsn
    this.keys[at] = key
    this.handles[at] = handle
    this.puts[at] = isPut ? 1 : 0
  }

  /** Drops the oldest operation. */
  shift(): void {
    if (++this.head === this.tail) this.head = this.tail = 0
  }

  /** Calls `visit(handle)` for the value of every queued put, then empties the queue. */
  drain(visit: (handle: number) => void): void {
    for (let i = this.head; i < this.tail; i++) if (this.puts[i] === 1) visit(this.handles[i]!)
    this.head = this.tail = 0
  }

  /** Moves the live part to the front, doubling the arrays if it fills more than half of them. */
  private makeRoom(): void {
    const live = this.tail - this.head
    const size = live * 2 > this.lsns.length ? this.lsns.length * 2 : 0
    const { head, tail } = this
    this.lsns = moveLive(this.lsns, head, tail, size === 0 ? null : new Float64Array(size))
    this.keys = moveLive(this.keys, head, tail, size === 0 ? null : new Float64Array(size))
    this.handles = moveLive(this.handles, head, tail, size === 0 ? null : new Float64Array(size))
    this.puts = moveLive(this.puts, head, tail, size === 0 ? null : new Uint8Array(size))
    this.head = 0
    this.tail = live
  }
}

/** from[head, tail) moved to the front of `to`, or of `from` itself when `to` is null. */
function moveLive<T extends Float64Array<ArrayBuffer> | Uint8Array<ArrayBuffer>>(from: T, head: number, tail: number, to: T | null): T {
  if (to === null) {
    from.copyWithin(0, head, tail)
    return from
  }
  ;(to as Float64Array).set(from.subarray(head, tail) as Float64Array)
  return to
}
