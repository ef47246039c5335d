// The crash suite's writer: a child process that opens a store and runs one generation's plan
// (workload.mjs) until it is killed. Run by driver.mjs as
//   node writer.mjs '<json config>'
// Config: { dist (file URL of the built dist/ directory), dir, seed, gen, durability, planLength,
//   reach? (the soak's plans: planGeneration's `reach`), overlapBulk? (executePlan's),
//   kill?: { after: 'ack' | 'issue' | 'bulk-entry', k, tear? },
//   power?: { journal, graves, tearAfterMs?, tearAtSync?: { n, pattern }, tearAtKill?, tearSeed? },
//   openOnly? }.
//
// It reports on stdout, one line each, written synchronously before it goes on, so that a line
// written before a kill always reaches the parent (the pipe keeps it):
//   o <json>   the store is open: { lastLsn, recovery }
//   s <i>      plan item i (a write or checkpoint) is about to be issued
//   a <i>      write i resolved (acknowledged);  c <i>  checkpoint i resolved
//   e <i> <code> <message>   item i was rejected (then the writer exits with code 3)
//   x <i> <what>             a read returned a value that the writes issued cannot explain
//   r <i> <code> <message>   a read threw
//   m <json>   its figures so far, from stats(): { evictions, checkpoints, valuesMoved, bytesMoved,
//              leavesCompacted } (after each checkpoint it issued resolved, every 128th acknowledgement,
//              and before `done`)
//   done       the plan ran out; the writer waits to be killed
// With `power`, the store runs over CrashFileSystem holding unsynced writes in memory and journaling
// directory changes (crash-fs.mjs); with `tearAfterMs` it tears its unsynced writes and kills itself
// at that moment, with `tearAtSync` as that sync starts, with `tearAtKill` when a kill point fires. With `openOnly`, it opens (recovers) and exits without closing.
// Kill points are armed by the parent through LEARNED_STORAGE_KILL_POINT.
//
// With `kill`, the writer kills itself (SIGKILL to its own pid, synchronously; with `tear` and
// `power`, a torn power cut) at a moment the seed fixes, not the clock: right after it wrote the k-th
// acknowledgement line (`after: 'ack'`; k = 0: right after the `o` line, recovery just done), right
// after it issued its k-th write or checkpoint (`'issue'`: with the writes still in flight), or as
// the bulk load takes its k-th entry (`'bulk-entry'`: values on pages, no checkpoint yet). So a seed
// replays the same kill, in operation terms (what was in flight may still have reached the log or not).

import fs from 'node:fs'
import { CrashFileSystem } from './crash-fs.mjs'
import { Rng, STORE_OPTIONS, executePlan, planGeneration } from './workload.mjs'

const config = JSON.parse(process.argv[2])
const kill = config.kill
let acks = 0
let issues = 0
/** Called once the store is open: the figures line (`m`). */
let reportFigures = () => {}

function say(line) {
  writeLine(line)
  if (line.charCodeAt(0) === 0x61 /* a */) {
    acks++
    if (acks % 128 === 0) reportFigures()
    if (kill?.after === 'ack' && acks === kill.k) die()
  } else if (line.charCodeAt(0) === 0x63 /* c */) reportFigures()
}

function writeLine(line) {
  const bytes = Buffer.from(line + '\n')
  let done = 0
  while (done < bytes.length) {
    try {
      done += fs.writeSync(1, bytes, done, bytes.length - done)
    } catch (error) {
      if (error.code !== 'EAGAIN') throw error
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}

const killSelf = process.kill.bind(process)
/** The self-inflicted end: SIGKILL, or under `power` with `tear`, a torn power cut. */
let die = () => killSelf(process.pid, 'SIGKILL')

// Never outlive the parent.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()

const { openWithFileSystem } = await import(new URL('store/open.js', config.dist).href)
const fileModule = await import(new URL('io/file.js', config.dist).href)

let fileSystem = fileModule.realFileSystem
if (config.power !== undefined) {
  const { journal, graves, tearAtSync, tearSeed, tearAtKill } = config.power
  const rng = new Rng(tearSeed ?? 1)
  const options = { holdUnsynced: true, journalPath: journal, graveDir: graves }
  if (tearAtSync !== undefined) options.tearAtSync = { n: tearAtSync.n, pattern: new RegExp(tearAtSync.pattern), rng }
  fileSystem = new CrashFileSystem(fileModule, options)
  if (tearAtKill === true) {
    // A kill point SIGKILLs this process: make that a torn power cut too.
    process.kill = (pid, signal) => (pid === process.pid && signal === 'SIGKILL' ? fileSystem.tearAndDie(rng) : killSelf(pid, signal))
  }
  const crashFs = fileSystem
  if (kill?.tear === true) die = () => crashFs.tearAndDie(rng)
}
const plan = planGeneration(config.seed, config.gen, config.planLength, config.reach ?? null)
const db = await openWithFileSystem(
  config.dir,
  { ...STORE_OPTIONS, durability: config.durability, checkpointIntervalMs: plan.checkpointIntervalMs, cacheBytes: plan.cacheBytes },
  fileSystem,
)
const stats = db.stats()
say(`o ${JSON.stringify({ lastLsn: stats.wal.lastLsn, recovery: stats.recovery })}`)
if (config.openOnly === true) process.exit(0)
reportFigures = () => {
  const s = db.stats()
  writeLine(`m ${JSON.stringify({ evictions: s.bufferPool.evictions, checkpoints: s.checkpoints, valuesMoved: s.compaction.valuesMoved, bytesMoved: s.compaction.bytesMoved, leavesCompacted: s.compaction.leavesCompacted })}`)
}
if (kill?.after === 'ack' && kill.k === 0) die()

if (config.power?.tearAfterMs !== undefined) {
  const rng = new Rng(config.power.tearSeed)
  setTimeout(() => fileSystem.tearAndDie(rng), config.power.tearAfterMs)
}

const onIssued =
  kill?.after === 'issue'
    ? () => {
        if (++issues === kill.k) die()
      }
    : undefined
const onBulkEntry = kill?.after === 'bulk-entry' ? (_i, j) => j === kill.k && die() : undefined
const { firstError } = await executePlan(db, config.gen, plan, say, { onIssued, onBulkEntry, overlapBulk: config.overlapBulk === true })
if (firstError !== null) process.exit(3)
reportFigures()
say('done')
