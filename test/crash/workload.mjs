// The crash suite's workload: a seeded stream of store operations that the writer child runs and the
// parent regenerates (so the child reports only indices), and self-describing values, so that any
// value read back names the one write that produced it and can be checked byte for byte.
//
// Plain ESM (no TypeScript loader needed): the writer child and the soak runner import it after
// `npm run build`. Types for the TypeScript tests: workload.d.mts.

/** Store options of every crash run: small pages, segments and checkpoints so that leaf splits,
 *  segment rotation, checkpoints and buffer-pool evictions all happen within a second of writing. */
export const STORE_OPTIONS = Object.freeze({
  pageSizeBytes: 4096,
  walSegmentBytes: 65536,
  checkpointWalBytes: 256 * 1024,
  cacheBytes: 16 * 4096,
  // Values of up to 40 bytes live in their leaves (the widest cell 4 KiB pages allow): the workload's
  // values of 32-40 bytes do, the rest are in value pages.
  leafValueBytes: 40,
})

// ---- seeded randomness --------------------------------------------------------------------------

/** Mixes integers into one 32-bit seed. */
export function mixSeed(...parts) {
  let h = 0x9e3779b9
  for (const part of parts) {
    h ^= part >>> 0
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    h ^= h >>> 16
    h ^= Math.floor(part / 4294967296) >>> 0
  }
  return h >>> 0
}

/** A small seeded generator (mulberry32) with the helpers the suite uses. */
export class Rng {
  constructor(seed) {
    this.state = seed >>> 0
  }
  u32() {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  /** A float in [0, 1). */
  next() {
    return this.u32() / 4294967296
  }
  /** An integer in [0, n). */
  int(n) {
    return Math.floor(this.next() * n)
  }
  /** An integer in [lo, hi]. */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1)
  }
  chance(p) {
    return this.next() < p
  }
  pick(items) {
    return items[this.int(items.length)]
  }
}

// ---- self-describing values ---------------------------------------------------------------------
//
// A value's first 32 bytes, little-endian:
//   @0  u32 magic 'LSCV'     @4 u32 generation     @8 u32 plan index
//   @12 u16 batch member     @14 u16 batch size (0: a single put)
//   @16 f64 key              @24 u32 total length  @28 u32 FNV-1a of bytes 0..27
// then filler bytes from a generator seeded by (generation, index, member, key). So a value read
// back names its write (generation, index, member), the key it was written under and the batch it
// belongs to, and decodeValue + valueMatches tell a right value from a damaged or misplaced one.

export const VALUE_HEADER_BYTES = 32
const VALUE_MAGIC = 0x5643534c

function fnv1a(bytes, end) {
  let h = 0x811c9dc5
  for (let i = 0; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193)
  return h >>> 0
}

/** The bytes of the value written by plan item `index` (member `member` of a batch) of `gen`. */
export function encodeValue(gen, index, member, batchSize, key, length) {
  if (length < VALUE_HEADER_BYTES) throw new Error(`value length ${length} < ${VALUE_HEADER_BYTES}`)
  const bytes = new Uint8Array(length)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, VALUE_MAGIC, true)
  view.setUint32(4, gen, true)
  view.setUint32(8, index, true)
  view.setUint16(12, member, true)
  view.setUint16(14, batchSize, true)
  view.setFloat64(16, key, true)
  view.setUint32(24, length, true)
  view.setUint32(28, fnv1a(bytes, 28), true)
  const rng = new Rng(mixSeed(gen, index, member, view.getUint32(16, true), view.getUint32(20, true)))
  for (let i = VALUE_HEADER_BYTES; i < length; i += 4) {
    const w = rng.u32()
    bytes[i] = w & 0xff
    if (i + 1 < length) bytes[i + 1] = (w >>> 8) & 0xff
    if (i + 2 < length) bytes[i + 2] = (w >>> 16) & 0xff
    if (i + 3 < length) bytes[i + 3] = w >>> 24
  }
  return bytes
}

/** The header of a value, or null if its first 32 bytes are not an intact header. */
export function decodeValue(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < VALUE_HEADER_BYTES) return null
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== VALUE_MAGIC || view.getUint32(28, true) !== fnv1a(bytes, 28)) return null
  return {
    gen: view.getUint32(4, true),
    index: view.getUint32(8, true),
    member: view.getUint16(12, true),
    batchSize: view.getUint16(14, true),
    key: view.getFloat64(16, true),
    length: view.getUint32(24, true),
  }
}

