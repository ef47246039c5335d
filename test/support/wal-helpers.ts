/**
 * Helpers for the WAL and recovery tests: temporary directories, seeded bytes, an independent model
 * of the log's framing (from the format description in src/wal/wal-format.ts, not from the writer),
 * a plain Map model of the store, directory digests, an in-process "kill" of a store, and a runner
 * for child processes that write to a store until the parent SIGKILLs them.
 *
 * Nothing here asks the engine what it should contain: expectations come from the inputs.
 */
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { afterEach } from 'vitest'
import { StoreError } from '../../src/errors.js'
import type { Store } from '../../src/store/store.js'
import type { FaultyFileSystem } from './faulty-fs.js'

// ---- directories ------------------------------------------------------------------------------

export function useTempDirs(prefix = 'learned-storage-wal-'): () => string {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}

/** Segment files (names, sorted) in `walDir`. */
export function segmentFiles(walDir: string): string[] {
  if (!fs.existsSync(walDir)) return []
  return fs.readdirSync(walDir).filter((n) => /^[0-9a-f]{16}\.wal$/.test(n)).sort()
}

/** Every file under `dir` with its size, mtime and SHA-256, and every directory: one line each. */
export function digestDir(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const full = path.join(d, name)
      const rel = path.relative(dir, full)
      const st = fs.statSync(full)
      if (st.isDirectory()) {
        out.push(`dir ${rel}`)
        walk(full)
      } else {
        const hash = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex')
        out.push(`file ${rel} ${st.size} ${st.mtimeMs} ${hash}`)
      }
    }
  }
  walk(dir)
  return out
}

// ---- bytes ------------------------------------------------------------------------------------

export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** `length` pseudo-random bytes determined by `seed`. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const next = mulberry32(seed)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i += 4) {
    const w = next()
    out[i] = w & 0xff
    if (i + 1 < length) out[i + 1] = (w >>> 8) & 0xff
    if (i + 2 < length) out[i + 2] = (w >>> 16) & 0xff
    if (i + 3 < length) out[i + 3] = w >>> 24
  }
  return out
}

/** Like seededBytes, but every byte in 1..254: no zero (so the log's last byte is never mistaken
 *  for zero fill) and no 0xff (so flipping every bit of one never gives a zero). */
export function nonZeroBytes(length: number, seed: number): Uint8Array {
  const out = seededBytes(length, seed)
  for (let i = 0; i < length; i++) out[i] = (out[i]! % 254) + 1
  return out
}

/** '' when `file` holds the log up to `end` and nothing but zeros after it (space filled ahead). */
export function diffLogEnd(file: string, end: number): string {
  const bytes = fs.readFileSync(file)
  if (bytes.length < end) return `${path.basename(file)}: ${bytes.length} bytes, the log should reach ${end}`
  for (let i = end; i < bytes.length; i++) if (bytes[i] !== 0) return `${path.basename(file)}: byte ${i}, past the log's end at ${end}, is ${bytes[i]}`
  return ''
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

export function describeBytes(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return 'undefined'
  return `${bytes.byteLength} bytes [${Buffer.from(bytes.subarray(0, 8)).toString('hex')}${bytes.byteLength > 8 ? '…' : ''}]`
}

// ---- the log's framing, from the format description -------------------------------------------

export const BLOCK = 32 * 1024
export const HEADER = 32
export const FULL = 1
export const FIRST = 2
export const MIDDLE = 3
export const LAST = 4

export interface FragmentPlan {
  at: number
  length: number
  type: number
}

/** Where a record of `payloadBytes` starting at segment offset `start` puts its fragments. */
export function planRecord(start: number, payloadBytes: number): { fragments: FragmentPlan[]; end: number } {
  const fragments: FragmentPlan[] = []
  let pos = start
  let left = payloadBytes
  for (;;) {
    const blockLeft = BLOCK - (pos % BLOCK)
    if (blockLeft < HEADER) {
      pos += blockLeft
      continue
    }
    const length = Math.min(blockLeft - HEADER, left)
    const first = fragments.length === 0
    const last = length === left
    fragments.push({ at: pos, length, type: first ? (last ? FULL : FIRST) : last ? LAST : MIDDLE })
    pos += HEADER + length
    left -= length
    if (last) return { fragments, end: pos }
  }
}

export interface ParsedFragment {
  crcOk: boolean
  length: number
  fragmentType: number
  recordType: number
  reserved: number
  recordBytes: number
  lsn: number
  groupLsn: number
}

/** Parses the fragment header at `at` (CRC over bytes 4..31 and the payload, checked with zlib). */
export function parseFragmentAt(data: Uint8Array, at: number): ParsedFragment {
  const view = new DataView(data.buffer, data.byteOffset + at, HEADER)
  const length = view.getUint32(4, true)
  const end = Math.min(data.length, at + HEADER + length)
  const crc = zlib.crc32(data.subarray(at + 4, end)) >>> 0
  return {
    crcOk: crc === view.getUint32(0, true) && at + HEADER + length <= data.length,
    length,
    fragmentType: view.getUint8(8),
    recordType: view.getUint8(9),
    reserved: view.getUint16(10, true),
    recordBytes: view.getUint32(12, true),
    lsn: view.getFloat64(16, true),
    groupLsn: view.getFloat64(24, true),
  }
}

/** The bytes of a BATCH record holding one put (4 count + 1 kind + 8 key + 4 length + value). */
export function putRecordBytes(valueBytes: number): number {
  return 4 + 9 + 4 + valueBytes
}

// ---- the store model --------------------------------------------------------------------------

export type Op = { t: 'put'; k: number; v: Uint8Array } | { t: 'del'; k: number } | { t: 'batch'; ops: Op[] }

export function applyOp(model: Map<number, Uint8Array>, op: Op): void {
  if (op.t === 'put') model.set(op.k, op.v)
  else if (op.t === 'del') model.delete(op.k)
  else for (const inner of op.ops) applyOp(model, inner)
}

export function readAll(db: Store): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = []
  for (const entry of db.range()) out.push(entry)
  return out
}

