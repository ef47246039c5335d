/**
 * A system that stores nothing and answers at once: what the idle child runs the workloads against,
 * so that the small-memory allowance includes the benchmark's own working memory (query arrays,
 * histograms, the writes' values, the garbage V8 keeps until it collects) and not only its memory at
 * rest (memory-cap.ts). It allocates nothing per call: a get returns one reused buffer, a scan walks
 * the loaded keys, a put resolves at once. Its answers are not the data's (the idle child ignores
 * the wrong-answer counts).
 */
import type { EntryVisitor, KvSystem } from '../types.js'

export class NullSystem implements KvSystem {
  readonly name = 'learned-storage' as const
  readonly settings: readonly string[] = ['null system: stores nothing (the idle child only)']
  private readonly value: Uint8Array
  private readonly done = Promise.resolve()

  constructor(
    /** The loaded keys, ascending. */
    private readonly keys: Float64Array,
    valueBytes: number,
  ) {
    this.value = new Uint8Array(valueBytes)
  }

  bulkLoad(): Promise<void> {
    return this.done
  }

  get(): Uint8Array {
    return this.value
  }

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    for (let i = from; i < to; i++) visit(keys[i]!, this.value)
    return to - from
  }

  scan(startKey: number, limit: number, visit: EntryVisitor): number {
    let lo = 0
    let hi = this.keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.keys[mid]! < startKey) lo = mid + 1
      else hi = mid
    }
    const end = Math.min(this.keys.length, lo + limit)
    for (let i = lo; i < end; i++) visit(this.keys[i]!, this.value)
    return end - lo
  }

  put(): Promise<void> {
    return this.done
  }

  diskBytes(): number {
    return 0
  }

  cacheHitRate(): undefined {
    return undefined
  }

  resetCounters(): void {}

  close(): Promise<void> {
    return this.done
  }
}
