// The crash suite's driver: runs a store directory through generations of writer children
// (writer.mjs), each killed at a moment its seed fixes (by itself right after its k-th acknowledgement
// or k-th issued write, or mid bulk load), by a named kill point (its n-th hit), or by its own torn
// power cut (at such a moment, or as the n-th sync starts), or, as a minority mode marked "wall
// clock", by the parent after a random delay; then reopens the store with the real file system, runs check(), and verifies it
// against the history (oracle.mjs). Used by the vitest files and the soak runner (types: driver.d.mts).
//
// The engine under test is the built dist/ (`npm run build`; `npm test` builds first), or the dist
// directory named by LEARNED_STORAGE_CRASH_DIST (used to show that the suite catches planted bugs).

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { powerCut } from './crash-fs.mjs'
import { History, addFigures, newFigures, readState } from './oracle.mjs'
import { MIB_VALUE_BYTES, Rng, STORE_OPTIONS, mixSeed, planGeneration } from './workload.mjs'

const WRITER = fileURLToPath(new URL('./writer.mjs', import.meta.url))
const REPO_DIST = new URL('../../dist/', import.meta.url)
const REPO_SRC = new URL('../../src/', import.meta.url)

/** File URL (ending in '/') of the dist directory under test. */
export function distUrl() {
  const override = process.env.LEARNED_STORAGE_CRASH_DIST
  if (override !== undefined && override !== '') return pathToFileURL(path.resolve(override) + '/')
  return REPO_DIST
}

function newestMtime(dir) {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p))
    else newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

let engine = null

/** The engine's modules from dist: { open, openWithFileSystem, ErrorCode, StoreError, KILL_POINTS, file }. */
export async function loadEngine() {
  if (engine !== null) return engine
  const dist = distUrl()
  const index = fileURLToPath(new URL('index.js', dist))
  if (!fs.existsSync(index)) throw new Error(`${index} is missing: run \`npm run build\` first (npm test does)`)
  if (dist === REPO_DIST && newestMtime(fileURLToPath(REPO_DIST)) + 1000 < newestMtime(fileURLToPath(REPO_SRC))) {
    throw new Error(`${index} is older than src/: run \`npm run build\` first (npm test does)`)
  }
  const [api, openModule, killPoint, file] = await Promise.all(
    ['index.js', 'store/open.js', 'io/kill-point.js', 'io/file.js'].map((name) => import(new URL(name, dist).href)),
  )
  engine = { open: api.open, openWithFileSystem: openModule.openWithFileSystem, ErrorCode: api.ErrorCode, StoreError: api.StoreError, KILL_POINTS: killPoint.KILL_POINTS, file }
  return engine
}

// ---- one writer child ---------------------------------------------------------------------------

/**
 * Runs writer.mjs with `config` and kills it: `killAfterMs` after it reported the store open, or
 * when it reports `done` (the plan ran out), or never (a kill point or its own power cut kills it).
 * Resolves when it is gone, with what it reported.
 */
export function runWriter(config, { killPoint, killAfterMs, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env }
    delete env.LEARNED_STORAGE_KILL_POINT
    if (killPoint !== undefined) env.LEARNED_STORAGE_KILL_POINT = killPoint
    const child = spawn(process.execPath, [WRITER, JSON.stringify({ ...config, dist: distUrl().href })], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const run = { opened: null, issued: 0, acked: new Set(), checkpoints: 0, errors: [], readProblems: [], done: false, killedByParent: false, code: null, signal: null, stderr: '', timedOut: false, stats: null }
    let buffered = ''
    let killTimer = null
    const killNow = () => {
      if (run.code !== null || run.signal !== null) return
      run.killedByParent = true
      child.kill('SIGKILL')
    }
    const timeout = setTimeout(() => {
      run.timedOut = true
      killNow()
    }, timeoutMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const kind = line[0]
        const rest = line.slice(2)
        if (kind === 's') run.issued = Math.max(run.issued, Number(rest) + 1)
        else if (kind === 'a') run.acked.add(Number(rest))
        else if (kind === 'c') run.checkpoints++
        else if (kind === 'e') run.errors.push(rest)
        else if (kind === 'x') run.readProblems.push(rest)
        else if (kind === 'r') run.readProblems.push(`a read threw: ${rest}`)
        else if (kind === 'm') run.stats = JSON.parse(rest)
        else if (kind === 'o') {
          run.opened = JSON.parse(rest)
          if (killAfterMs !== undefined) killTimer = setTimeout(killNow, killAfterMs)
        } else if (line === 'done') {
          run.done = true
          killNow()
        }
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => (run.stderr += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timeout)
      if (killTimer !== null) clearTimeout(killTimer)
      run.code = code
      run.signal = signal
      resolve(run)
    })
    child.stdin.on('error', () => {})
  })
}

