// The crafted-file fuzzer (issue 16): real stores and logs with one on-disk field changed to an edge
// or random value and its checksum re-sealed, so that the damage reaches the parsers instead of
// stopping at a checksum. Types: fuzz.d.mts. CLI: `node test/crash/fuzz.mjs --trials N --seed S`.
//
// Every trial opens the damaged copy read-only, then read-write (and, if that succeeds, closes it and
// opens it read-only once more), in a long-lived child process, and classifies each open:
//   - right:      every entry equals the model (range() and get());
//   - corruption: a StoreError CORRUPTION whose message names the damaged file;
//   - version:    FORMAT_VERSION (only right for a meta page that claims a newer format);
//   - older:      the store opened to an earlier state (allowed only where the format cannot tell
//                 the change from a crash: the last log record, or a redo LSN past the log's end,
//                 where the engine must keep the log's bytes);
//   - anything else (a wrong value, an untyped error, another code, a hang past 2 s, more than
//     64 MiB allocated in one array or RSS growth over 64 MiB, or a file changed by a failed open or
//     by a read-only open) is a failure, reported with seed, trial, field and value.
//
// The layouts are read here from docs/FORMAT.md and docs/WAL.md, not from the engine; checksums are
// computed with the `crc-32` package.

import { fork } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import CRC32 from 'crc-32'
import { loadEngine } from './driver.mjs'
import { Rng } from './workload.mjs'

const HERE = fileURLToPath(import.meta.url)
/** Limits a trial must keep (issue 16). */
export const OPEN_TIME_LIMIT_MS = 2000
export const MEMORY_LIMIT_BYTES = 64 << 20

// ---- docs/FORMAT.md and docs/WAL.md -------------------------------------------------------------

const PAGE = { MAGIC: 0x4750534c, TYPE: 4, VERSION: 5, ID: 8, CHECKSUM: 12 }
const TYPE = { META: 1, DATA: 2, OVERFLOW: 3, FREE_LIST: 4, MODEL: 5, VALUE: 6, PAGE_MAP: 7 }
const META = { VERSION: 36, PAGE_SIZE: 40, PAGE_COUNT: 44, GENERATION: 48, RECORDS: 56, TREE_HEAD: 64, FREE_HEAD: 68, TREE_BYTES: 72, FREE_ENTRIES: 80, REDO_LSN: 88, MAP_HEAD: 96, MAP_ENTRIES: 104 }
const STORE_FORMAT_VERSION = 6
const CHAIN = { NEXT: 32, PAYLOAD_BYTES: 36, PAYLOAD: 40 }
const LEAF = { CAPACITY: 64, NUM_KEYS: 68, BITMAP: 136 }
const VALUE = { END: 32, RECORDS: 36, FIRST: 40 }
const WAL_BLOCK = 32 * 1024
const FRAG = { CRC: 0, LENGTH: 4, FRAG_TYPE: 8, REC_TYPE: 9, REC_BYTES: 12, LSN: 16, GROUP_LSN: 24, PAYLOAD: 32 }

function u32(n) {
  return n >>> 0
}

/** CRC-32 of a page with its checksum field taken as zero (FORMAT.md, page header). */
export function pageChecksum(page) {
  let crc = CRC32.buf(page.subarray(0, PAGE.CHECKSUM))
  crc = CRC32.buf(new Uint8Array(4), crc)
  return u32(CRC32.buf(page.subarray(PAGE.CHECKSUM + 4), crc))
}

/** A value record's check: CRC-32 of (page id, offset, word) as u32s, then the payload. */
// ---- stores to damage ---------------------------------------------------------------------------

/**
 * The shapes: small pages with splits, overwrites and deletes (free-list entries), overflow values,
 * two checkpoints (both meta pages valid) and a log of several segments after the last one; and a
 * bulk-loaded store at 16 KiB pages with a short log.
 */
export const SHAPES = [
  { name: 'small-pages', pageSizeBytes: 4096, bulk: 0, before: 700, after: 260, overflowEvery: 23 },
  { name: 'bulk-16k', pageSizeBytes: 16384, bulk: 3000, before: 60, after: 90, overflowEvery: 31 },
]

function valueFor(rng, overflow) {
  const length = overflow ? 1100 + rng.int(9000) : rng.int(4) === 0 ? 130 + rng.int(300) : rng.int(90)
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = rng.int(256)
  return bytes
}

/**
 * Builds shape `shape` in `dir`: writes through the engine at durability 'os' (a resolved write is in
 * the files), copies the files while the store is still open (a crash image, with a log after the
 * last checkpoint), and returns the model: every write in order with the LSN of its log record (null
 * for the bulk load, which is not logged) and the checkpoint's redo LSN.
 */
