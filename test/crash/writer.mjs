// The crash suite's writer: a child process that opens a store and runs one generation's plan
// (workload.mjs) until it is killed. Run by driver.mjs as
//   node writer.mjs '<json config>'
// Config: { dist (file URL of the built dist/ directory), dir, seed, gen, durability, planLength,
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
//   done       the plan ran out; the writer waits to be killed
// With `power`, the store runs over CrashFileSystem holding unsynced writes in memory and journaling
// directory changes (crash-fs.mjs); with `tearAfterMs` it tears its unsynced writes and kills itself
// at that moment, with `tearAtSync` as that sync starts, with `tearAtKill` when a kill point fires. With `openOnly`, it opens (recovers) and exits without closing.
// Kill points are armed by the parent through LEARNED_STORAGE_KILL_POINT.

import fs from 'node:fs'
import { CrashFileSystem } from './crash-fs.mjs'
import { Rng, STORE_OPTIONS, executePlan, planGeneration } from './workload.mjs'

const config = JSON.parse(process.argv[2])

function say(line) {
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

// Never outlive the parent.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()

const { openWithFileSystem } = await import(new URL('store/store.js', config.dist).href)
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
    const kill = process.kill.bind(process)
    process.kill = (pid, signal) => (pid === process.pid && signal === 'SIGKILL' ? fileSystem.tearAndDie(rng) : kill(pid, signal))
  }
}
const plan = planGeneration(config.seed, config.gen, config.planLength)
const db = await openWithFileSystem(config.dir, { ...STORE_OPTIONS, durability: config.durability, checkpointIntervalMs: plan.checkpointIntervalMs }, fileSystem)
const stats = db.stats()
say(`o ${JSON.stringify({ lastLsn: stats.wal.lastLsn, recovery: stats.recovery })}`)
if (config.openOnly === true) process.exit(0)

if (config.power?.tearAfterMs !== undefined) {
  const rng = new Rng(config.power.tearSeed)
  setTimeout(() => fileSystem.tearAndDie(rng), config.power.tearAfterMs)
}

const { firstError } = await executePlan(db, config.gen, plan, say)
if (firstError !== null) process.exit(3)
say('done')