// ---- verification -------------------------------------------------------------------------------

/**
 * Opens `dir` with the real file system (read-only, so the next writer still recovers the crashed
 * state itself, or read-write and then closed), runs check(), reads everything and verifies it.
 * Returns { result, error } (error: a message when open, check or the read failed).
 */
export async function verifyDirectory(dir, history, generation, { mode = 'readonly', lowerBound } = {}) {
  const { open } = await loadEngine()
  let db
  if (!fs.existsSync(path.join(dir, 'data.lsp'))) {
    // No store yet (its creation was cut off): the state is empty, and the next open creates it.
    const result = history.verify(new Map(), { gen: generation.gen, plan: generation.plan, issued: generation.issued, acked: generation.acked, lowerBound })
    return { result, error: null, state: new Map() }
  }
  try {
    db = await open(dir, mode === 'readonly' ? { readOnly: true } : { ...STORE_OPTIONS, durability: history.durability })
    await db.check()
    const state = readState(db)
    const result = history.verify(state, { gen: generation.gen, plan: generation.plan, issued: generation.issued, acked: generation.acked, lowerBound })
    return { result, error: null, state }
  } catch (error) {
    return { result: null, error: `${mode} open/check/read failed: ${error?.code ?? error?.name} ${error?.message ?? error}`, errorObject: error }
  } finally {
    if (db !== undefined) await db.close().catch(() => {})
  }
}

// ---- a directory through generations ------------------------------------------------------------

/**
 * How each generation ends. `killFor(gen, rng, plan)` returns one of
 *   { kind: 'ack', k, tear? }          the writer SIGKILLs itself right after its k-th acknowledgement
 *                                      (k = 0: right after its open); `tear` (power only): a torn cut
 *   { kind: 'issue', k, tear? }        the same, right after it issued its k-th write or checkpoint
 *   { kind: 'bulk-entry', k, tear? }   the same, as the plan's bulk load takes entry k
 *   { kind: 'point', point, n }        the kill point `point`, at its n-th hit
 *   { kind: 'tear-sync', file, n }     (power only) a torn cut as the n-th sync of data.lsp or the log starts
 *   { kind: 'random', afterMs }        wall clock: SIGKILL from the parent afterMs after the store opened
 *   { kind: 'tear', afterMs }          wall clock, power only: a torn cut afterMs after the store opened
 * All but the two wall-clock kinds follow from the seed, so a seed replays the kill (in operation
 * terms: writes in flight at the kill may still have reached the log or not). `replayKillFor(gen,
 * rng)` returns n to crash the next open at its n-th replayed record (the recovery-replay kill
 * point), or undefined. `reach`: the soak's plans (planGeneration). `replay`: a command that runs
 * this directory again, printed with each failure.
 */
