// ENOSPC and EIO on the N-th write, sync or directory operation, for rising N (as SQLite's I/O error
// tests do), in process over CrashFileSystem (crash-fs.mjs). Types: faults.d.mts.
//
// A trial: a new store runs a seeded plan over a file system that fails the N-th call of one
// operation. What must hold:
//   - the failure surfaces as a rejected operation with a typed code (NO_SPACE for ENOSPC, IO for
//     EIO), never as an acknowledged write, and never as a crash of the process;
//   - after a failed fsync, no write issued later is acknowledged (the store refuses writes until
//     reopened); a failed write of value bytes before logging rejects only that write (RECOVERY.md);
//   - reads go on (one may fail with IO or NO_SPACE when it must evict a dirty page and that write
//     fails): the store's contents are a prefix of the writes issued that holds every
//     acknowledged one, where a rejected write may or may not show (oracle.mjs);
//   - after close, the store opens again with the real file system, passes check(), and holds a
//     prefix of the issued writes with every acknowledged one.

import fs from 'node:fs'
import path from 'node:path'
import { CrashFileSystem } from './crash-fs.mjs'
import { loadEngine } from './driver.mjs'
import { History, readState } from './oracle.mjs'
import { STORE_OPTIONS, encodeValue, executePlan, planGeneration } from './workload.mjs'

export const FAULT_OPS = ['write', 'sync', 'open', 'truncate', 'rename', 'remove', 'syncDirectory']

function codeOf(error) {
  return error?.code ?? `${error?.name ?? 'non-error'}: ${String(error?.message ?? error)}`
}

/**
 * Runs one trial in `root`. `fault`: { op, code: 'EIO' | 'ENOSPC', n } or null (a dry run that
 * counts calls). Returns { problems: [messages], fired, calls, ackedWrites, operations, lost, wrong }.
 */
export async function faultTrial(root, seed, fault, { durability = 'fsync', planLength = 300 } = {}) {
  const { openWithFileSystem, open, file, StoreError } = await loadEngine()
  const dir = path.join(root, `fault-${seed}-${fault === null ? 'dry' : `${fault.op}-${fault.code}-${fault.n}`}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const crashFs = new CrashFileSystem(file)
  if (fault !== null) crashFs.failNext({ op: fault.op, code: fault.code, after: fault.n - 1 })
  const expectedCode = fault?.code === 'ENOSPC' ? 'NO_SPACE' : 'IO'
  const plan = planGeneration(seed, 0, planLength)
  const problems = []
  const typed = (error, what) => {
    if (!(error instanceof StoreError) || error.code !== expectedCode) problems.push(`${what}: expected ${expectedCode}, got ${codeOf(error)} ${error?.message ?? ''}`)
  }
  const unhandled = catchUnhandled()
  const acked = new Set()
  const rejected = new Set()
  /** Reads that threw: allowed only with a typed I/O code, after the fault fired (a read that
   *  needs a buffer frame may have to evict a dirty page, and that write fails). */
  const readErrors = []
  let issued = 0
  let db
  try {
    db = await openWithFileSystem(dir, { ...STORE_OPTIONS, durability, checkpointIntervalMs: 60_000 }, crashFs)
  } catch (error) {
    typed(error, 'open')
  }
  const history = new History(durability)
  if (db !== undefined) {
    // Events in order: after an fsync error, nothing issued later may be acknowledged.
    let failedAt = -1
    const lateAcks = []
    const report = (line) => {
      const i = Number(line.slice(2).split(' ')[0])
      if (line[0] === 'a') {
        acked.add(i)
        if (failedAt >= 0 && i > failedAt) lateAcks.push(i)
      } else if (line[0] === 'e') {
        rejected.add(i)
        if (failedAt < 0) failedAt = i
      } else if (line[0] === 'x') problems.push(`a read while writing: ${line}`)
      else if (line[0] === 'r') readErrors.push(line)
    }
    let run = await settles(executePlan(db, 0, plan, report, { stopOnError: false }), SETTLE_MS)
    if (run === TIMED_OUT) {
      problems.push(`the plan's writes did not all settle within ${SETTLE_MS} ms (a write promise that never resolves or rejects)`)
      run = { issued: plan.items.length, firstError: null }
    }
    issued = run.issued
    if (run.firstError !== null) {
      typed(run.firstError, 'the first rejected operation')
      if (fault === null) problems.push(`no fault was injected, yet: ${codeOf(run.firstError)} ${run.firstError.message}`)
      if (fault?.op === 'sync' && lateAcks.length > 0) problems.push(`writes issued after the fsync error were acknowledged: items ${lateAcks.slice(0, 5).join(', ')}`)
      // Reads go on, showing a prefix of the issued writes with every acknowledged one.
      try {
        const live = history.verify(readState(db), { gen: 0, plan, issued, acked, rejected, commit: false })
        if (!live.ok) problems.push(`reads after the failure: ${live.messages.join(' | ')}`)
      } catch (error) {
        problems.push(`reads after the failure threw ${codeOf(error)} ${error?.message}`)
      }
    }
    try {
      if ((await settles(db.close(), SETTLE_MS)) === TIMED_OUT) {
        problems.push(`close() did not settle within ${SETTLE_MS} ms`)
        return finish(problems, fault, crashFs, dir, seed, durability, null, unhandled.stop())
      }
    } catch (error) {
      if (fault === null) problems.push(`close without a fault: ${codeOf(error)} ${error?.message}`)
      else if (!(error instanceof StoreError)) problems.push(`close: ${codeOf(error)} ${error?.message}`)
    }
  }
  const fired = crashFs.injected.length > 0
  if (fault !== null && !fired && (db === undefined || rejected.size > 0)) problems.push('no fault fired, yet something failed')
  for (const line of readErrors) if (!fired || !/^r \d+ (IO|NO_SPACE) /.test(line)) problems.push(`a read threw: ${line}`)
  const stray = unhandled.stop()
  // Reopen with the real file system: nothing acknowledged lost, check() passes.
  let result = null
  let reopened
  try {
    reopened = await open(dir, { ...STORE_OPTIONS, durability })
    await reopened.check()
    result = history.verify(readState(reopened), { gen: 0, plan, issued, acked, rejected, commit: false })
    if (!result.ok) problems.push(`after reopening: ${result.messages.join(' | ')}`)
    // And it takes writes again.
    await reopened.put(0.25, encodeValue(0, 0, 0, 0, 0.25, 40))
  } catch (error) {
    problems.push(`reopening with the real file system: ${codeOf(error)} ${error?.message}`)
  } finally {
    if (reopened !== undefined) await reopened.close().catch(() => {})
  }
  return finish(problems, fault, crashFs, dir, seed, durability, result, stray)
}

