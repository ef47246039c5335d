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
  /**
   * Operation i's value bytes when its handle is a cell value (< 0: a value small enough for its
   * leaf's cell, node-layout.ts), at [i * cellBytes, i * cellBytes + length).
   */
  private cellBytesOf: Uint8Array
  private head = 0
  private tail = 0

  constructor(private readonly cellBytes = 0) {
    this.cellBytesOf = new Uint8Array(256 * cellBytes)
  }

  /** The bytes behind the oldest operation's cell value are cells[firstCellAt, ...). */
  get cells(): Uint8Array {
    return this.cellBytesOf
  }

  get firstCellAt(): number {
    return this.head * this.cellBytes
  }

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

  /**
   * Makes room for `count` more operations, so that the next `count` pushes allocate nothing and
   * cannot throw: a write reserves before its record enters the log, and pushes after.
   */
  reserve(count: number): void {
    while (this.tail + count > this.lsns.length) this.makeRoom(count)
  }

  /**
   * Queues one operation; `handle` is the value's for a put (ignored for a delete). A cell value
   * (handle < 0) copies `value`, its bytes.
   */
  push(lsn: number, key: number, handle: number, isPut: boolean, value?: Uint8Array): void {
    if (this.tail === this.lsns.length) this.makeRoom(1)
    const at = this.tail++
    this.lsns[at] = lsn
    this.keys[at] = key
    this.handles[at] = handle
    this.puts[at] = isPut ? 1 : 0
    if (isPut && handle < 0) this.cellBytesOf.set(value!, at * this.cellBytes)
  }

  /** Drops the oldest operation. */
  shift(): void {
    if (++this.head === this.tail) this.head = this.tail = 0
  }

  /** Calls `visit(handle)` for the value of every queued put. */
  forEachPut(visit: (handle: number) => void): void {
    for (let i = this.head; i < this.tail; i++) if (this.puts[i] === 1) visit(this.handles[i]!)
  }

  /** Calls `visit(handle)` for the value of every queued put, then empties the queue. */
  drain(visit: (handle: number) => void): void {
    for (let i = this.head; i < this.tail; i++) if (this.puts[i] === 1) visit(this.handles[i]!)
    this.head = this.tail = 0
  }

  /**
   * Moves the live part to the front, growing the arrays (by doubling) if the live part and `count`
   * more would fill more than half of them. The new arrays are all made before any is installed, so
   * a failed allocation leaves the queue as it was.
   */
  private makeRoom(count: number): void {
    const live = this.tail - this.head
    let size = 0
    if ((live + count) * 2 > this.lsns.length) {
      size = this.lsns.length * 2
      while (size < live + count) size *= 2
    }
    const { head, tail } = this
    if (size === 0) {
      this.lsns.copyWithin(0, head, tail)
      this.keys.copyWithin(0, head, tail)
      this.handles.copyWithin(0, head, tail)
      this.puts.copyWithin(0, head, tail)
      this.cellBytesOf.copyWithin(0, head * this.cellBytes, tail * this.cellBytes)
    } else {
      const lsns = new Float64Array(size)
      const keys = new Float64Array(size)
      const handles = new Float64Array(size)
      const puts = new Uint8Array(size)
      const cells = new Uint8Array(size * this.cellBytes)
      lsns.set(this.lsns.subarray(head, tail))
      keys.set(this.keys.subarray(head, tail))
      handles.set(this.handles.subarray(head, tail))
      puts.set(this.puts.subarray(head, tail))
      cells.set(this.cellBytesOf.subarray(head * this.cellBytes, tail * this.cellBytes))
      this.lsns = lsns
      this.keys = keys
      this.handles = handles
      this.puts = puts
      this.cellBytesOf = cells
    }
    this.head = 0
    this.tail = live
  }
}