async function buildShape(root, shape, seed) {
  const { open } = await loadEngine()
  const live = path.join(root, `${shape.name}-live`)
  const image = path.join(root, `${shape.name}-image`)
  fs.rmSync(live, { recursive: true, force: true })
  fs.rmSync(image, { recursive: true, force: true })
  const rng = new Rng(seed)
  const options = { pageSizeBytes: shape.pageSizeBytes, walSegmentBytes: 65536, checkpointWalBytes: 64 << 20, checkpointIntervalMs: 3_600_000, cacheBytes: 16 * shape.pageSizeBytes, durability: 'os' }
  const db = await open(live, options)
  const writes = []
  const keys = []
  let lsn = 0
  if (shape.bulk > 0) {
    const entries = []
    for (let i = 0; i < shape.bulk; i++) {
      const key = i * 7 + rng.int(7) / 8
      entries.push([key, valueFor(rng, i % shape.overflowEvery === 5)])
      keys.push(key)
    }
    await db.bulkLoad(entries)
    writes.push({ lsn: null, ops: entries.map(([k, v]) => [k, v]) })
  }
  let n = 0
  const one = async () => {
    const kind = rng.int(10)
    let ops
    if (kind === 0 && keys.length > 0) ops = [[keys[rng.int(keys.length)], null]]
    else if (kind === 1) {
      ops = []
      for (let i = rng.int(5) + 2; i > 0; i--) ops.push([rng.int(100000) / 4, valueFor(rng, false)])
    } else {
      const key = keys.length > 0 && kind < 4 ? keys[rng.int(keys.length)] : rng.int(100000) / 4
      ops = [[key, valueFor(rng, n % shape.overflowEvery === 0)]]
    }
    n++
    for (const [key, value] of ops) if (value !== null) keys.push(key)
    if (ops.length === 1) {
      const [key, value] = ops[0]
      await (value === null ? db.del(key) : db.put(key, value))
    } else {
      await db.batch(ops.map(([key, value]) => (value === null ? { type: 'del', key } : { type: 'put', key, value })))
    }
    writes.push({ lsn: ++lsn, ops })
  }
  for (let i = 0; i < shape.before; i++) {
    await one()
    if (i === Math.floor(shape.before / 2)) await db.checkpoint()
  }
  await db.checkpoint()
  const redoLsn = lsn + 1
  for (let i = 0; i < shape.after; i++) await one()
  fs.cpSync(live, image, { recursive: true })
  await db.close()
  fs.rmSync(live, { recursive: true, force: true })
  return { name: shape.name, dir: image, pageSizeBytes: shape.pageSizeBytes, redoLsn, lastLsn: lsn, writes: writes.map((w) => ({ lsn: w.lsn, ops: w.ops.map(([k, v]) => [k, v === null ? null : Buffer.from(v).toString('base64')]) })) }
}

// ---- the fields -----------------------------------------------------------------------------------

/**
 * Every field the fuzzer may change in a store image: { file, offset, width, name, reseal, context }.
 * `reseal` says which checksum covers it: { page: byte offset of the page } or { fragment: offset,
 * length } or { record: page offset, page id, record offset } (then the page too).
 */
