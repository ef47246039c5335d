/**
 * Read helpers the adapters whose get fills one reused buffer share (ours through getInto, LMDB
 * through getBinaryFast): exact-length views of that buffer without an allocation per read, and a
 * getMany that is a loop of gets (LMDB's; ours uses the store's batched getManyInto).
 */
import type { EntryVisitor } from '../types.js'

/** Views of the first n bytes of one buffer, cached by n (rebuilt when the buffer changes). */
export class SizedViews {
  private of: Uint8Array | null = null
  private readonly views = new Map<number, Uint8Array>()

  view(buffer: Uint8Array, length: number): Uint8Array {
    if (buffer !== this.of) {
      this.views.clear()
      this.of = buffer
    }
    let view = this.views.get(length)
    if (view === undefined) {
      view = new Uint8Array(buffer.buffer, buffer.byteOffset, length)
      if (this.views.size < 256) this.views.set(length, view)
    }
    return view
  }
}

/** getMany as a loop of `get`: each value is visited before the next get reuses its buffer. */
export function getManyByGets(get: (key: number) => Uint8Array | undefined, keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
  let found = 0
  for (let i = from; i < to; i++) {
    const key = keys[i]!
    const value = get(key)
    if (value !== undefined) {
      visit(key, value)
      found++
    }
  }
  return found
}