function finish(problems, fault, crashFs, dir, seed, durability, result, stray) {
  for (const error of stray) problems.push(`an unhandled rejection inside the engine: ${codeOf(error)} ${error?.stack ?? error}`)
  if (problems.length === 0) fs.rmSync(dir, { recursive: true, force: true })
  return {
    problems: problems.map((p) => `[seed ${seed}, ${durability}, ${fault === null ? 'no fault' : `${fault.code} on ${fault.op} #${fault.n}`}] ${p} (${dir})`),
    fired: crashFs.injected.length > 0,
    calls: { ...crashFs.calls },
    ackedWrites: result?.ackedWrites ?? 0,
    operations: result?.operations ?? 0,
    lost: result?.lost ?? 0,
    wrong: result?.wrong ?? 0,
  }
}

const SETTLE_MS = 3_000
const TIMED_OUT = Symbol('timed out')

/** `promise`, or TIMED_OUT if it has not settled after `ms`. */
function settles(promise, ms) {
  let timer
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)))]).finally(() => clearTimeout(timer))
}

/**
 * Catches unhandled rejections while a trial runs (an engine promise nobody can await, failing):
 * they are the trial's problems, not the test runner's. stop() returns them.
 */
function catchUnhandled() {
  const caught = []
  const listener = (error) => caught.push(error)
  const previous = process.listeners('unhandledRejection')
  process.removeAllListeners('unhandledRejection')
  process.on('unhandledRejection', listener)
  return {
    stop() {
      process.removeListener('unhandledRejection', listener)
      for (const l of previous) process.on('unhandledRejection', l)
      return caught
    },
  }
}

/**
 * The N values to try for an operation called `count` times in a dry run: every N up to `dense`,
 * then `spread` more spread evenly to count + 1 (one past the last call: no fault fires).
 */
export function risingN(count, dense = 12, spread = 12) {
  const ns = new Set()
  for (let n = 1; n <= Math.min(count, dense); n++) ns.add(n)
  for (let j = 1; j <= spread && count > dense; j++) ns.add(dense + Math.round(((count - dense) * j) / spread))
  ns.add(count + 1)
  return [...ns].sort((a, b) => a - b)
}
