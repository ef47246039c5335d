/**
 * Buffer-pool replacement policy: CLOCK (what src/pages/buffer-pool.ts does) against lru-cache's
 * LRUCache, on the same page-id stream, in one process. Measures the cost per access (hit path and
 * miss path, excluding I/O: a miss only takes a frame) and the hit ratio.
 *
 *   npm run bench:pool
 *
 * Streams: resident (every page fits: the hit path), uniform over 2x the frames, and skewed (80% of
 * accesses to 20% of the pages) over 4x. A third policy, exact LRU as a linked list over frame numbers
 * in typed arrays, shows what the hit ratio of LRU costs without lru-cache's generality.
 */
import { LRUCache } from 'lru-cache'
import { Prng } from './lib/prng.js'

interface Policy {
  name: string
  /** Returns true on a hit; on a miss makes the page resident (evicting one if full). */
  access(pageId: number): boolean
}

class Clock implements Policy {
  name = 'CLOCK'
  private readonly frameOf = new Map<number, number>()
  private readonly framePage: Float64Array
  private readonly referenced: Uint8Array
  private used = 0
  private hand = 0
  constructor(private readonly frames: number) {
    this.framePage = new Float64Array(frames).fill(-1)
    this.referenced = new Uint8Array(frames)
  }
  access(pageId: number): boolean {
    const frame = this.frameOf.get(pageId)
    if (frame !== undefined) {
      this.referenced[frame] = 1
      return true
    }
    let f: number
    if (this.used < this.frames) f = this.used++
    else {
      for (;;) {
        f = this.hand
        this.hand = f + 1 === this.frames ? 0 : f + 1
        if (this.referenced[f] === 1) this.referenced[f] = 0
        else break
      }
      this.frameOf.delete(this.framePage[f]!)
    }
    this.framePage[f] = pageId
    this.referenced[f] = 1
    this.frameOf.set(pageId, f)
    return false
  }
}

class Lru implements Policy {
  name = 'lru-cache'
  private readonly cache: LRUCache<number, number>
  private used = 0
  private readonly free: number[] = []
  constructor(private readonly frames: number) {
    this.cache = new LRUCache<number, number>({ max: frames, dispose: (frame) => this.free.push(frame) })
  }
  access(pageId: number): boolean {
    if (this.cache.get(pageId) !== undefined) return true
    const frame = this.used < this.frames ? this.used++ : -1
    this.cache.set(pageId, frame >= 0 ? frame : 0)
    if (frame < 0) this.free.pop()
    return false
  }
}

/** Exact LRU as an intrusive doubly-linked list over frame numbers (typed arrays, no allocation). */
class LruList implements Policy {
  name = 'LRU list'
  private readonly frameOf = new Map<number, number>()
  private readonly framePage: Float64Array
  private readonly prev: Int32Array
  private readonly next: Int32Array
  private head = -1 // most recent
  private tail = -1 // least recent
  private used = 0
  constructor(private readonly frames: number) {
    this.framePage = new Float64Array(frames).fill(-1)
    this.prev = new Int32Array(frames).fill(-1)
    this.next = new Int32Array(frames).fill(-1)
  }
  private unlink(f: number): void {
    const p = this.prev[f]!
    const n = this.next[f]!
    if (p >= 0) this.next[p] = n
    else this.head = n
    if (n >= 0) this.prev[n] = p
    else this.tail = p
  }
  private pushFront(f: number): void {
    this.prev[f] = -1
    this.next[f] = this.head
    if (this.head >= 0) this.prev[this.head] = f
    this.head = f
    if (this.tail < 0) this.tail = f
  }
  access(pageId: number): boolean {
    const frame = this.frameOf.get(pageId)
    if (frame !== undefined) {
      if (frame !== this.head) {
        this.unlink(frame)
        this.pushFront(frame)
      }
      return true
    }
    let f: number
    if (this.used < this.frames) f = this.used++
    else {
      f = this.tail
      this.unlink(f)
      this.frameOf.delete(this.framePage[f]!)
    }
    this.framePage[f] = pageId
    this.frameOf.set(pageId, f)
    this.pushFront(f)
    return false
  }
}

function stream(kind: 'resident' | 'uniform' | 'skewed', frames: number, length: number): Float64Array {
  const prng = new Prng(42, `pool-${kind}`)
  const out = new Float64Array(length)
  const pages = kind === 'resident' ? frames : kind === 'uniform' ? 2 * frames : 4 * frames
  const hot = Math.floor(pages / 5)
  for (let i = 0; i < length; i++) {
    if (kind !== 'skewed') out[i] = Math.floor(prng.nextFloat() * pages)
    else out[i] = prng.nextFloat() < 0.8 ? Math.floor(prng.nextFloat() * hot) : hot + Math.floor(prng.nextFloat() * (pages - hot))
  }
  return out
}

function run(make: () => Policy, ids: Float64Array): { nsPerAccess: number; hitRatio: number } {
  let best = Infinity
  let hits = 0
  for (let rep = 0; rep < 5; rep++) {
    const policy = make()
    let h = 0
    const start = process.hrtime.bigint()
    for (let i = 0; i < ids.length; i++) if (policy.access(ids[i]!)) h++
    const ns = Number(process.hrtime.bigint() - start) / ids.length
    if (ns < best) best = ns
    hits = h
  }
  return { nsPerAccess: best, hitRatio: hits / ids.length }
}

const FRAMES = 4096
const LENGTH = 5_000_000
console.log(`buffer-pool policies: ${FRAMES} frames, ${LENGTH} accesses per stream, best of 5 (node ${process.version})`)
console.log('stream    policy      ns/access  hit ratio  ratio to lru-cache')
for (const kind of ['resident', 'uniform', 'skewed'] as const) {
  const ids = stream(kind, FRAMES, LENGTH)
  const lru = run(() => new Lru(FRAMES), ids)
  const clock = run(() => new Clock(FRAMES), ids)
  const list = run(() => new LruList(FRAMES), ids)
  for (const [name, r] of [['lru-cache', lru], ['CLOCK', clock], ['LRU list', list]] as const) {
    console.log(`${kind.padEnd(9)} ${name.padEnd(11)} ${r.nsPerAccess.toFixed(1).padStart(9)}  ${r.hitRatio.toFixed(3).padStart(9)}  ${(lru.nsPerAccess / r.nsPerAccess).toFixed(2)}x`)
  }
}
