// Corruption trials: damage a copy of a crashed store (flip bytes in a WAL segment or a page,
// truncate a file, delete a segment), reopen it and classify what happened. Types: corrupt.d.mts.
//
// What must happen: `open`, `check()` or a read fails with CORRUPTION naming the damaged file, or the
// data comes back right. "Right" is exact (the state verified before the damage), except where the
// format cannot tell damage from a crash: a flip inside the log's last write group, a cut through
// the last segment, or the last segment deleted look like a torn tail, and the store may then drop
// the records from that group (or cut) on, but nothing before it. A wrong value is never right.
//
// The WAL and meta-page layouts are read here from docs/WAL.md and docs/FORMAT.md, not from the
// engine, to map a damaged byte to the records it belongs to.

import fs from 'node:fs'
import path from 'node:path'
import { loadEngine, runWriter } from './driver.mjs'
import { History, readState } from './oracle.mjs'
import { Rng, STORE_OPTIONS, isWrite, mixSeed, planGeneration } from './workload.mjs'

const BLOCK_BYTES = 32 * 1024
const HEADER_BYTES = 32

/** Every record of every segment in `walDir`: { name, size, records: [{ start, end, lsn, groupLsn }] }. */
export function parseWal(walDir) {
  const segments = []
  if (!fs.existsSync(walDir)) return segments
  for (const name of fs.readdirSync(walDir).filter((n) => /^[0-9a-f]{16}\.wal$/.test(n)).sort()) {
    const data = fs.readFileSync(path.join(walDir, name))
    const records = []
    let pos = 0
    let open = null
    while (pos + HEADER_BYTES <= data.length) {
      const left = BLOCK_BYTES - (pos % BLOCK_BYTES)
      if (left < HEADER_BYTES) {
        pos += left
        continue
      }
      const length = data.readUInt32LE(pos + 4)
      const type = data[pos + 8]
      if (type < 1 || type > 4 || pos + HEADER_BYTES + length > data.length) break
      if (type === 1 || type === 2) open = { start: pos, lsn: data.readDoubleLE(pos + 16), groupLsn: data.readDoubleLE(pos + 24) }
      pos += HEADER_BYTES + length
      if ((type === 1 || type === 4) && open !== null) {
        records.push({ ...open, end: pos })
        open = null
      }
    }
    segments.push({ name, size: data.length, records })
  }
  return segments
}

/** The redo LSN of the newest meta page (FORMAT.md: generation at byte 48, redo LSN at 88). */
export function readRedoLsn(dataPath, pageSizeBytes) {
  const data = fs.readFileSync(dataPath)
  let best = { generation: -1, redoLsn: 1 }
  for (const page of [0, 1]) {
    const at = page * pageSizeBytes
    if (data.length < at + 96 || data.readUInt32LE(at) !== 0x4750534c || data.readUInt32LE(at + 32) !== 0x4154454d) continue
    const generation = data.readDoubleLE(at + 48)
    if (generation > best.generation) best = { generation, redoLsn: Math.max(1, data.readDoubleLE(at + 88)) }
  }
  return best.redoLsn
}

/**
 * A store in `root` written by one writer generation and SIGKILLed after `killAfterMs`, with its
 * exact state verified (and not committed, so trials verify against the same history).
 */
export async function makeCrashedStore(root, seed, { durability = 'fsync', killAfterMs = 250, killAfterAck, planLength = 4000 } = {}) {
  const dir = path.join(root, `crashed-${seed}`)
  fs.mkdirSync(dir, { recursive: true })
  // `killAfterAck` k: the writer kills itself right after its k-th acknowledgement (a moment the
  // seed fixes, so a replay crashes at the same one); else the parent kills it after `killAfterMs`.
  const config = { dir, seed, gen: 0, durability, planLength }
  if (killAfterAck !== undefined) config.kill = { after: 'ack', k: killAfterAck, tear: false }
  const run = await runWriter(config, killAfterAck !== undefined ? {} : { killAfterMs })
  if (run.signal !== 'SIGKILL' || run.errors.length > 0) throw new Error(`writer for ${dir} ended with ${run.code ?? run.signal}: ${run.errors.join('; ')} ${run.stderr}`)
  const plan = planGeneration(seed, 0, planLength)
  const generation = { gen: 0, plan, issued: run.issued, acked: run.acked }
  const history = new History(durability)
  const { open } = await loadEngine()
  const db = await open(dir, { readOnly: true })
  let result
  try {
    await db.check()
    result = history.verify(readState(db), { ...generation, commit: false })
  } finally {
    await db.close()
  }
  if (!result.ok) throw new Error(`the crashed store ${dir} is wrong before any damage: ${result.messages.join(' | ')}`)
  // Plan index of the write with each LSN (the log starts at LSN 1 in a new store).
  const indexOfLsn = [0]
  for (let i = 0; i < plan.items.length; i++) if (isWrite(plan.items[i])) indexOfLsn.push(i)
  return { dir, history, generation, n0: result.n, indexOfLsn, durability }
}

