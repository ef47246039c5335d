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
// Two harsher models (fsyncgate.test.ts, disk-full.test.ts): a failed sync that throws the file's
// unsynced writes away, followed by a power cut; and a disk that stays full until the reopen.

import fs from 'node:fs'
import path from 'node:path'
import { CrashFileSystem, powerCut } from './crash-fs.mjs'
import { loadEngine } from './driver.mjs'
import { History, readState } from './oracle.mjs'
import { STORE_OPTIONS, encodeValue, executePlan, planGeneration } from './workload.mjs'

export const FAULT_OPS = ['write', 'sync', 'open', 'truncate', 'rename', 'remove', 'syncDirectory']

function codeOf(error) {
  return error?.code ?? `${error?.name ?? 'non-error'}: ${String(error?.message ?? error)}`
}

/**
 * Runs one trial in `root`. `fault`: { op, code: 'EIO' | 'ENOSPC', n, path?: RegExp } or null (a
 * dry run that counts calls), with one of
 *   dropUnsynced: true   (op 'sync') fsyncgate: the failed sync throws away the file's unsynced
 *                        writes and a retry succeeds without them (crash-fs.mjs checkSync);
 *   diskFull: { growOnly? }   (op 'write', code 'ENOSPC') the disk fills at the n-th matching write
 *                        and stays full, retries included, until the trial frees it before reopening
 *                        (crash-fs.mjs fillDisk): every write issued after the first rejected one must
 *                        be rejected too, all with NO_SPACE, reads must not fail, and close settles.
 * `power`: the store runs over the power-loss model (unsynced writes held in memory, directory
 * changes journaled), and after the plan settles the power goes (in process: every later call
 * fails, the held writes are dropped, unsynced directory entries undone) before the reopen.
 * Every sync fault that fires must surface as a rejected open, write or close (a probe write after
 * the plan, when nothing else was rejected). Returns { problems: [messages], fired, calls,
 * ackedWrites, operations, lost, wrong, dropped, refused }.
 */
