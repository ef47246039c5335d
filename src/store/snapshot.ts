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

class Ticket {
  frozen = false
  finished = false
}

export class SnapshotCursor {
  private keys: number[] | null = null
  private handles: SnapshotValue[] | null = null
  private at = 0
  readonly ticket = new Ticket()

  constructor(
    private readonly source: SnapshotSource,
    private left: number,
  ) {}

  /** The next entry of the snapshot, or undefined at its end. */
  next(): [number, SnapshotValue] | undefined {
    if (this.left <= 0 || this.ticket.finished) return undefined
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
    if (this.ticket.frozen || this.ticket.finished) return
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
    this.ticket.frozen = true
  }
}

export class Snapshots {
  private readonly open = new Set<WeakRef<SnapshotCursor>>()
  private frozenAlive = 0
  private deferred: number[] = []
  private readonly registry = new FinalizationRegistry<Ticket>((ticket) => this.end(ticket))

  constructor(private readonly free: (handle: number) => void) {}

  add(cursor: SnapshotCursor): void {
    const ref = new WeakRef(cursor)
    this.open.add(ref)
    this.registry.register(cursor, cursor.ticket, cursor.ticket)
    this.refs.set(cursor.ticket, ref)
  }

  private readonly refs = new WeakMap<Ticket, WeakRef<SnapshotCursor>>()

  /** Before a write is applied: every open iterator that still reads the live index freezes. */
  freeze(): void {
    if (this.open.size === 0) return
    for (const ref of this.open) {
      const cursor = ref.deref()
      if (cursor === undefined) {
        this.open.delete(ref)
        continue
      }
      if (cursor.ticket.frozen) continue
      cursor.freeze()
      this.frozenAlive++
      this.open.delete(ref)
    }
  }

  /** The iterator will return nothing more. */
  end(ticket: Ticket): void {
    if (ticket.finished) return
    ticket.finished = true
    this.registry.unregister(ticket)
    const ref = this.refs.get(ticket)
    if (ref !== undefined) this.open.delete(ref)
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