/** True when `bytes` is exactly the value its header describes. */
export function valueMatches(bytes, header) {
  if (bytes.byteLength !== header.length) return false
  const expected = encodeValue(header.gen, header.index, header.member, header.batchSize, header.key, header.length)
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(Buffer.from(expected.buffer))
}

/** Members per plan item in a write id: a batch or bulk load of up to 65,535 entries (the header's u16). */
const MEMBERS_PER_ITEM = 65536
/** Plan items per generation in a write id. Ids stay exact below 2^53: generations < 8192. */
const ITEMS_PER_GEN = 16777216

/** One number per write: (generation, plan index, batch member). */
export function writeId(gen, index, member) {
  return (gen * ITEMS_PER_GEN + index) * MEMBERS_PER_ITEM + member
}

/** The generation that made write `id`. */
export function generationOfWriteId(id) {
  return Math.floor(id / MEMBERS_PER_ITEM / ITEMS_PER_GEN)
}

export function describeWriteId(id) {
  if (id === undefined) return 'absent'
  const member = id % MEMBERS_PER_ITEM
  const rest = (id - member) / MEMBERS_PER_ITEM
  const index = rest % ITEMS_PER_GEN
  return `write ${(rest - index) / ITEMS_PER_GEN}.${index}${member > 0 ? `.${member}` : ''}`
}

// ---- the operation stream -----------------------------------------------------------------------

const KEY_SPACE = 3000
const HOT_KEYS = 64
/** A value of at least this many bytes counts as a MiB value (the soak's figure). */
export const MIB_VALUE_BYTES = 1 << 20

function valueLength(rng, reach) {
  // Reach plans replace a few lengths by 1-2 MiB (many overflow pages; a log record across segments).
  if (reach !== null && reach.bigShare > 0 && reach.rng.chance(reach.bigShare)) return MIB_VALUE_BYTES + reach.rng.int(MIB_VALUE_BYTES)
  const x = rng.next()
  if (x < 0.4) return VALUE_HEADER_BYTES + rng.int(9) // kept in the leaf (STORE_OPTIONS.leafValueBytes)
  if (x < 0.85) return VALUE_HEADER_BYTES + 9 + rng.int(91)
  if (x < 0.95) return 200 + rng.int(800)
  if (x < 0.99) return 1100 + rng.int(3000) // an overflow run of 1-2 pages at 4 KiB pages
  return 8000 + rng.int(40000) // several overflow pages; a log record across a 32 KiB block
}

function randomKey(rng) {
  const x = rng.next()
  if (x < 0.7) return rng.int(KEY_SPACE)
  if (x < 0.9) return rng.int(HOT_KEYS)
  if (x < 0.97) return -1 - rng.int(1000) - rng.next()
  return (rng.next() - 0.5) * 2e12
}

/** Entries of a bulk load, at most (a value header's batch size is a u16; more makes every later
 *  generation's verification of the directory slow: 25,000 entries took 0.6 s a generation). */
export const BULK_ENTRIES_MAX = 12000

/**
 * The bulk load a reach plan may start generation 0 with: `n` ascending keys spread over the key
 * space (so later writes overwrite them and leave garbage for compaction), small values with a few
 * overflow ones, through bulkLoad(iterable) or bulkLoad(keys, values).
 */
function bulkItem(rng) {
  const n = rng.range(2000, BULK_ENTRIES_MAX)
  const step = KEY_SPACE / n
  const ops = new Array(n)
  for (let j = 0; j < n; j++) ops[j] = { t: 'put', k: j * step, len: rng.chance(0.02) ? 1100 + rng.int(6000) : VALUE_HEADER_BYTES + rng.int(60) }
  return { t: 'bulk', form: rng.chance(0.5) ? 'iterable' : 'columns', ops }
}

