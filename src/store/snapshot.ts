/**
 * Range iterators that read a consistent snapshot: the entries as they were when `range()` was
 * called, whatever is written while iterating.
 *
 * An iterator walks the live index until the first write after its creation. Just before that write
 * is applied, `Snapshots.freeze` copies the keys and value handles the iterator has still to return
 * (up to its limit) into arrays, and from then on it returns those. The value records behind frozen
 * handles must outlive the write that replaces them, so while any frozen iterator is alive, freeing a
 * value record is deferred (`release`); the deferred records are freed once the last frozen iterator
 * ends: it is exhausted, `return()` is called (a `break` out of `for...of` does that), the store
 * closes, or the iterator is garbage-collected unfinished.
 *
 * Cost: a write while iterators are open copies their remaining entries once (16 bytes each, and a
 * value kept in its leaf's cell is already a copy).
 */

/** A value handle, or the bytes of a value kept in its leaf's cell (copied when read from the leaf). */
export type SnapshotValue = number | Uint8Array

export interface SnapshotSource {
  /** The next [key, handle or bytes] of the live index, or undefined at the end. */
  next(): [number, SnapshotValue] | undefined
  return(): void
}

/**
 * An iterator's state: its source, how many entries it may still return, and its frozen copy. Held
 * strongly by `Snapshots` while it reads the live index (a write must be able to freeze it); it holds
 * nothing of the `SnapshotCursor` that wraps it, so an iterator the caller drops unfinished is still
 * collected, and the registry then ends its ticket. (Not a WeakRef to the cursor: a WeakRef keeps its
 * target alive to the end of the current job, so a loop of short scans in one job kept every
 * iterator it made: 20k 100-key scans held ~20 MB more at 10M keys.)
 */
class Ticket {
  frozen = false
  finished = false
  keys: number[] | null = null
  handles: SnapshotValue[] | null = null
  at = 0

  constructor(
    readonly source: SnapshotSource,
    public left: number,
  ) {}

  next(): [number, SnapshotValue] | undefined {
    if (this.left <= 0 || this.finished) return undefined
    let entry: [number, SnapshotValue] | undefined
    if (this.keys !== null) {
      if (this.at < this.keys.length) {
        entry = [this.keys[this.at]!, this.handles![this.at]!]
        this.at++
      }
    } else {
      entry = this.source.next()
    }
    if (entry === undefined) return undefined
    this.left--
    return entry
  }

  /** Copies the entries still to come; the live index may change after this. */
  freeze(): void {
    if (this.frozen || this.finished) return
    const keys: number[] = []
    const handles: SnapshotValue[] = []
    while (keys.length < this.left) {
      const entry = this.source.next()
      if (entry === undefined) break
      keys.push(entry[0])
      handles.push(entry[1])
    }
    this.source.return()
    this.keys = keys
    this.handles = handles
    this.frozen = true
  }
}

export class SnapshotCursor {
  readonly ticket: Ticket

  constructor(source: SnapshotSource, left: number) {
    this.ticket = new Ticket(source, left)
  }

  /** The next entry of the snapshot, or undefined at its end. */
  next(): [number, SnapshotValue] | undefined {
    return this.ticket.next()
  }

  /** Copies the entries still to come; the live index may change after this. */
  freeze(): void {
    this.ticket.freeze()
  }
}

export class Snapshots {
  /** The tickets of iterators that still read the live index. */
  private readonly open = new Set<Ticket>()
  private frozenAlive = 0
  private deferred: number[] = []
  private readonly registry = new FinalizationRegistry<Ticket>((ticket) => this.end(ticket))

  constructor(private readonly free: (handle: number) => void) {}

  add(cursor: SnapshotCursor): void {
    this.open.add(cursor.ticket)
    this.registry.register(cursor, cursor.ticket, cursor.ticket)
  }

  /** Before a write is applied: every open iterator that still reads the live index freezes. */
  freeze(): void {
    if (this.open.size === 0) return
    for (const ticket of this.open) {
      ticket.freeze()
      this.frozenAlive++
    }
    this.open.clear()
  }

  /** The iterator will return nothing more. */
  end(ticket: Ticket): void {
    if (ticket.finished) return
    ticket.finished = true
    this.registry.unregister(ticket)
    this.open.delete(ticket)
    if (ticket.frozen && --this.frozenAlive === 0) {
      const deferred = this.deferred
      this.deferred = []
      for (const handle of deferred) this.free(handle)
    }
  }

  /** Frees a value record now, or once no frozen iterator may still read it. */
  release(handle: number): void {
    if (this.frozenAlive > 0) this.deferred.push(handle)
    else this.free(handle)
  }

  /** Calls `visit(handle)` for every record whose release waits for the frozen iterators. */
  forEachDeferred(visit: (handle: number) => void): void {
    for (const handle of this.deferred) visit(handle)
  }

  get deferredCount(): number {
    return this.deferred.length
  }
}