export function catalogFields(model) {
  const fields = []
  const dataPath = 'data.lsp'
  const data = fs.readFileSync(path.join(model.dir, dataPath))
  const size = model.pageSizeBytes
  const metas = [0, 1].map((p) => ({ p, generation: data.readDoubleLE(p * size + META.GENERATION) }))
  const newest = metas[0].generation > metas[1].generation ? metas[0] : metas[1]
  const pageCount = data.readUInt32LE(newest.p * size + META.PAGE_COUNT)
  const add = (name, offset, width, reseal, extra = {}) => fields.push({ file: dataPath, name, offset, width, reseal, ...extra })
  for (let p = 0; p < pageCount; p++) {
    const at = p * size
    if (data.readUInt32LE(at) !== PAGE.MAGIC || pageChecksum(data.subarray(at, at + size)) !== data.readUInt32LE(at + PAGE.CHECKSUM)) continue
    const type = data[at + PAGE.TYPE]
    const page = { page: at }
    add('page.type', at + PAGE.TYPE, 'u8', page, { pageType: type })
    add('page.version', at + PAGE.VERSION, 'u8', page, { pageType: type })
    add('page.id', at + PAGE.ID, 'u32', page, { pageType: type })
    if (type === TYPE.META) {
      const which = p === newest.p ? 'newest' : 'older'
      for (const [field, offset] of Object.entries(META)) {
        const width = ['GENERATION', 'RECORDS', 'TREE_BYTES', 'FREE_ENTRIES', 'REDO_LSN', 'MAP_ENTRIES'].includes(field) ? 'f64' : 'u32'
        add(`meta.${which}.${field}`, at + offset, width, page, { meta: which })
      }
    } else if (type === TYPE.MODEL || type === TYPE.FREE_LIST || type === TYPE.PAGE_MAP) {
      const kind = type === TYPE.MODEL ? 'tree' : type === TYPE.FREE_LIST ? 'freelist' : 'pagemap'
      add(`${kind}.NEXT`, at + CHAIN.NEXT, 'u32', page)
      add(`${kind}.PAYLOAD_BYTES`, at + CHAIN.PAYLOAD_BYTES, 'u32', page)
      const payload = data.readUInt32LE(at + CHAIN.PAYLOAD_BYTES)
      if (kind === 'freelist' && payload >= 4) add('freelist.entry', at + CHAIN.PAYLOAD + 4 * ((payload >> 2) - 1), 'u32', page)
      if (kind === 'pagemap') {
        // A few entries that count live records (value pages) and one that is zero.
        let picked = 0
        for (let e = 0; 4 * e + 4 <= payload && picked < 4; e++) {
          const entry = data.readUInt32LE(at + CHAIN.PAYLOAD + 4 * e)
          if (entry !== 0 || picked === 0) {
            add('pagemap.entry', at + CHAIN.PAYLOAD + 4 * e, 'u32', page)
            picked++
          }
        }
      }
      if (kind === 'tree') {
        // The stream's header, if this is the first page (key count, model nodes, leaves), and its
        // records: FORMAT.md, tree image.
        const base = at + CHAIN.PAYLOAD
        const isFirst = [0, 1].some((m) => data.readUInt32LE(m * size + META.TREE_HEAD) === p)
        if (isFirst && payload >= 56) {
          add('tree.keyCount', base, 'f64', page)
          add('tree.modelNodes', base + 8, 'u32', page)
          add('tree.leaves', base + 12, 'u32', page)
          add('tree.state', base + 16 + 8 * 4, 'f64', page)
          let r = 56
          while (r + 8 <= payload) {
            const tag = data[base + r]
            if (tag === 1 && r + 48 <= payload) {
              add('tree.model.dupLog2', base + r + 1, 'u8', page)
              add('tree.model.fanoutLog2', base + r + 2, 'u8', page)
              add('tree.model.tag', base + r, 'u8', page)
              r += 48
            } else if (tag === 2 && r + 112 <= payload) {
              // A leaf record: tag, dupLog2, id, then the leaf's header as its page holds it at @32.
              add('tree.leaf.dupLog2', base + r + 1, 'u8', page)
              add('tree.leaf.id', base + r + 4, 'u32', page)
              add('tree.leaf.tag', base + r, 'u8', page)
              add('tree.leaf.m1', base + r + 8, 'f64', page)
              add('tree.leaf.capacity', base + r + 8 + (LEAF.CAPACITY - 32), 'u32', page)
              add('tree.leaf.numKeys', base + r + 8 + (LEAF.NUM_KEYS - 32), 'u32', page)
              r += 112
            } else break
          }
        }
      }
    } else if (type === TYPE.DATA) {
      const capacity = data.readUInt32LE(at + LEAF.CAPACITY)
      add('leaf.capacity', at + LEAF.CAPACITY, 'u32', page)
      add('leaf.numKeys', at + LEAF.NUM_KEYS, 'u32', page)
      add('leaf.bitmap', at + LEAF.BITMAP, 'u32', page)
      const words = (capacity + 31) >>> 5
      const k = (LEAF.BITMAP + 4 * words + 7) & ~7
      const slots = at + k + 8 * capacity
      for (let s = 0; s < capacity && s < 4000; s++) {
        // A value slot is an f64 handle (page id * 2^21 + record ref), 0 in a gap.
        if (data.readDoubleLE(slots + 8 * s) === 0) continue
        if (fields.filter((f) => f.name === 'leaf.slot.handle' && f.page === p).length >= 3) break
        add('leaf.slot.handle', slots + 8 * s, 'f64', page, { page: p })
      }
    } else if (type === TYPE.VALUE) {
      add('value.END', at + VALUE.END, 'u32', page)
      add('value.RECORDS', at + VALUE.RECORDS, 'u32', page)
      const end = data.readUInt32LE(at + VALUE.END)
      let r = VALUE.FIRST
      let i = 0
      while (r + 5 <= end && r < size && i < 40) {
        const form = data[at + r]
        const long = form >= 0x80
        const length = long ? data.readUIntLE(at + r + 1, 3) : form
        const record = { page: at, pageId: p, recordAt: r }
        if (i % 7 === 0 || form === 0x81) {
          if (long) add('value.record.length', at + r + 1, 'u24', record)
          else add('value.record.shortLength', at + r, 'u8', record)
          add('value.record.form', at + r, 'u8', record)
        }
        if (form === 0x81) {
          add('value.stub.firstPage', at + r + 8, 'u32', record)
          add('value.stub.pageCount', at + r + 12, 'u32', record)
          add('value.stub.valueBytes', at + r + 16, 'u32', record)
        }
        r += (long ? 8 : 5) + length
        i++
      }
    } else if (type === TYPE.OVERFLOW) {
      // Only the header: the bytes are the value's.
    }
  }
  // The log.
  const walDir = path.join(model.dir, 'wal')
  const names = fs.existsSync(walDir) ? fs.readdirSync(walDir).filter((n) => /^[0-9a-f]{16}\.wal$/.test(n)).sort() : []
  for (const name of names) {
    const file = `wal/${name}`
    const seg = fs.readFileSync(path.join(walDir, name))
    let pos = 0
    while (pos + 32 <= seg.length) {
      const left = WAL_BLOCK - (pos % WAL_BLOCK)
      if (left < 32) {
        pos += left
        continue
      }
      const length = seg.readUInt32LE(pos + FRAG.LENGTH)
      const fragType = seg[pos + FRAG.FRAG_TYPE]
      if (fragType < 1 || fragType > 4 || pos + 32 + length > seg.length || (length === 0 && seg.readUInt32LE(pos) === 0)) break
      const lsn = seg.readDoubleLE(pos + FRAG.LSN)
      const reseal = { fragment: pos, length }
      const ctx = { lsn, last: lsn === model.lastLsn }
      const addW = (fname, offset, width) => fields.push({ file, name: fname, offset, width, reseal, ...ctx })
      addW('wal.LENGTH', pos + FRAG.LENGTH, 'u32')
      addW('wal.FRAG_TYPE', pos + FRAG.FRAG_TYPE, 'u8')
      addW('wal.REC_TYPE', pos + FRAG.REC_TYPE, 'u8')
      addW('wal.REC_BYTES', pos + FRAG.REC_BYTES, 'u32')
      addW('wal.LSN', pos + FRAG.LSN, 'f64')
      addW('wal.GROUP_LSN', pos + FRAG.GROUP_LSN, 'f64')
      if (fragType === 1) {
        // BATCH payload (WAL.md): op count, then kind, key, value length per op.
        const p0 = pos + 32
        addW('batch.count', p0, 'u32')
        if (length >= 13) addW('batch.kind', p0 + 4, 'u8')
        if (length >= 17 && seg[p0 + 4] === 1) addW('batch.valueLength', p0 + 13, 'u32')
      }
      pos += 32 + length
    }
  }
  return fields
}