/**
 * The plan of generation `gen` of a run seeded `seed`: `length` items, each one of
 *   { t: 'put', k, len }                    put k = value(gen, index, 0, 0, k, len)
 *   { t: 'del', k }
 *   { t: 'batch', ops: [{ t, k, len? }] }   member j's value: value(gen, index, j, size, k, len)
 *   { t: 'bulk', form, ops: [{ t: 'put', k, len }] }  bulkLoad of an empty store (reach plans,
 *                                           generation 0, item 0 only); values as for a batch;
 *                                           form 'iterable' or 'columns' (bulkLoad(keys, values))
 *   { t: 'get', k }  { t: 'range', gte, lt, reverse, limit }  { t: 'checkpoint' }
 * Structure-changing bursts are runs of puts with dense new keys inside one unit interval, and the
 * first generation sometimes starts with a batch of 1024+ ascending puts (the bulk-load path).
 * Also returns how many writes the writer keeps in flight, its checkpoint interval and its cache.
 *
 * `reach` (the soak's; null for the CI files, whose plans it leaves unchanged) adds, from a stream
 * of its own: a bulk load at generation 0 (35% of directories), values of 1-2 MiB (in 40% of
 * generations, 0.1-0.4% of puts), and a cache of 8 pages, the pool's least (half of generations).
 */
export function planGeneration(seed, gen, length = 4000, reach = null) {
  const rng = new Rng(mixSeed(seed, gen, 0x51a7))
  const extra = reach ? new Rng(mixSeed(seed, gen, 0x7eac)) : null
  // (0.01 of puts at 1-3 MiB made a generation at 'fsync' take 3 s, six times the rest.)
  const big = extra === null ? null : { rng: extra, bigShare: extra.chance(0.4) ? extra.pick([0.001, 0.002, 0.004]) : 0 }
  const items = []
  const recent = []
  const remember = (k) => {
    recent.push(k)
    if (recent.length > 256) recent.shift()
  }
  const window = rng.pick([1, 2, 4, 8, 16, 32])
  const checkpointIntervalMs = rng.pick([50, 200, 1000, 60000])
  const cacheBytes = extra !== null && extra.chance(0.5) ? 8 * STORE_OPTIONS.pageSizeBytes : STORE_OPTIONS.cacheBytes
  const bulk = extra !== null && gen === 0 && extra.chance(0.35)
  if (bulk) items.push(bulkItem(extra))
  if (gen === 0 && rng.chance(0.3) && !bulk) {
    const n = rng.range(1024, 1500)
    const ops = []
    for (let j = 0; j < n; j++) ops.push({ t: 'put', k: j * 2, len: VALUE_HEADER_BYTES + rng.int(40) })
    items.push({ t: 'batch', ops })
  }
  while (items.length < length) {
    const x = rng.next()
    if (x < 0.4) {
      const k = randomKey(rng)
      remember(k)
      items.push({ t: 'put', k, len: valueLength(rng, big) })
    } else if (x < 0.5) {
      items.push({ t: 'del', k: recent.length > 0 && rng.chance(0.7) ? rng.pick(recent) : randomKey(rng) })
    } else if (x < 0.62) {
      const size = rng.chance(0.05) ? rng.range(100, 300) : rng.range(2, 24)
      const keys = new Set()
      const ops = []
      while (ops.length < size) {
        const k = rng.chance(0.3) && recent.length > 0 ? rng.pick(recent) : randomKey(rng)
        if (keys.has(k)) continue
        keys.add(k)
        if (rng.chance(0.15)) ops.push({ t: 'del', k })
        else {
          remember(k)
          ops.push({ t: 'put', k, len: size > 50 ? VALUE_HEADER_BYTES + rng.int(60) : valueLength(rng, null) })
        }
      }
      items.push({ t: 'batch', ops })
    } else if (x < 0.68) {
      items.push({ t: 'get', k: recent.length > 0 && rng.chance(0.8) ? rng.pick(recent) : randomKey(rng) })
    } else if (x < 0.73) {
      const gte = rng.int(KEY_SPACE + 20) - 10
      items.push({ t: 'range', gte, lt: gte + 1 + rng.int(300), reverse: rng.chance(0.3), limit: rng.range(1, 300) })
    } else if (x < 0.734) {
      items.push({ t: 'checkpoint' })
    } else if (x < 0.744) {
      // A burst: many new keys inside one unit interval, so leaves split and data nodes expand.
      const base = rng.int(KEY_SPACE)
      const n = rng.range(100, 400)
      for (let j = 0; j < n && items.length < length; j++) items.push({ t: 'put', k: base + rng.next(), len: VALUE_HEADER_BYTES + rng.int(24) })
    } else {
      const k = rng.int(HOT_KEYS)
      remember(k)
      items.push({ t: 'put', k, len: valueLength(rng, big) })
    }
  }
  return { items, window, checkpointIntervalMs, cacheBytes }
}