export async function faultTrial(root, seed, fault, { durability = 'fsync', planLength = 300, power = false } = {}) {
  const { openWithFileSystem, open, file, StoreError } = await loadEngine()
  const model = fault?.diskFull !== undefined ? `full${fault.diskFull.growOnly ? '-grow' : ''}-` : fault?.dropUnsynced === true ? 'gate-' : ''
  const target = fault?.path === undefined ? '' : `-${fault.path.source.replace(/[^a-z]/g, '')}`
  const dir = path.join(root, `fault-${seed}-${durability}${power ? '-power' : ''}-${fault === null ? 'dry' : `${model}${fault.op}-${fault.code}${target}-${fault.n}`}`)
  const journal = dir + '.journal'
  const graves = dir + '.graves'
  for (const p of [dir, journal, graves]) fs.rmSync(p, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const crashFs = new CrashFileSystem(file, power ? { holdUnsynced: true, journalPath: journal, graveDir: graves } : {})
  if (fault?.diskFull !== undefined) crashFs.fillDisk({ after: fault.n - 1, path: fault.path, growOnly: fault.diskFull.growOnly === true })
  else if (fault !== null) crashFs.failNext({ op: fault.op, code: fault.code, after: fault.n - 1, path: fault.path, dropUnsynced: fault.dropUnsynced === true })
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
  /** Whether a failure reached the caller: a rejected open, write, checkpoint or close. */
  let surfaced = false
  try {
    db = await openWithFileSystem(dir, { ...STORE_OPTIONS, durability, checkpointIntervalMs: 60_000 }, crashFs)
  } catch (error) {
    surfaced = true
    typed(error, 'open')
  }
  const history = new History(durability)
  if (db !== undefined) {
    // Events in order: after an fsync error, nothing issued later may be acknowledged.
    // Two views of "later": a higher plan index than the first rejected write (a failed log group
    // rejects the writes queued behind it too; a checkpoint's rejection is not counted, as writes
    // issued after it may be acknowledged before it fails), and issued after a rejection was seen.
    let failedAt = -1
    let failureSeen = false
    const issuedAfterFailure = new Set()
    const lateAcks = []
    const report = (line) => {
      const i = Number(line.slice(2).split(' ')[0])
      if (line[0] === 's') {
        if (failureSeen) issuedAfterFailure.add(i)
      } else if (line[0] === 'a') {
        acked.add(i)
        if ((failedAt >= 0 && i > failedAt) || issuedAfterFailure.has(i)) lateAcks.push(i)
      } else if (line[0] === 'e') {
        rejected.add(i)
        failureSeen = true
        if (failedAt < 0 && plan.items[i]?.t !== 'checkpoint') failedAt = i
        if (fault?.diskFull !== undefined && line.split(' ')[2] !== 'NO_SPACE') problems.push(`the full disk: a write rejected with another code: ${line}`)
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
      surfaced = true
      typed(run.firstError, 'the first rejected operation')
      if (fault === null) problems.push(`no fault was injected, yet: ${codeOf(run.firstError)} ${run.firstError.message}`)
      if (fault?.op === 'sync' && lateAcks.length > 0) problems.push(`writes issued after the fsync error were acknowledged: items ${lateAcks.slice(0, 5).join(', ')}`)
      if (fault?.diskFull !== undefined && lateAcks.length > 0) problems.push(`the disk stayed full, yet writes issued after the first NO_SPACE were acknowledged: items ${lateAcks.slice(0, 5).join(', ')}`)
      // Reads go on, showing a prefix of the issued writes with every acknowledged one.
      try {
        const live = history.verify(readState(db), { gen: 0, plan, issued, acked, rejected, commit: false })
        if (!live.ok) problems.push(`reads after the failure: ${live.messages.join(' | ')}`)
      } catch (error) {
        problems.push(`reads after the failure threw ${codeOf(error)} ${error?.message}`)
      }
    }
    if (fault?.op === 'sync' && crashFs.injected.length > 0 && !surfaced) {
      // The sync failed where no write waited on it (a background checkpoint): the next write must
      // be refused. The probe's key is in no plan; if it is acknowledged, that is the failure.
      try {
        await db.put(PROBE_KEY, encodeValue(0, 0, 0, 0, PROBE_KEY, 40))
        problems.push(`the fsync error fired (${crashFs.injected.map((f) => f.path).join(', ')}), yet no write was rejected, and a write after it was acknowledged`)
      } catch (error) {
        surfaced = true
        typed(error, 'a write after the fsync error')
      }
    }
    if (power) crashFs.die()
    try {
      if ((await settles(db.close(), SETTLE_MS)) === TIMED_OUT) {
        problems.push(`close() did not settle within ${SETTLE_MS} ms`)
        return finish(problems, fault, crashFs, dir, seed, durability, null, unhandled.stop())
      }
    } catch (error) {
      surfaced = true
      if (power) {
        // The power went before close: its failure says nothing.
      } else if (fault === null) problems.push(`close without a fault: ${codeOf(error)} ${error?.message}`)
      else if (!(error instanceof StoreError)) problems.push(`close: ${codeOf(error)} ${error?.message}`)
    }
  }
  if (power) powerCut(journal, graves)
  crashFs.freeSpace()
  const fired = crashFs.injected.length > 0
  if (fault?.op === 'sync' && fired && !surfaced) problems.push('the fsync error fired, yet no open, write or close was rejected')
  if (fault?.diskFull !== undefined && readErrors.length > 0) problems.push(`the full disk: reads threw: ${readErrors.slice(0, 3).join(' | ')}`)
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

/** A key no plan writes (plans use keys in [0, 1e6)): the probe write after an unreported fsync error. */
const PROBE_KEY = -12345.5

function describeFault(fault) {
  if (fault === null) return 'no fault'
  const where = fault.path === undefined ? '' : ` of ${fault.path.source}`
  if (fault.diskFull !== undefined) return `disk full${fault.diskFull.growOnly ? ' (growing writes)' : ''} from write #${fault.n}${where}`
  return `${fault.code} on ${fault.op} #${fault.n}${where}${fault.dropUnsynced ? ' dropping the unsynced writes' : ''}`
}

function finish(problems, fault, crashFs, dir, seed, durability, result, stray) {
  for (const error of stray) problems.push(`an unhandled rejection inside the engine: ${codeOf(error)} ${error?.stack ?? error}`)
  if (problems.length === 0) fs.rmSync(dir, { recursive: true, force: true })
  return {
    problems: problems.map((p) => `[seed ${seed}, ${durability}, ${describeFault(fault)}] ${p} (${dir})`),
    fired: crashFs.injected.length > 0,
    dropped: crashFs.droppedWrites,
    refused: crashFs.spaceRefusals,
    spaceMatches: crashFs.spaceMatches,
    calls: { ...crashFs.calls },
    callsByPath: Object.fromEntries(Object.entries(crashFs.callsByPath).map(([op, m]) => [op, Object.fromEntries(m)])),
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

/** Calls of `op` in a trial's result to files matching `pattern`. */
export function callsTo(result, op, pattern) {
  let count = 0
  for (const [file, calls] of Object.entries(result.callsByPath[op])) if (pattern.test(file)) count += calls
  return count
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