// ---- values ---------------------------------------------------------------------------------------

function readField(bytes, offset, width) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  switch (width) {
    case 'u8': return b[offset]
    case 'u24': return b.readUIntLE(offset, 3)
    case 'u32': return b.readUInt32LE(offset)
    default: return b.readDoubleLE(offset)
  }
}

function writeField(bytes, offset, width, value) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  switch (width) {
    case 'u8': b[offset] = value & 0xff; break
    case 'u24': b.writeUIntLE(value & 0xffffff, offset, 3); break
    case 'u32': b.writeUInt32LE(u32(value), offset); break
    default: b.writeDoubleLE(value, offset)
  }
}

/** An edge value (0, 1, -1, max, 2^53, NaN, +-1 of the true value, past the end) or a random one. */
function pickValue(rng, field, truth, pageCount) {
  const int = field.width !== 'f64'
  const max = field.width === 'u8' ? 0xff : field.width === 'u24' ? 0xffffff : 0xffffffff
  const edges = int
    ? [0, 1, max, max - 1, 0x7fffffff, 0x80000000, truth + 1, truth - 1, truth * 2, pageCount, pageCount + 1, pageCount + 1000, 2, 0xfffffffe]
    : [0, 1, -1, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 - 1, 2 ** 60, 1e300, 0.5, -0, truth + 1, truth - 1, truth * 4096, 2 ** 31]
  let value
  if (rng.int(3) > 0) value = edges[rng.int(edges.length)]
  else if (int) value = rng.int(4) === 0 ? rng.int(max + 1) : Math.max(0, truth + rng.int(64) - 32)
  else value = rng.int(2) === 0 ? rng.int(2 ** 31) : truth + rng.int(200) - 100
  if (int) value = ((value % (max + 1)) + (max + 1)) % (max + 1)
  return value
}

/**
 * Values a reader cannot tell from the truth, so the fuzzer does not try them: another generation
 * of the same parity (a meta page is still one plausible checkpoint), a redo LSN inside the log, a
 * LSN or group LSN lowered within its group.
 */
function plausible(field, truth, value, model) {
  if (/^meta\.\w+\.GENERATION$/.test(field.name)) return Number.isSafeInteger(value) && value >= 1 && value % 2 === truth % 2 && Math.abs(value - truth) <= 4
  if (/^meta\.\w+\.REDO_LSN$/.test(field.name)) return Number.isSafeInteger(value) && value > truth && value <= model.lastLsn + 1
  if (field.name === 'wal.GROUP_LSN') return Number.isSafeInteger(value) && value >= 1 && value <= field.lsn
  if (field.name === 'tree.state') return Number.isSafeInteger(value) && value >= 0
  return false
}