export async function runDirectory(spec) {
  const figures = newFigures()
  const failures = []
  const dir = path.join(spec.root, `store-${spec.seed}`)
  const graves = dir + '.graves'
  const journal = dir + '.journal'
  fs.mkdirSync(dir, { recursive: true })
  const history = new History(spec.durability)
  const rng = new Rng(mixSeed(spec.seed, 0x6b1))
  const { KILL_POINTS } = await loadEngine()
  const recoveryReplay = KILL_POINTS.RECOVERY_REPLAY
  const where = (gen, kill) => `[seed ${spec.seed}, ${spec.durability}${spec.power ? ', power loss' : ''}${spec.reach ? ', reach' : ''}, generation ${gen}, ${describeKill(kill)}] ${dir}`
  for (let gen = 0; gen < spec.generations; gen++) {
    const plan = planGeneration(spec.seed, gen, spec.planLength ?? 4000, spec.reach ?? null)
    const kill = spec.killFor(gen, rng, plan)
    const config = { dir, seed: spec.seed, gen, durability: spec.durability, planLength: spec.planLength ?? 4000 }
    if (spec.reach) config.reach = true
    if (spec.overlapBulk) config.overlapBulk = true
    if (SELF_KILLS.has(kill.kind)) config.kill = { after: kill.kind, k: kill.k, tear: spec.power && kill.tear === true }
    if (spec.power) {
      config.power = { journal, graves, tearSeed: mixSeed(spec.seed, gen, 7) }
      if (kill.kind === 'tear') config.power.tearAfterMs = kill.afterMs
      if (kill.kind === 'tear-sync') config.power.tearAtSync = { n: kill.n, pattern: kill.file === 'data' ? 'data\\.lsp' : '\\.wal$' }
      if (kill.kind === 'point') config.power.tearAtKill = rng.chance(0.5)
    }
    const run = await runWriter(config, {
      killPoint: kill.kind === 'point' ? `${kill.point}:${kill.n}` : undefined,
      killAfterMs: kill.kind === 'random' ? kill.afterMs : undefined,
    })
    if (spec.power) powerCut(journal, graves)
    const selfKilled = run.signal === 'SIGKILL' && !run.killedByParent
    if (kill.kind === 'point' && selfKilled) figures.killPointsHit[kill.point] = (figures.killPointsHit[kill.point] ?? 0) + 1
    if ((kill.kind === 'tear' || kill.kind === 'tear-sync') && selfKilled) figures.killPointsHit[kill.kind] = (figures.killPointsHit[kill.kind] ?? 0) + 1
    if (SELF_KILLS.has(kill.kind) && selfKilled) {
      const name = `after-${kill.kind}${kill.tear === true && spec.power ? ' (torn)' : ''}`
      figures.killPointsHit[name] = (figures.killPointsHit[name] ?? 0) + 1
    }
    if (run.stats !== null) {
      figures.evictions += run.stats.evictions
      figures.compactionValuesMoved += run.stats.valuesMoved
      figures.compactionBytesMoved += run.stats.bytesMoved
    }
    if (run.timedOut || run.errors.length > 0 || (run.signal !== 'SIGKILL' && !(run.code === 0 && run.done))) {
      figures.otherFailures++
      failures.push(`${where(gen, kill)}: the writer ended with ${run.code ?? run.signal}${run.timedOut ? ' (timed out)' : ''}; errors: ${run.errors.join('; ')}; stderr: ${run.stderr.slice(0, 2000)}`)
      break
    }
    for (const problem of run.readProblems) failures.push(`${where(gen, kill)}: a read in the writer: ${problem}`)
    figures.wrongValuesReturned += run.readProblems.length
    // Optionally crash the next open during its replay, once or twice, before verifying.
    const replayN = spec.replayKillFor?.(gen, rng)
    if (replayN !== undefined) {
      for (const n of [replayN, replayN + 1]) {
        const replay = await runWriter({ ...config, openOnly: true, power: spec.power ? { journal, graves } : undefined }, { killPoint: `${recoveryReplay}:${n}` })
        if (spec.power) powerCut(journal, graves)
        if (replay.signal === 'SIGKILL' && !replay.killedByParent) figures.killPointsHit[recoveryReplay] = (figures.killPointsHit[recoveryReplay] ?? 0) + 1
        else if (replay.code !== 0) {
          figures.otherFailures++
          failures.push(`${where(gen, kill)}: reopening with ${recoveryReplay}:${n} armed ended with ${replay.code ?? replay.signal}; stderr: ${replay.stderr.slice(0, 2000)}`)
        }
      }
    }
    const generation = { gen, plan, issued: run.issued, acked: run.acked }
    const mode = spec.verifyModeFor?.(gen, rng) ?? (rng.chance(0.6) ? 'readonly' : 'readwrite')
    const { result, error, state } = await verifyDirectory(dir, history, generation, { mode })
    figures.cycles++
    if (error !== null) {
      figures.otherFailures++
      failures.push(`${where(gen, kill)}: ${error}`)
      break
    }
    figures.operationsVerified += result.operations
    figures.acknowledgedWritesVerified += result.ackedWrites
    figures.acknowledgedWritesLost += result.lost
    figures.wrongValuesReturned += result.wrong
    figures.notAPrefix += result.notAPrefix
    if (!result.ok) {
      failures.push(`${where(gen, kill)}: issued ${run.issued}, acknowledged ${run.acked.size} (last ${Math.max(-1, ...run.acked)}): ${result.messages.join(' | ')}`)
      break
    }
    countReach(figures, plan, run, result, state)
    spec.onCycle?.(figures)
  }
  if (spec.replay !== undefined) for (let i = 0; i < failures.length; i++) failures[i] += `\n  replay: ${spec.replay}`
  if (failures.length === 0 && spec.keep !== true) {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(graves, { recursive: true, force: true })
    fs.rmSync(journal, { force: true })
  }
  return { figures, failures, dir, history }
}