/** '' if the store's whole content (range scan, get of every key, record count) equals the model. */
export function diffStore(db: Store, model: Map<number, Uint8Array>): string {
  const entries = readAll(db)
  const keys = [...model.keys()].sort((a, b) => a - b)
  for (let i = 0; i < Math.max(entries.length, keys.length); i++) {
    const got = entries[i]
    const key = keys[i]
    if (got === undefined) return `range ends after ${entries.length} entries; expected key ${key} next (${keys.length} expected)`
    if (key === undefined) return `range has extra key ${got[0]} (${entries.length} entries, ${keys.length} expected)`
    if (got[0] !== key) return `range entry ${i} has key ${got[0]}, expected ${key}`
    if (!sameBytes(got[1], model.get(key))) return `key ${key}: ${describeBytes(got[1])}, expected ${describeBytes(model.get(key))}`
  }
  for (const key of keys) if (!sameBytes(db.get(key), model.get(key))) return `get(${key}) = ${describeBytes(db.get(key))}, expected ${describeBytes(model.get(key))}`
  if (db.stats().records !== model.size) return `stats().records = ${db.stats().records}, expected ${model.size}`
  return ''
}

/** '' if `entries` (a range scan) equals `model`. */
export function diffEntries(entries: [number, Uint8Array][], model: Map<number, Uint8Array>): string {
  if (entries.length !== model.size) return `${entries.length} entries, expected ${model.size}`
  for (const [k, v] of entries) if (!sameBytes(v, model.get(k))) return `key ${k}: ${describeBytes(v)}, expected ${describeBytes(model.get(k))}`
  return ''
}

/**
 * The n in [from, to] for which the store equals `base` after ops[0..n), or -1. The recovered state
 * must be such a prefix: every acknowledged op (n >= from), nothing never issued (n <= to), no holes.
 */
export function matchingPrefix(db: Store, base: Map<number, Uint8Array>, ops: readonly (Op | null)[], from: number, to: number): { n: number; model: Map<number, Uint8Array>; why: string } {
  const entries = readAll(db)
  const model = new Map(base)
  for (let i = 0; i < from; i++) {
    const op = ops[i]
    if (op) applyOp(model, op)
  }
  let why = ''
  for (let n = from; n <= to; n++) {
    if (n > from) {
      const op = ops[n - 1]
      if (op) applyOp(model, op)
    }
    const diff = diffEntries(entries, model)
    if (diff === '') return { n, model, why: '' }
    if (n === from) why = diff
  }
  return { n: -1, model, why: `no prefix of ops in [${from}, ${to}] matches; against ${from}: ${why}` }
}

// ---- errors -----------------------------------------------------------------------------------

export function codeOf(error: unknown): string {
  return error instanceof StoreError ? error.code : `not a StoreError: ${String(error)}`
}

export async function rejection(promise: Promise<unknown>): Promise<StoreError | string> {
  try {
    await promise
  } catch (error) {
    return error instanceof StoreError ? error : `not a StoreError: ${String(error)}`
  }
  return 'resolved'
}

export function codeOfResult(result: StoreError | string): string {
  return result instanceof StoreError ? result.code : result
}