// ---- the parent -----------------------------------------------------------------------------------

function hashDir(dir) {
  const out = {}
  const walk = (d, rel) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(d, entry.name)
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) {
        out[name + '/'] = 'dir'
        walk(full, name)
      } else out[name] = crypto.createHash('sha1').update(fs.readFileSync(full)).digest('hex')
    }
  }
  walk(dir, '')
  return out
}

function copyImage(from, to) {
  fs.rmSync(to, { recursive: true, force: true })
  fs.cpSync(from, to, { recursive: true })
}

/** Applies `field := value` to the store at `dir` and re-seals the checksum that covers it. */
function applyDamage(dir, field, value) {
  const file = path.join(dir, field.file)
  const bytes = fs.readFileSync(file)
  writeField(bytes, field.offset, field.width, value)
  const r = field.reseal
  if (r.fragment !== undefined) {
    const length = bytes.readUInt32LE(r.fragment + FRAG.LENGTH)
    // A length changed past the file or the block cannot be sealed as it claims; seal what was there.
    const sealed = r.fragment + 32 + length <= bytes.length && length <= WAL_BLOCK - (r.fragment % WAL_BLOCK) - 32 ? length : r.length
    bytes.writeUInt32LE(u32(CRC32.buf(bytes.subarray(r.fragment + 4, r.fragment + 32 + sealed))), r.fragment)
  } else {
    const size = fileSizeOfPage(dir)
    // A value record's own check is not re-sealed: it is the value's checksum, and sealing it over
    // a changed length or stub would be writing another value, which no format can tell.
    bytes.writeUInt32LE(pageChecksum(bytes.subarray(r.page, r.page + size)), r.page + PAGE.CHECKSUM)
  }
  fs.writeFileSync(file, bytes)
}

let pageSizeOf = new Map()
function fileSizeOfPage(dir) {
  return pageSizeOf.get(dir)
}

class Child {
  constructor(models, dist) {
    this.models = models
    this.dist = dist
    this.start()
  }

  start() {
    const env = { ...process.env }
    this.proc = fork(HERE, ['--child'], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: ['--max-old-space-size=512'] })
    this.stderr = ''
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000)
    })
    this.proc.send({ models: this.models })
  }

  run(trial, timeoutMs) {
    return new Promise((resolve) => {
      const proc = this.proc
      let done = false
      const finish = (result) => {
        if (done) return
        done = true
        clearTimeout(timer)
        proc.off('message', onMessage)
        proc.off('exit', onExit)
        resolve(result)
      }
      const onMessage = (message) => finish(message)
      const onExit = (code, signal) => finish({ crashed: `child exited (${code ?? signal}): ${this.stderr.slice(-600)}` })
      const timer = setTimeout(() => {
        finish({ hang: true })
        proc.kill('SIGKILL')
      }, timeoutMs)
      proc.on('message', onMessage)
      proc.on('exit', onExit)
      proc.send(trial)
    }).then((result) => {
      if (result.hang || result.crashed) this.start()
      return result
    })
  }

  stop() {
    this.proc.kill('SIGKILL')
  }
}

/**
 * Runs `trials` trials from `seed` in `root` (stores are built there first). Returns the figures;
 * `failures` holds a reproducible description of each failed trial.
 */