/** Kill kinds the writer does to itself at a moment the seed fixes (writer.mjs `kill.after`). */
const SELF_KILLS = new Set(['ack', 'issue', 'bulk-entry'])

/** The soak's figures of reach: bulk loads, MiB values (verified byte for byte by the oracle). */
function countReach(figures, plan, run, result, state) {
  const first = plan.items[0]
  if (first?.t === 'bulk' && run.issued > 0) {
    if (result.n >= 1) {
      figures.bulkLoadsVerified++
      figures.bulkEntriesVerified += first.ops.length
    } else figures.bulkLoadsCutShort++
  }
  for (const value of state.values()) if (value.byteLength >= MIB_VALUE_BYTES) figures.mibValuesVerified++
}

export function describeKill(kill) {
  const torn = kill.tear === true ? 'torn power cut' : 'SIGKILL'
  if (kill.kind === 'ack') return kill.k === 0 ? `${torn} right after the open` : `${torn} after acknowledgement ${kill.k}`
  if (kill.kind === 'issue') return `${torn} after issue ${kill.k}`
  if (kill.kind === 'bulk-entry') return `${torn} at bulk-load entry ${kill.k}`
  if (kill.kind === 'point') return `kill point ${kill.point}:${kill.n}`
  if (kill.kind === 'tear') return `torn power cut after ${kill.afterMs} ms (wall clock)`
  if (kill.kind === 'tear-sync') return `torn power cut at sync ${kill.n} of ${kill.file === 'data' ? 'data.lsp' : 'the log'}`
  return `SIGKILL after ${kill.afterMs} ms (wall clock)`
}

/** Runs `specs` (runDirectory) `concurrency` at a time; sums figures, gathers failures. */
export async function runDirectories(specs, concurrency = 2, onDone) {
  const figures = newFigures()
  const failures = []
  let next = 0
  const worker = async () => {
    while (next < specs.length) {
      const spec = specs[next++]
      const outcome = await runDirectory(spec)
      addFigures(figures, outcome.figures)
      failures.push(...outcome.failures)
      onDone?.(outcome)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker))
  return { figures, failures }
}

/** A fresh temporary directory. */
export function tempRoot(prefix = 'learned-storage-crash-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** A torn power cut during a sync: of the page file (checkpoints; n small) or of the log. */
export function tearSyncKill(rng) {
  return rng.chance(0.5) ? { kind: 'tear-sync', file: 'data', n: rng.range(1, 7) } : { kind: 'tear-sync', file: 'wal', n: rng.range(1, 200) }
}

/**
 * A kill moment drawn from the seed (see runDirectory's `killFor`): after the k-th acknowledgement
 * (60%) or the k-th issued write (40%, writes in flight), k spread about as randomDelayMs's delays
 * were at 'fsync': a sixth within the first 20 (recovery just done, the first writes; k = 0 too),
 * most up to 1,000, a tenth up to `kMax` (a generation's plan has about 3,500 writes; a k past them
 * ends at `done`).
 */
export function seededKill(rng, kMax = 3500) {
  const x = rng.next()
  const k = x < 0.17 ? rng.int(20) : x < 0.9 || kMax <= 1000 ? 20 + rng.int(980) : 1000 + rng.int(kMax - 1000)
  return rng.chance(0.6) ? { kind: 'ack', k } : { kind: 'issue', k: Math.max(1, k) }
}

/** Random kill delays: a third very early (recovery just done, the first writes), the rest spread. */
export function randomDelayMs(rng) {
  return rng.chance(0.3) ? rng.int(30) : 30 + rng.int(500)
}

/** A count for each kill point: how many hits before it fires (it must fire within a generation). */
export function killPointCount(point, rng, KILL_POINTS) {
  switch (point) {
    case KILL_POINTS.WAL_WRITE_TORN:
    case KILL_POINTS.WAL_AFTER_WRITE:
    case KILL_POINTS.WAL_AFTER_SYNC:
      // A group per write or so at 'fsync'; at 'none' a few thousand writes make ~50 groups.
      return rng.range(1, 40)
    case KILL_POINTS.WAL_SEGMENT_CREATED:
      return rng.range(1, 4)
    case KILL_POINTS.STRUCTURE_CHANGE:
      return rng.range(1, 40)
    case KILL_POINTS.POOL_EVICT_WRITE:
    case KILL_POINTS.LEAF_EVICT_WRITE:
      return rng.range(1, 30)
    default:
      return rng.range(1, 3)
  }
}