export function isWrite(item) {
  return item.t === 'put' || item.t === 'del' || item.t === 'batch' || item.t === 'bulk'
}

/** The key writes of plan item `index`: [{ key, id, len }] with id/len undefined for a delete. */
export function writesOf(gen, index, item) {
  if (item.t === 'put') return [{ key: item.k, id: writeId(gen, index, 0), len: item.len }]
  if (item.t === 'del') return [{ key: item.k, id: undefined, len: undefined }]
  if (item.t !== 'batch' && item.t !== 'bulk') return []
  return item.ops.map((op, j) => (op.t === 'put' ? { key: op.k, id: writeId(gen, index, j), len: op.len } : { key: op.k, id: undefined, len: undefined }))
}

/**
 * The store call for a write item. `onBulkEntry(j)`, if given, is called as a bulk load takes its
 * entry j (before its value is made), inside bulkLoad: a writer kills itself there to die mid-load.
 */
export function issueWrite(db, gen, index, item, onBulkEntry) {
  if (item.t === 'put') return db.put(item.k, encodeValue(gen, index, 0, 0, item.k, item.len))
  if (item.t === 'del') return db.del(item.k)
  const size = item.ops.length
  if (item.t === 'bulk') return bulkLoad(db, gen, index, item, onBulkEntry)
  return db.batch(
    item.ops.map((op, j) => (op.t === 'put' ? { type: 'put', key: op.k, value: encodeValue(gen, index, j, size, op.k, op.len) } : { type: 'del', key: op.k })),
  )
}

function bulkLoad(db, gen, index, item, onBulkEntry) {
  const { ops } = item
  const size = ops.length
  const valueOf = (j) => {
    onBulkEntry?.(j)
    return encodeValue(gen, index, j, size, ops[j].k, ops[j].len)
  }
  if (item.form === 'columns') return db.bulkLoad(Float64Array.from(ops, (op) => op.k), valueOf)
  function* entries() {
    for (let j = 0; j < size; j++) yield [ops[j].k, valueOf(j)]
  }
  return db.bulkLoad(entries())
}

// ---- running a plan -----------------------------------------------------------------------------

/**
 * Runs `plan` on an open store, keeping up to `plan.window` writes (and checkpoints) in flight.
 * `report(line)` is called with 's <i>' before a write or checkpoint is issued, 'a <i>' once a write
 * resolved, 'c <i>' once a checkpoint resolved, 'e <i> <code> <message>' when one was rejected, and
 * 'x <i> <what>' when a read returned something the writes issued so far cannot explain (a wrong
 * value), and 'r <i> <code> <message>' when a read threw. Reads are checked as they happen: every value must decode, belong to its key, and be the
 * key's last acknowledged state or a later issued one (or, for a key not written yet in this run,
 * any intact value of that key from an earlier generation).
 * Stops issuing after the first rejection when `stopOnError` (then resolves after in-flight ones
 * settle). `onIssued(i)` is called right after write or checkpoint i was issued (its promise made,
 * nothing later issued yet), `onBulkEntry(i, j)` as bulk load i takes entry j: the writer kills itself
 * there, at a moment the seed fixes. Returns { issued, firstError }.
 */
export async function executePlan(db, gen, plan, report, { stopOnError = true, from = 0, to = plan.items.length, onIssued, onBulkEntry, overlapBulk = false } = {}) {
  const reads = new ReadChecker(gen)
  const inflight = new Set()
  let firstError = null
  let issued = from
  const track = (i, promise, ackLine) => {
    const tracked = promise.then(
      () => {
        if (ackLine === 'a') reads.acked(i)
        report(`${ackLine} ${i}`)
      },
      (error) => {
        firstError ??= error
        report(`e ${i} ${error?.code ?? 'no-code'} ${String(error?.message ?? error).replace(/\n/g, ' ')}`)
      },
    )
    const done = tracked.finally(() => inflight.delete(done))
    inflight.add(done)
  }
  for (let i = from; i < to; i++) {
    if (firstError !== null && stopOnError) break
    // Let the event loop turn now and then: at 'none' every write resolves at once, and without
    // this the log would be written only after the whole plan was issued.
    if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve))
    const item = plan.items[i]
    if (item.t === 'get' || item.t === 'range') {
      try {
        const problem = reads.check(db, item)
        if (problem !== null) report(`x ${i} ${problem}`)
      } catch (error) {
        report(`r ${i} ${error?.code ?? 'no-code'} ${String(error?.message ?? error).replace(/\n/g, ' ')}`)
      }
      continue
    }
    while (inflight.size >= plan.window) await Promise.race(inflight)
    if (firstError !== null && stopOnError) break
    report(`s ${i}`)
    issued = i + 1
    if (item.t === 'checkpoint') {
      // Explicit checkpoints stay in flight with the writes (two at once, too).
      track(i, db.checkpoint(), 'c')
      onIssued?.(i)
      continue
    }
    reads.issued(i, writesOf(gen, i, item))
    let promise
    try {
      promise = issueWrite(db, gen, i, item, onBulkEntry === undefined ? undefined : (j) => onBulkEntry(i, j))
    } catch (error) {
      promise = Promise.reject(error)
    }
    track(i, promise, 'a')
    onIssued?.(i)
    // Unless `overlapBulk`, nothing is issued beside a bulk load. With it, writes are issued while
    // the load's checkpoint runs: the store holds them until the load is durable (before it did not,
    // and a kill in that checkpoint replayed them without the load: test/crash/regressions.test.ts).
    if (item.t === 'bulk' && !overlapBulk) await Promise.all(inflight)
  }
  await Promise.all(inflight)
  return { issued, firstError }
}

