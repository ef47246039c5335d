// The crash soak: `npm run crash:soak -- --cycles N [--seed S] [--concurrency C]`.
//
// Runs store directories through generations of writer children killed at random kill points,
// after random delays, or (under power loss) by their own torn power cut at a random moment or as a
// sync starts, at every durability level,
// two directories at a time, verifying every recovery with the same oracle as the CI suite
// (driver.mjs, oracle.mjs); every 25 cycles it also damages copies of a crashed store (corrupt.mjs).
// It ends by printing its figures, and exits 1 if any acknowledged write was lost, any wrong value
// was returned, any corruption went undetected, or anything else failed.
//
// Plain ESM over the built dist/ (`npm run build` first; the npm script does it).

import os from 'node:os'
import fs from 'node:fs'
import cliProgress from 'cli-progress'
import { corruptionTrial, DAMAGE_KINDS, makeCrashedStore } from './corrupt.mjs'
import { killPointCount, loadEngine, randomDelayMs, runDirectory, tearSyncKill, tempRoot } from './driver.mjs'
import { addFigures, newFigures } from './oracle.mjs'
import { Rng, mixSeed } from './workload.mjs'

function parseArgs(argv) {
  const args = { cycles: 200, seed: Date.now() % 1_000_000, concurrency: 2, corruptionEvery: 25 }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]
    const value = Number(argv[i + 1])
    const key = { '--cycles': 'cycles', '--seed': 'seed', '--concurrency': 'concurrency', '--corruption-every': 'corruptionEvery' }[name]
    if (key === undefined || !Number.isInteger(value) || value < 0) {
      console.error(`usage: npm run crash:soak -- --cycles N [--seed S] [--concurrency C] [--corruption-every K]\n(bad argument: ${name} ${argv[i + 1] ?? ''})`)
      process.exit(2)
    }
    args[key] = value
    i++
  }
  return args
}

const args = parseArgs(process.argv.slice(2))
const { KILL_POINTS } = await loadEngine()
const WRITER_POINTS = Object.values(KILL_POINTS).filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)
const root = tempRoot('learned-storage-soak-')
const rng = new Rng(mixSeed(args.seed, 0x50a4))
const figures = newFigures()
const failures = []
const started = Date.now()
let scheduled = 0
let nextSeed = args.seed * 1000
let nextCorruptionAt = args.corruptionEvery
/** Cycles verified so far, across the directories running at once (for the bar). */
let liveCycles = 0

const bar = new cliProgress.SingleBar(
  {
    format: 'crash soak |{bar}| {value}/{total} cycles | {ops} ops | {acked} acked verified | lost {lost} | wrong {wrong} | undetected {undetected} | failures {failures} | {duration_formatted}',
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 15_000,
  },
  cliProgress.Presets.shades_classic,
)
bar.start(args.cycles, 0, payload())

function payload() {
  return {
    ops: figures.operationsVerified,
    acked: figures.acknowledgedWritesVerified,
    lost: figures.acknowledgedWritesLost,
    wrong: figures.wrongValuesReturned,
    undetected: figures.corruptionsUndetected,
    failures: failures.length,
  }
}

/** A random directory: durability, power loss, generations, and how each generation ends. */
function nextSpec(generations) {
  const durability = rng.pick(['fsync', 'fsync', 'os', 'none'])
  const power = durability === 'fsync' && rng.chance(0.4)
  return {
    root,
    seed: nextSeed++,
    durability,
    power,
    generations,
    killFor: (_gen, r) => {
      const x = r.next()
      if (power && x < 0.15) return { kind: 'tear', afterMs: randomDelayMs(r) }
      if (power && x < 0.3) return tearSyncKill(r)
      if (x < 0.6) {
        const point = r.pick(WRITER_POINTS)
        return { kind: 'point', point, n: killPointCount(point, r, KILL_POINTS) }
      }
      return { kind: 'random', afterMs: randomDelayMs(r) }
    },
    replayKillFor: (_gen, r) => (r.chance(0.15) ? 1 + r.int(10) : undefined),
    onCycle: () => {
      liveCycles++
      bar.update(liveCycles, payload())
    },
  }
}

async function corruptionBatch(seed) {
  const durability = rng.pick(['fsync', 'os', 'none'])
  const store = await makeCrashedStore(root, seed, { durability, killAfterMs: 50 + rng.int(500) })
  const trialRng = new Rng(mixSeed(seed, 0xc0))
  for (let t = 0; t < 6; t++) {
    const kind = trialRng.pick(DAMAGE_KINDS)
    const o = await corruptionTrial(store, root, trialRng, kind)
    figures.corruptionTrials++
    if (o.outcome === 'detected') figures.corruptionsDetected++
    else if (o.outcome === 'undetected') {
      figures.corruptionsUndetected++
      figures.wrongValuesReturned += o.wrong
      failures.push(`corruption undetected (${kind}): ${o.detail}`)
    } else if (o.outcome === 'untyped' || o.outcome === 'unnamed') {
      figures.otherFailures++
      failures.push(`corruption ${o.outcome} (${kind}): ${o.detail}`)
    }
  }
  fs.rmSync(store.dir, { recursive: true, force: true })
}

async function worker() {
  while (scheduled < args.cycles) {
    if (liveCycles >= nextCorruptionAt && args.corruptionEvery > 0) {
      nextCorruptionAt += args.corruptionEvery
      await corruptionBatch(nextSeed++)
      continue
    }
    const generations = Math.min(args.cycles - scheduled, 3 + rng.int(6))
    scheduled += generations
    const outcome = await runDirectory(nextSpec(generations))
    addFigures(figures, outcome.figures)
    failures.push(...outcome.failures)
    // A directory that failed ends early: count its missing generations as cycles not run.
    if (outcome.figures.cycles < generations) scheduled -= generations - outcome.figures.cycles
    if (failures.length > 20) scheduled = args.cycles
    bar.update(liveCycles, payload())
  }
}

let interrupted = false
process.on('SIGINT', () => {
  interrupted = true
  finish()
})

await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, worker))
finish()

function finish() {
  bar.stop()
  const seconds = (Date.now() - started) / 1000
  for (const failure of failures.slice(0, 20)) console.log(`FAILURE: ${failure}\n`)
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu'
  const line = (name, value) => console.log(`  ${name.padEnd(37)} ${value}`)
  console.log(`\ncrash soak${interrupted ? ' (interrupted)' : ''}: seed ${args.seed}, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} x ${cpu}, node ${process.version}, ${seconds.toFixed(0)} s`)
  line('cycles', figures.cycles)
  line('operations verified', figures.operationsVerified)
  line('acknowledged writes verified', figures.acknowledgedWritesVerified)
  line('acknowledged writes lost', figures.acknowledgedWritesLost)
  line('wrong values returned', figures.wrongValuesReturned)
  line('corruptions undetected', figures.corruptionsUndetected)
  line('(states not a prefix of the issued)', figures.notAPrefix)
  line('(other failures)', figures.otherFailures)
  line('(corruption trials, detected)', `${figures.corruptionTrials}, ${figures.corruptionsDetected}`)
  line('(kill points hit)', Object.entries(figures.killPointsHit).sort().map(([p, n]) => `${p} ${n}`).join(', '))
  const bad = figures.acknowledgedWritesLost + figures.wrongValuesReturned + figures.corruptionsUndetected + figures.notAPrefix + figures.otherFailures + failures.length
  if (bad === 0) fs.rmSync(root, { recursive: true, force: true })
  else console.log(`\nthe failing directories are kept under ${root}`)
  process.exit(bad === 0 && !interrupted ? 0 : 1)
}