export async function fuzzTrials({ root, seed = 1, trials = 100, from = 0, jobs = 1, onTrial } = {}) {
  fs.mkdirSync(root, { recursive: true })
  const models = []
  for (let i = 0; i < SHAPES.length; i++) models.push(await buildShape(root, SHAPES[i], seed * 31 + i))
  for (const model of models) pageSizeOf.set(model.dir, model.pageSizeBytes)
  const catalog = models.map((model) => {
    const fields = catalogFields(model)
    const byName = new Map()
    for (const f of fields) (byName.get(f.name) ?? byName.set(f.name, []).get(f.name)).push(f)
    return { model, names: [...byName.keys()].sort(), byName }
  })
  const figures = { trials: 0, rightData: 0, corruption: 0, version: 0, older: 0, handleMoved: 0, hangs: 0, untyped: 0, otherCode: 0, unnamed: 0, wrongValues: 0, changedFiles: 0, memoryOverLimit: 0, slow: 0, failures: [], byField: {}, ms: 0 }
  const started = performance.now()
  // `jobs` loops, each with its own child and copy, take every jobs-th trial: a trial's choices come
  // from (seed, t) alone, so the figures do not depend on how many ran at once.
  const loop = async (job) => {
    const child = new Child(models, process.env.LEARNED_STORAGE_CRASH_DIST)
    const work = path.join(root, `trial-${job}`)
    try {
      await runTrials(child, work, job)
    } finally {
      child.stop()
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
  const runTrials = async (child, work, job) => {
    for (let t = from + job; t < from + trials; t += jobs) {
      const rng = new Rng((seed * 1_000_003 + t) >>> 0)
      const shape = catalog[rng.int(catalog.length)]
      const name = shape.names[rng.int(shape.names.length)]
      const list = shape.byName.get(name)
      const field = list[rng.int(list.length)]
      const pristine = fs.readFileSync(path.join(shape.model.dir, field.file))
      const truth = readField(pristine, field.offset, field.width)
      const pageCount = readPageCount(shape.model)
      let value = truth
      for (let tries = 0; tries < 20 && (Object.is(value, truth) || plausible(field, truth, value, shape.model)); tries++) value = pickValue(rng, field, truth, pageCount)
      if (Object.is(value, truth) || plausible(field, truth, value, shape.model)) continue
      copyImage(shape.model.dir, work)
      pageSizeOf.set(work, shape.model.pageSizeBytes)
      applyDamage(work, field, value)
      const description = { seed, trial: t, shape: shape.model.name, field: field.name, file: field.file, offset: field.offset, truth, value: Object.is(value, -0) ? '-0' : String(value) }
      const result = await child.run({ dir: work, shape: shape.model.name, before: hashDir(work), file: field.file, redoField: /REDO_LSN$/.test(field.name) }, 3 * OPEN_TIME_LIMIT_MS + 2000)
      const verdict = judge(result, field, truth, value, shape.model)
      figures.trials++
      const slot = (figures.byField[field.name] ??= { trials: 0, failed: 0, outcomes: {} })
      slot.trials++
      for (const outcome of verdict.outcomes) {
        slot.outcomes[outcome] = (slot.outcomes[outcome] ?? 0) + 1
        if (outcome in figures && typeof figures[outcome] === 'number') figures[outcome]++
      }
      if (verdict.failures.length > 0) {
        slot.failed++
        figures.failures.push({ ...description, problems: verdict.failures })
      }
      onTrial?.({ ...description, outcomes: verdict.outcomes, problems: verdict.failures })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, (_, job) => loop(job)))
  figures.ms = performance.now() - started
  return figures
}

function readPageCount(model) {
  const data = fs.readFileSync(path.join(model.dir, 'data.lsp'))
  const size = model.pageSizeBytes
  const g0 = data.readDoubleLE(META.GENERATION)
  const g1 = data.readDoubleLE(size + META.GENERATION)
  return data.readUInt32LE((g0 > g1 ? 0 : size) + META.PAGE_COUNT)
}

/** The outcome names of one trial's result and what failed. */
function judge(result, field, truth, value, model) {
  const outcomes = []
  const failures = []
  if (result.hang) return { outcomes: ['hangs'], failures: ['hang: no answer within the time limit'] }
  if (result.crashed) return { outcomes: ['untyped'], failures: [result.crashed] }
  const newerVersion = (field.name.endsWith('.VERSION') && field.name.startsWith('meta.') && value > STORE_FORMAT_VERSION) || (field.name === 'page.version' && field.pageType === TYPE.META && value > 1)
  // Changes that a crash could also make: the last log record lost (a torn tail), or a checkpoint
  // ahead of its log (power loss at 'os'/'none', or a redo LSN past the log's end: the log is kept).
  const olderAllowed = (field.file.startsWith('wal/') && field.last) || (/REDO_LSN$/.test(field.name) && value > model.lastLsn + 1 && field.meta === 'newest')
  for (const open of result.opens) {
    if (open.bigAllocation) {
      outcomes.push('memoryOverLimit')
      failures.push(`${open.mode}: allocated ${open.bigAllocation} bytes at once`)
    }
    if (open.rssGrowth > MEMORY_LIMIT_BYTES) {
      outcomes.push('memoryOverLimit')
      failures.push(`${open.mode}: RSS grew ${open.rssGrowth} bytes`)
    }
    if (open.ms > OPEN_TIME_LIMIT_MS) {
      outcomes.push('slow')
      failures.push(`${open.mode}: took ${Math.round(open.ms)} ms`)
    }
    if (open.changed !== null) {
      outcomes.push('changedFiles')
      failures.push(`${open.mode}: ${open.changed}`)
    }
    if (open.error !== null) {
      const { code, message } = open.error
      if (code === undefined) {
        outcomes.push('untyped')
        failures.push(`${open.mode}: untyped ${message}`)
      } else if (code === 'FORMAT_VERSION') {
        outcomes.push('version')
        if (!newerVersion) failures.push(`${open.mode}: FORMAT_VERSION for a field that is no newer version: ${message}`)
      } else if (code === 'CORRUPTION') {
        outcomes.push('corruption')
        if (newerVersion) failures.push(`${open.mode}: CORRUPTION for a newer format version (must be FORMAT_VERSION): ${message}`)
        if (!message.includes(field.file.startsWith('wal/') ? 'wal' : 'data.lsp')) {
          outcomes.push('unnamed')
          failures.push(`${open.mode}: CORRUPTION does not name ${field.file}: ${message}`)
        }
      } else {
        outcomes.push('otherCode')
        failures.push(`${open.mode}: ${code}: ${message}`)
      }
      continue
    }
    if (open.state === 'right') {
      outcomes.push('rightData')
      if (newerVersion) failures.push(`${open.mode}: opened a store whose meta page claims a newer format version`)
    } else if (open.state === 'older') {
      outcomes.push('older')
      if (!olderAllowed) failures.push(`${open.mode}: opened an older state (after ${open.writes} of ${model.writes.length} writes)`)
      else if (open.logKept === false) failures.push(`${open.mode}: opened an older state and did not keep the log`)
    } else if (field.name.startsWith('leaf.slot.') && open.state.startsWith('0 entries')) {
      // A value handle moved onto another intact record: records do not carry their key, so no
      // reader can tell (docs/FORMAT.md, downsides). Counted, not failed.
      outcomes.push('handleMoved')
    } else {
      outcomes.push('wrongValues')
      failures.push(`${open.mode}: wrong data: ${open.state}`)
    }
  }
  return { outcomes, failures }
}

// ---- the child ------------------------------------------------------------------------------------

/**
 * Counts typed arrays and ArrayBuffers allocated at MEMORY_LIMIT_BYTES or more: subclasses of the
 * global constructors replace them (the engine looks them up at call time), so an allocation sized
 * by a crafted field is seen even when it is freed again at once.
 */
function watchAllocations() {
  const watch = { biggest: 0 }
  const note = (bytes) => {
    if (typeof bytes === 'number' && bytes >= MEMORY_LIMIT_BYTES && bytes > watch.biggest) watch.biggest = bytes
  }
  for (const name of ['Uint8Array', 'Uint16Array', 'Uint32Array', 'Int32Array', 'Float64Array', 'BigUint64Array', 'ArrayBuffer']) {
    const Original = globalThis[name]
    const per = Original.BYTES_PER_ELEMENT ?? 1
    const Watched = class extends Original {
      constructor(...args) {
        if (typeof args[0] === 'number') note(args[0] * per)
        super(...args)
      }
      static [Symbol.hasInstance](x) {
        return x instanceof Original
      }
    }
    Object.defineProperty(Watched, 'name', { value: name })
    globalThis[name] = Watched
  }
  const OriginalArray = Array
  globalThis.Array = new Proxy(OriginalArray, {
    construct(target, args) {
      if (args.length === 1 && typeof args[0] === 'number') note(args[0] * 8)
      return Reflect.construct(target, args)
    },
    apply(target, self, args) {
      if (args.length === 1 && typeof args[0] === 'number') note(args[0] * 8)
      return Reflect.apply(target, self, args)
    },
  })
  return watch
}

function stateOf(db) {
  const state = new Map()
  let previous = -Infinity
  for (const [key, value] of db.range()) {
    if (!(key > previous)) throw new Error(`range() returned key ${key} after ${previous}`)
    previous = key
    state.set(key, Buffer.from(value))
  }
  for (const [key, value] of state) {
    const got = db.get(key)
    if (got === undefined || !value.equals(Buffer.from(got))) throw new Error(`get(${key}) disagrees with range()`)
  }
  return state
}

/** 'right', 'older' (equal to the model after some earlier write) or a description of the difference. */
function compare(state, history, finalModel) {
  let differs = state.size !== finalModel.size
  if (!differs) for (const [key, value] of finalModel) if (!state.get(key)?.equals(value)) differs = true
  if (!differs) return { state: 'right' }
  // Is it the model after some earlier write? Walk the history keeping the number of keys whose
  // model value differs from the state's.
  const model = new Map()
  let diff = state.size
  const same = (key) => {
    const a = model.get(key)
    const b = state.get(key)
    return a === undefined ? b === undefined : b !== undefined && a.equals(b)
  }
  for (let i = 0; i < history.length; i++) {
    for (const [key, value] of history[i]) {
      const before = same(key)
      if (value === null) model.delete(key)
      else model.set(key, value)
      diff += (before ? 1 : 0) - (same(key) ? 1 : 0)
    }
    if (diff === 0 && i + 1 < history.length) return { state: 'older', writes: i + 1 }
  }
  let example = ''
  for (const [key, value] of finalModel) {
    const got = state.get(key)
    if (got === undefined || !got.equals(value)) {
      example = `key ${key}: ${got === undefined ? 'missing' : `${got.length} bytes, expected ${value.length}`}`
      break
    }
  }
  if (example === '') for (const key of state.keys()) if (!finalModel.has(key)) example = `key ${key} present, never written or deleted`
  return { state: `${Math.abs(state.size - finalModel.size)} entries more or fewer; ${example}` }
}

function diffHashes(before, after) {
  const names = new Set([...Object.keys(before), ...Object.keys(after)])
  const changed = []
  for (const name of names) if (before[name] !== after[name]) changed.push(`${name} ${before[name] === undefined ? 'created' : after[name] === undefined ? 'removed' : 'changed'}`)
  return changed.length === 0 ? null : changed.join(', ')
}

/** Every segment's bytes of `before` are still in the directory (under wal/ or set aside). */
function logKept(before, after) {
  const present = new Set(Object.values(after))
  return Object.entries(before).every(([name, hash]) => !name.startsWith('wal/') || name.endsWith('/') || present.has(hash))
}

async function childMain() {
  const watch = watchAllocations()
  const { open } = await loadEngine()
  let shapes = null
  const errorOf = (e) => ({ code: e?.code, message: String(e?.message ?? e).slice(0, 400), untyped: !(e instanceof Error) || e.code === undefined })
  process.on('message', async (message) => {
    if (message.models !== undefined) {
      shapes = new Map()
      for (const model of message.models) {
        const history = model.writes.map((w) => w.ops.map(([k, v]) => [k, v === null ? null : Buffer.from(v, 'base64')]))
        const finalModel = new Map()
        for (const ops of history) for (const [k, v] of ops) (v === null ? finalModel.delete(k) : finalModel.set(k, v))
        shapes.set(model.name, { history, finalModel, pageSizeBytes: model.pageSizeBytes })
      }
      return
    }
    const { dir, shape, before } = message
    const { history, finalModel } = shapes.get(shape)
    const opens = []
    const attempt = async (mode) => {
      const rss = process.memoryUsage.rss()
      watch.biggest = 0
      const started = performance.now()
      const entry = { mode, error: null, state: null, ms: 0, rssGrowth: 0, bigAllocation: 0, changed: null, logKept: null }
      const hashes = mode === 'read-only' ? before : hashDir(dir)
      let db = null
      try {
        db = await open(dir, mode === 'read-write' ? { durability: 'none', cacheBytes: 16 * shapes.get(shape).pageSizeBytes } : { readOnly: true })
        const result = compare(stateOf(db), history, finalModel)
        entry.state = result.state
        if (result.writes !== undefined) entry.writes = result.writes
        await db.check()
      } catch (e) {
        entry.error = errorOf(e)
      }
      entry.ms = performance.now() - started
      const opened = db !== null
      if (db !== null) {
        try {
          await db.close()
        } catch (e) {
          entry.error ??= errorOf(e)
        }
      }
      entry.rssGrowth = process.memoryUsage.rss() - rss
      entry.bigAllocation = watch.biggest
      const after = hashDir(dir)
      if (mode !== 'read-write' || !opened) entry.changed = diffHashes(hashes, after)
      if (entry.state === 'older' && message.redoField) entry.logKept = logKept(before, after)
      opens.push(entry)
      return entry
    }
    const ro = await attempt('read-only')
    const rw = await attempt('read-write')
    if (rw.error === null) await attempt('reopen')
    void ro
    process.send({ opens })
  })
}

// ---- CLI ------------------------------------------------------------------------------------------

function argument(name, fallback) {
  const at = process.argv.indexOf(name)
  return at >= 0 ? process.argv[at + 1] : fallback
}

if (process.argv[1] === HERE) {
  if (process.argv.includes('--child')) {
    await childMain()
  } else {
    const trials = Number(argument('--trials', '1000'))
    const seed = Number(argument('--seed', String(Date.now() % 1_000_000)))
    // --from T with --trials 1 repeats trial T of a run (each trial's choices come from seed and T).
    const from = Number(argument('--from', '0'))
    const jobs = Number(argument('--jobs', '1'))
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-fuzz-'))
    let last = performance.now()
    const figures = await fuzzTrials({
      root,
      seed,
      trials,
      from,
      jobs,
      onTrial: (t) => {
        if (t.problems.length > 0) console.log(`FAIL seed ${t.seed} trial ${t.trial} ${t.shape} ${t.field} @${t.file}+${t.offset} ${t.truth} -> ${t.value}: ${t.problems.join(' | ')}`)
        if (performance.now() - last > 10_000) {
          last = performance.now()
          console.error(`... trial ${t.trial + 1} of ${trials}`)
        }
      },
    })
    fs.rmSync(root, { recursive: true, force: true })
    const { failures, byField, ...rest } = figures
    console.log(JSON.stringify({ seed, ...rest, trialsPerSecond: +(figures.trials / (figures.ms / 1000)).toFixed(1), failed: failures.length }, null, 1))
    const failing = Object.entries(byField).filter(([, s]) => s.failed > 0).map(([name, s]) => `${name} ${s.failed}/${s.trials}`)
    if (failing.length > 0) console.log(`failing fields: ${failing.join(', ')}`)
    process.exit(failures.length > 0 ? 1 : 0)
  }
}