// ---- in-process kill --------------------------------------------------------------------------

/**
 * "Kills" a store opened over `ffs`: from now on every file operation fails (bytes already written
 * stay, as after a process kill), then closes the dead store, which releases its lock without
 * writing anything.
 */
export async function killStore(db: Store, ffs: FaultyFileSystem): Promise<void> {
  ffs.kill()
  await db.close().catch(() => {})
}

/** A power loss: unsynced bytes and names dropped (FaultyFileSystem.crash), then the dead store closed. */
export async function powerLoss(db: Store, ffs: FaultyFileSystem): Promise<void> {
  ffs.crash()
  await db.close().catch(() => {})
}

// ---- child processes --------------------------------------------------------------------------

export const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url))
const CHILD = fileURLToPath(new URL('./wal-child.mjs', import.meta.url))

export type PlanItem = Op | { t: 'checkpoint' }

type WireOp = { t: 'put'; k: number; v: string } | { t: 'del'; k: number } | { t: 'batch'; ops: WireOp[] } | { t: 'checkpoint' }

function toWire(item: PlanItem): WireOp {
  if (item.t === 'put') return { t: 'put', k: item.k, v: Buffer.from(item.v).toString('base64') }
  if (item.t === 'batch') return { t: 'batch', ops: item.ops.map(toWire) }
  return item
}

export interface ChildRun {
  /** Plan items acknowledged without a gap from item 0 (`a i` or `c i` lines). */
  acked: number
  /** Plan items issued (`s i` lines): an upper bound on what the store may hold. */
  issued: number
  checkpointsDone: number[]
  signal: NodeJS.Signals | null
  code: number | null
  stderr: string
  lines: string[]
}

/**
 * Runs the child writer on `dir` with `plan` (each write acknowledged on stdout after its promise
 * resolved; at most `window` in flight). With `killAfterAcks`, SIGKILLs it once that many acks were
 * read (if the parent is slow to read them, the child may have finished the plan by then: it waits
 * to be killed, so the kill always comes, at worst after the last write); otherwise it runs the plan
 * to the end and closes the store (`close: true`, the default) or exits without closing.
 */
/**
 * Calls `visit` with each complete line a child writes to `stream` (utf-8), as it arrives, and
 * `afterChunk` once the lines of each chunk were visited.
 */
export function onLines(stream: Readable, visit: (line: string) => void, afterChunk: () => void = () => {}): void {
  let buffered = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    buffered += chunk
    const parts = buffered.split('\n')
    buffered = parts.pop() ?? ''
    for (const line of parts) visit(line)
    afterChunk()
  })
}

export async function runChild(options: {
  dir: string
  storeOptions: Record<string, unknown>
  plan: readonly PlanItem[]
  window?: number
  killAfterAcks?: number
  close?: boolean
}): Promise<ChildRun> {
  if (!fs.existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run \`npm run build\` first (npm test does)`)
  const configPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-child-')), 'config.json')
  fs.writeFileSync(
    configPath,
    JSON.stringify({
      distIndex: DIST_INDEX,
      dir: options.dir,
      options: options.storeOptions,
      plan: options.plan.map(toWire),
      window: options.window ?? 1,
      atEnd: options.killAfterAcks !== undefined ? 'hang' : options.close === false ? 'exit' : 'close',
    }),
  )
  try {
    return await new Promise<ChildRun>((resolve, reject) => {
      const child = spawn(process.execPath, [CHILD, configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
      const acks = new Set<number>()
      const run: ChildRun = { acked: 0, issued: 0, checkpointsDone: [], signal: null, code: null, stderr: '', lines: [] }
      let killed = false
      let finished = false
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`child timed out; stderr: ${run.stderr}`))
      }, 60_000)
      onLines(child.stdout, (line) => {
        run.lines.push(line)
        const [kind, arg] = line.split(' ')
        const i = Number(arg)
        if (kind === 's') run.issued = Math.max(run.issued, i + 1)
        if (kind === 'a' || kind === 'c') acks.add(i)
        if (kind === 'c') run.checkpointsDone.push(i)
        if (kind === 'done') finished = true
      }, () => {
        while (acks.has(run.acked)) run.acked++
        if (!killed && options.killAfterAcks !== undefined && (acks.size >= options.killAfterAcks || finished)) {
          killed = true
          child.kill('SIGKILL')
        }
      })
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk: string) => (run.stderr += chunk))
      child.on('error', reject)
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        run.code = code
        run.signal = signal
        resolve(run)
      })
    })
  } finally {
    fs.rmSync(path.dirname(configPath), { recursive: true, force: true })
  }
}