/** The writer's own view, for checking reads while it writes (see executePlan). */
class ReadChecker {
  constructor(gen) {
    this.gen = gen
    /** key -> [{ index, id }] of writes to it issued in this run, oldest first. */
    this.byKey = new Map()
    this.ackedIndices = new Set()
  }
  issued(index, writes) {
    for (const w of writes) {
      let list = this.byKey.get(w.key)
      if (list === undefined) this.byKey.set(w.key, (list = []))
      list.push({ index, id: w.id })
    }
  }
  acked(index) {
    this.ackedIndices.add(index)
  }
  /** Ids (undefined = absent) a read of `key` may return now; null when any earlier-run value may. */
  allowed(key) {
    const list = this.byKey.get(key)
    if (list === undefined) return null
    let from = -1
    for (let j = list.length - 1; j >= 0; j--) {
      if (this.ackedIndices.has(list[j].index)) {
        from = j
        break
      }
    }
    // Drop what no read can return any more.
    if (from > 0) {
      list.splice(0, from)
      from = 0
    }
    const ids = new Set(list.slice(Math.max(0, from)).map((w) => w.id))
    return from < 0 ? { ids, orEarlier: true } : { ids, orEarlier: false }
  }
  explain(key, value) {
    const allowed = this.allowed(key)
    if (value === undefined) {
      if (allowed === null || allowed.orEarlier || allowed.ids.has(undefined)) return null
      return `get/range: key ${key} is absent, but its acknowledged state is ${[...allowed.ids].map(describeWriteId).join(' or ')}`
    }
    const header = decodeValue(value)
    if (header === null) return `key ${key}: ${value.byteLength} bytes that are no value this suite wrote`
    if (header.key !== key || !valueMatches(value, header)) return `key ${key}: a damaged or misplaced value (its header says key ${header.key}, ${header.length} bytes)`
    const id = writeId(header.gen, header.index, header.member)
    if (header.gen > this.gen) return `key ${key}: ${describeWriteId(id)} from a later generation`
    if (allowed === null) return header.gen < this.gen ? null : `key ${key}: ${describeWriteId(id)} was never issued`
    if (allowed.ids.has(id) || (allowed.orEarlier && header.gen < this.gen)) return null
    return `key ${key}: ${describeWriteId(id)}, but the key may only hold ${[...allowed.ids].map(describeWriteId).join(' or ')}`
  }
  check(db, item) {
    if (item.t === 'get') return this.explain(item.k, db.get(item.k))
    const options = item.reverse ? { gte: item.gte, lt: item.lt, reverse: true, limit: item.limit } : { gte: item.gte, lt: item.lt, limit: item.limit }
    let last
    let count = 0
    for (const [key, value] of db.range(options)) {
      if (key < item.gte || key >= item.lt) return `range [${item.gte}, ${item.lt}) returned key ${key}`
      if (last !== undefined && (item.reverse ? key >= last : key <= last)) return `range returned key ${key} after ${last}`
      last = key
      count++
      const problem = this.explain(key, value)
      if (problem !== null) return `range: ${problem}`
    }
    if (count > item.limit) return `range returned ${count} entries, limit ${item.limit}`
    return null
  }
}