export const DAMAGE_KINDS = ['flip-wal', 'flip-page', 'flip-meta', 'truncate-wal', 'truncate-data', 'delete-segment']

/**
 * Damages a copy of `store` in `scratch` (kind from DAMAGE_KINDS), opens it (read-only or
 * read-write), runs check() and reads everything. Returns { outcome, detail } with outcome one of
 *   'detected'   CORRUPTION naming the damaged file
 *   'right'      the data came back right (exact, or a torn tail the damage may stand for)
 *   'unnamed'    CORRUPTION that does not name the damaged file (a failure)
 *   'untyped'    another error (a failure)
 *   'undetected' opened and returned wrong or missing data without an error (a failure)
 * and `wrong` / `lost` counts from the oracle for 'undetected'.
 */
export async function corruptionTrial(store, scratch, rng, kind) {
  const dir = path.join(scratch, `trial-${rng.u32().toString(16)}`)
  fs.cpSync(store.dir, dir, { recursive: true })
  const walDir = path.join(dir, 'wal')
  const dataPath = path.join(dir, 'data.lsp')
  const pageSize = STORE_OPTIONS.pageSizeBytes
  const segments = parseWal(walDir).filter((s) => s.size > 0)
  const redoLsn = readRedoLsn(dataPath, pageSize)
  // The last segment holding records (the writer may have made, or filled ahead, a later one).
  const lastSegment = segments.filter((s) => s.records.length > 0).at(-1)
  const lastRecords = lastSegment?.records ?? []
  const lastGroupLsn = lastRecords.length > 0 ? lastRecords[lastRecords.length - 1].groupLsn : Infinity
  // The least the store may still hold when the records from `lsn` on may be lost: the plan index
  // of the first of them the checkpoint does not hold (none: exact).
  const floorFromLsn = (lsn) => Math.min(store.n0, store.indexOfLsn[Math.max(lsn, redoLsn)] ?? store.n0)
  let floor = store.n0
  let damaged = 'data.lsp'
  let what = ''
  const flip = (file, offset) => {
    const fd = fs.openSync(file, 'r+')
    const byte = Buffer.alloc(1)
    fs.readSync(fd, byte, 0, 1, offset)
    byte[0] ^= 1 << rng.int(8)
    fs.writeSync(fd, byte, 0, 1, offset)
    fs.closeSync(fd)
  }
  if ((kind === 'flip-wal' || kind === 'truncate-wal' || kind === 'delete-segment') && segments.length === 0) kind = 'flip-page'
  if (kind === 'flip-wal') {
    const segment = rng.pick(segments)
    const offset = rng.int(segment.size)
    flip(path.join(walDir, segment.name), offset)
    damaged = segment.name
    what = `flipped a bit at offset ${offset} of ${segment.name}`
    const record = segment.records.find((r) => r.start <= offset && offset < r.end)
    if (segment === lastSegment && record !== undefined && record.groupLsn === lastGroupLsn) floor = floorFromLsn(lastGroupLsn)
  } else if (kind === 'truncate-wal') {
    const segment = rng.pick(segments)
    const size = rng.int(segment.size)
    fs.truncateSync(path.join(walDir, segment.name), size)
    damaged = segment.name
    what = `cut ${segment.name} to ${size} of ${segment.size} bytes`
    const first = segment.records.find((r) => r.end > size)
    if (segment === lastSegment && first !== undefined) floor = floorFromLsn(first.lsn)
  } else if (kind === 'delete-segment') {
    const segment = rng.pick(segments)
    fs.rmSync(path.join(walDir, segment.name))
    damaged = 'wal'
    what = `deleted ${segment.name}`
    if (segment === lastSegment && segment.records.length > 0) floor = floorFromLsn(segment.records[0].lsn)
  } else if (kind === 'flip-page' || kind === 'flip-meta') {
    const pages = Math.floor(fs.statSync(dataPath).size / pageSize)
    const page = kind === 'flip-meta' ? rng.int(2) : 2 + rng.int(Math.max(1, pages - 2))
    const offset = page * pageSize + rng.int(pageSize)
    flip(dataPath, offset)
    what = `flipped a bit at offset ${offset} (page ${page}) of data.lsp`
  } else if (kind === 'truncate-data') {
    const size = fs.statSync(dataPath).size
    const cut = rng.chance(0.1) ? 0 : rng.chance(0.5) ? rng.int(size) : pageSize * rng.int(Math.ceil(size / pageSize))
    fs.truncateSync(dataPath, cut)
    what = `cut data.lsp to ${cut} of ${size} bytes`
  }
  const mode = rng.chance(0.5) ? 'readonly' : 'readwrite'
  const { open, StoreError, ErrorCode } = await loadEngine()
  const context = `${what}; opened ${mode}; ${dir}`
  let db
  try {
    db = await open(dir, mode === 'readonly' ? { readOnly: true } : { ...STORE_OPTIONS, durability: store.durability })
    await db.check()
    const state = readState(db)
    const result = store.history.verify(state, { ...store.generation, lowerBound: floor, commit: false })
    if (result.ok) return keep(dir, { outcome: 'right', detail: `${context}: came back right (n = ${result.n}, at least ${floor} of ${store.generation.issued} items)`, wrong: 0, lost: 0 })
    return keep(dir, { outcome: 'undetected', detail: `${context}: ${result.messages.join(' | ')}`, wrong: result.wrong, lost: result.lost + result.notAPrefix }, true)
  } catch (error) {
    const message = String(error?.message ?? error)
    if (!(error instanceof StoreError)) return keep(dir, { outcome: 'untyped', detail: `${context}: ${error?.name}: ${message}`, wrong: 0, lost: 0 }, true)
    if (error.code !== ErrorCode.CORRUPTION) {
      // An empty data.lsp reads as "no store" to a read-only open: refusing is right, if not CORRUPTION.
      if (mode === 'readonly' && error.code === ErrorCode.IO && /data\.lsp is (empty|missing)/.test(message)) return keep(dir, { outcome: 'detected', detail: `${context}: ${message}`, wrong: 0, lost: 0 })
      return keep(dir, { outcome: 'untyped', detail: `${context}: ${error.code}: ${message}`, wrong: 0, lost: 0 }, true)
    }
    if (!message.includes(damaged)) return keep(dir, { outcome: 'unnamed', detail: `${context}: CORRUPTION not naming ${damaged}: ${message}`, wrong: 0, lost: 0 }, true)
    return keep(dir, { outcome: 'detected', detail: `${context}: ${message}`, wrong: 0, lost: 0 })
  } finally {
    if (db !== undefined) await db.close().catch(() => {})
  }
}

/** Removes a trial's copy unless it failed (then it stays for a look). */
function keep(dir, outcome, failed = false) {
  if (!failed) fs.rmSync(dir, { recursive: true, force: true })
  return outcome
}

/** Runs `trials` damage trials, cycling through DAMAGE_KINDS, on one crashed store. */
export async function corruptionTrials(store, scratch, seed, trials) {
  const rng = new Rng(mixSeed(seed, 0xc0))
  const outcomes = []
  for (let t = 0; t < trials; t++) outcomes.push({ kind: DAMAGE_KINDS[t % DAMAGE_KINDS.length], ...(await corruptionTrial(store, scratch, rng, DAMAGE_KINDS[t % DAMAGE_KINDS.length])) })
  return outcomes
}
