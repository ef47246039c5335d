// The crash soak: `npm run crash:soak -- --cycles N [--seed S] [--concurrency C] [--corruption-every K]
// [--wall-clock P] [--replay S:I]` (the FLAGS table below).
//
// Runs store directories through generations of writer children killed at moments their seed fixes
// (right after the k-th acknowledgement or the k-th issued write, mid bulk load, at the n-th hit of a
// kill point, or, under power loss, by their own torn power cut at such a moment or as the n-th sync
// starts), at every durability level, two directories at a time, verifying every recovery with the
// same oracle as the CI suite (driver.mjs, oracle.mjs); after every K directories it also damages
// copies of a crashed store (corrupt.mjs). The plans have the soak's reach (workload.mjs): a bulk
// load (both forms) at generation 0 of a third of the directories, values of 1-3 MiB, a buffer pool
// of 8-16 pages under a data set of many MB, and the compaction every checkpoint runs.
//
// Replay. The run is a sequence of slots (a directory, or a corruption batch); slot I of seed S is a
// function of (S, I) alone, whatever ran beside it, so each failure prints the command that runs its
// slot again: `node test/crash/soak.mjs --replay S:I` (a corruption batch's store crashes after the
// k-th acknowledgement too). Kills timed by the wall clock (`--wall-clock P`, off by default) are
// marked as such: their replay
// runs the same plans, not the same moment.
//
// It ends by printing its figures, and exits 1 if any acknowledged write was lost, any wrong value
// was returned, any corruption went undetected, a run of 100 cycles or more never compacted, bulk
// loaded or verified a MiB value, or anything else failed.
//
// Plain ESM over the built dist/ (`npm run build` first; the npm script does it).

import os from 'node:os'
import fs from 'node:fs'
import cliProgress from 'cli-progress'
import { corruptionTrial, DAMAGE_KINDS, makeCrashedStore } from './corrupt.mjs'
import { killPointCount, loadEngine, randomDelayMs, runDirectory, seededKill, tearSyncKill, tempRoot } from './driver.mjs'
import { fuzzTrials } from './fuzz.mjs'
import { addFigures, newFigures } from './oracle.mjs'
import { Rng, mixSeed } from './workload.mjs'

// ---- arguments ----------------------------------------------------------------------------------

const count = (text) => (/^\d+$/.test(text ?? '') ? Number(text) : undefined)
const share = (text) => (/^(0(\.\d+)?|1(\.0*)?)$/.test(text ?? '') ? Number(text) : undefined)
const slotRef = (text) => {
  const m = /^(\d+):(\d+)$/.exec(text ?? '')
  return m === null ? undefined : { seed: Number(m[1]), slot: Number(m[2]) }
}

/** Every flag: one row each (a new one, e.g. `--fuzz N`, is a row here and its use below). */
const FLAGS = [
  { flag: '--cycles', key: 'cycles', arg: 'N', parse: count, initial: 200, help: 'kill cycles (generations) to run' },
  { flag: '--seed', key: 'seed', arg: 'S', parse: count, initial: Date.now() % 1_000_000, help: 'the run (printed at the end)' },
  { flag: '--concurrency', key: 'concurrency', arg: 'C', parse: count, initial: 2, help: 'directories at a time' },
  { flag: '--corruption-every', key: 'corruptionEvery', arg: 'K', parse: count, initial: 5, help: 'a corruption batch after every K directories (0: none)' },
  { flag: '--wall-clock', key: 'wallClock', arg: 'P', parse: share, initial: 0, help: 'share of kills timed by the wall clock (not replayable)' },
  { flag: '--replay', key: 'replay', arg: 'S:I', parse: slotRef, initial: null, help: 'run slot I of seed S alone (a failure prints this)' },
  { flag: '--fuzz', key: 'fuzz', arg: 'N', parse: count, initial: 0, help: 'then N crafted-file trials, C at a time (fuzz.mjs; replay one: node test/crash/fuzz.mjs --seed S --from T --trials 1)' },
]

function parseArgs(argv) {
  const args = Object.fromEntries(FLAGS.map((f) => [f.key, f.initial]))
  const usage = (problem) => {
    const text = `usage: npm run crash:soak -- [flags]\n${FLAGS.map((f) => `  ${`${f.flag} ${f.arg}`.padEnd(24)} ${f.help} (default ${f.key === 'seed' ? 'from the clock' : f.initial})`).join('\n')}`
    if (problem === null) {
      console.log(text)
      process.exit(0)
    }
    console.error(`${text}\n(${problem})`)
    process.exit(2)
  }
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--help') usage(null)
    const flag = FLAGS.find((f) => f.flag === argv[i])
    if (flag === undefined) usage(`unknown argument: ${argv[i]}`)
    const value = flag.parse(argv[i + 1])
    if (value === undefined) usage(`bad value for ${argv[i]}: ${argv[i + 1] ?? '(none)'}`)
    args[flag.key] = value
  }
  if (args.replay !== null) args.seed = args.replay.seed
  return args
}

const args = parseArgs(process.argv.slice(2))
const { KILL_POINTS } = await loadEngine()
const WRITER_POINTS = Object.values(KILL_POINTS).filter((p) => p !== KILL_POINTS.RECOVERY_REPLAY)
/** Kill points inside a bulk load's checkpoint (its second: a new store's first is its creation). */
const BULK_POINTS = [KILL_POINTS.CHECKPOINT_AFTER_PAGES, KILL_POINTS.CHECKPOINT_META_TORN, KILL_POINTS.CHECKPOINT_AFTER_META]
const root = tempRoot('learned-storage-soak-')

// ---- slots: a pure function of (seed, index) -----------------------------------------------------

/** The command that runs slot `index` again (with the flags that shape slots). */
function replayCommand(index) {
  const shaping = FLAGS.filter((f) => (f.key === 'corruptionEvery' || f.key === 'wallClock') && args[f.key] !== f.initial).map((f) => ` ${f.flag} ${args[f.key]}`)
  const dist = process.env.LEARNED_STORAGE_CRASH_DIST ? `LEARNED_STORAGE_CRASH_DIST=${process.env.LEARNED_STORAGE_CRASH_DIST} ` : ''
  return `${dist}node test/crash/soak.mjs --replay ${args.seed}:${index}${shaping.join('')}`
}

/** Slot `index`: { kind: 'corruption', seed, durability, killAfterAck } or { kind: 'directory', spec }. */
function slotAt(index) {
  const rng = new Rng(mixSeed(args.seed, index, 0x50a4))
  const seed = args.seed * 100_000 + index
  const every = args.corruptionEvery
  if (every > 0 && (index + 1) % (every + 1) === 0) {
    return { kind: 'corruption', index, seed, durability: rng.pick(['fsync', 'os', 'none']), killAfterAck: 1 + rng.int(1500) }
  }
  const durability = rng.pick(['fsync', 'fsync', 'os', 'none'])
  const power = durability === 'fsync' && rng.chance(0.4)
  const spec = {
    root,
    seed,
    durability,
    power,
    reach: true,
    // Half the directories issue writes beside their bulk load (held until it is durable).
    overlapBulk: seed % 2 === 0,
    generations: 3 + rng.int(6),
    replay: replayCommand(index),
    killFor: (_gen, r, plan) => killFor(r, plan, power),
    replayKillFor: (_gen, r) => (r.chance(0.15) ? 1 + r.int(10) : undefined),
  }
  return { kind: 'directory', index, spec }
}

/** How a generation ends: all from the seed, but for the `--wall-clock` share. */
function killFor(r, plan, power) {
  if (args.wallClock > 0 && r.chance(args.wallClock)) return power && r.chance(0.5) ? { kind: 'tear', afterMs: randomDelayMs(r) } : { kind: 'random', afterMs: randomDelayMs(r) }
  const first = plan.items[0]
  if (first?.t === 'bulk' && r.chance(0.6)) {
    // Around the bulk load: mid-load, right after its pages are written, in its checkpoint, just after it.
    const y = r.next()
    const tear = power && r.chance(0.5)
    if (y < 0.35) return { kind: 'bulk-entry', k: r.int(first.ops.length), tear }
    if (y < 0.5) return { kind: 'issue', k: 1, tear }
    if (y < 0.8) return { kind: 'point', point: r.pick(BULK_POINTS), n: 2 }
    return { kind: 'ack', k: 1 + r.int(3), tear }
  }
  const x = r.next()
  if (power && x < 0.15) return { ...seededKill(r), tear: true }
  if (power && x < 0.3) return tearSyncKill(r)
  if (x < 0.6) {
    const point = r.pick(WRITER_POINTS)
    return { kind: 'point', point, n: killPointCount(point, r, KILL_POINTS) }
  }
  return seededKill(r)
}

// ---- running ------------------------------------------------------------------------------------

const figures = newFigures()
const failures = []
/** The fuzzer's figures once `--fuzz N` ran. */
let fuzzFigures = null
const started = Date.now()
let scheduled = 0
let nextSlot = 0
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

async function corruptionBatch(slot) {
  const where = `slot ${slot.index}, seed ${slot.seed}, ${slot.durability}, the store crashed after acknowledgement ${slot.killAfterAck}`
  const replay = `\n  replay: ${replayCommand(slot.index)}`
  let store
  try {
    store = await makeCrashedStore(root, slot.seed, { durability: slot.durability, killAfterAck: slot.killAfterAck })
  } catch (error) {
    // The crashed store failed its own verification (or the writer failed) before any damage.
    figures.otherFailures++
    failures.push(`corruption batch [${where}]: ${String(error?.message ?? error).slice(0, 2000)}${replay}`)
    return
  }
  const trialRng = new Rng(mixSeed(slot.seed, 0xc0))
  for (let t = 0; t < 6; t++) {
    const kind = trialRng.pick(DAMAGE_KINDS)
    const o = await corruptionTrial(store, root, trialRng, kind)
    figures.corruptionTrials++
    if (o.outcome === 'detected') figures.corruptionsDetected++
    else if (o.outcome === 'undetected') {
      figures.corruptionsUndetected++
      figures.wrongValuesReturned += o.wrong
      failures.push(`corruption undetected (${kind}, trial ${t}) [${where}]: ${o.detail}${replay}`)
    } else if (o.outcome === 'untyped' || o.outcome === 'unnamed') {
      figures.otherFailures++
      failures.push(`corruption ${o.outcome} (${kind}, trial ${t}) [${where}]: ${o.detail}${replay}`)
    }
  }
  fs.rmSync(store.dir, { recursive: true, force: true })
}

async function runSlot(slot, generations) {
  if (slot.kind === 'corruption') return corruptionBatch(slot)
  const spec = { ...slot.spec, generations, keep: args.replay !== null }
  spec.onCycle = () => {
    liveCycles++
    bar.update(liveCycles, payload())
  }
  const outcome = await runDirectory(spec)
  addFigures(figures, outcome.figures)
  failures.push(...outcome.failures)
  return outcome
}

async function worker() {
  while (scheduled < args.cycles) {
    const slot = slotAt(nextSlot++)
    if (slot.kind === 'corruption') {
      await runSlot(slot)
      continue
    }
    const generations = Math.min(args.cycles - scheduled, slot.spec.generations)
    scheduled += generations
    const outcome = await runSlot(slot, generations)
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

if (args.replay !== null) {
  const slot = slotAt(args.replay.slot)
  const generations = slot.kind === 'directory' ? slot.spec.generations : 0
  console.log(`replaying slot ${args.replay.slot} of seed ${args.seed}: ${slot.kind === 'directory' ? `${generations} generations, seed ${slot.spec.seed}, ${slot.spec.durability}${slot.spec.power ? ', power loss' : ''}` : 'a corruption batch'}`)
  bar.start(generations, 0, payload())
  const outcome = await runSlot(slot, generations)
  if (outcome !== undefined) console.log(`\nthe directory is kept: ${outcome.dir}`)
} else {
  bar.start(args.cycles, 0, payload())
  await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, worker))
  if (args.fuzz > 0 && failures.length <= 20 && !interrupted) await fuzz()
}
finish()

/** The crafted-file fuzzer's long run (`--fuzz N`): its trials come from the soak's seed. */
async function fuzz() {
  bar.stop()
  const fuzzBar = new cliProgress.SingleBar(
    { format: 'fuzz |{bar}| {value}/{total} trials | failed {failed} | {duration_formatted}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 15_000 },
    cliProgress.Presets.shades_classic,
  )
  let failed = 0
  let done = 0
  fuzzBar.start(args.fuzz, 0, { failed })
  fuzzFigures = await fuzzTrials({
    root,
    seed: args.seed,
    trials: args.fuzz,
    jobs: Math.max(1, args.concurrency),
    onTrial: (t) => {
      done++
      if (t.problems.length > 0) {
        failed++
        if (failures.length <= 20) {
          failures.push(`fuzz trial ${t.trial} (${t.shape}, ${t.field} @${t.file}+${t.offset}: ${t.truth} -> ${t.value}): ${t.problems.join(' | ').slice(0, 2000)}\n  replay: node test/crash/fuzz.mjs --seed ${t.seed} --from ${t.trial} --trials 1`)
        }
      }
      fuzzBar.update(done, { failed })
    },
  })
  fuzzBar.stop()
}

function finish() {
  bar.stop()
  const seconds = (Date.now() - started) / 1000
  // A run long enough must have reached every corner it is built to reach.
  if (args.replay === null && !interrupted && figures.cycles >= 100) {
    if (figures.compactionValuesMoved === 0) failures.push(`compaction never moved a value in ${figures.cycles} cycles (the writers' stats().compaction)`)
    if (figures.bulkLoadsVerified === 0) failures.push(`no bulk load was verified in ${figures.cycles} cycles`)
    if (figures.mibValuesVerified === 0) failures.push(`no value of 1 MiB or more was verified in ${figures.cycles} cycles`)
  }
  for (const failure of failures.slice(0, 20)) console.log(`FAILURE: ${failure}\n`)
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu'
  const line = (name, value) => console.log(`  ${name.padEnd(37)} ${value}`)
  const mib = (bytes) => (bytes / 1048576).toFixed(1)
  const what = args.replay === null ? `seed ${args.seed}` : `replay of slot ${args.replay.slot} of seed ${args.seed}`
  console.log(`\ncrash soak${interrupted ? ' (interrupted)' : ''}: ${what}, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} x ${cpu}, node ${process.version}, ${seconds.toFixed(0)} s (${(figures.cycles / seconds).toFixed(2)} cycles/s)`)
  line('cycles', figures.cycles)
  line('operations verified', figures.operationsVerified)
  line('acknowledged writes verified', figures.acknowledgedWritesVerified)
  line('acknowledged writes lost', figures.acknowledgedWritesLost)
  line('wrong values returned', figures.wrongValuesReturned)
  line('corruptions undetected', figures.corruptionsUndetected)
  line('(states not a prefix of the issued)', figures.notAPrefix)
  line('(other failures)', figures.otherFailures)
  line('(corruption trials, detected)', `${figures.corruptionTrials}, ${figures.corruptionsDetected}`)
  line('(bulk loads verified whole)', `${figures.bulkLoadsVerified} (${figures.bulkEntriesVerified} entries); ${figures.bulkLoadsCutShort} killed before their checkpoint, found absent`)
  line('(MiB values verified)', figures.mibValuesVerified)
  line('(buffer-pool evictions)', figures.evictions)
  line('(compaction: values moved)', `${figures.compactionValuesMoved} (${mib(figures.compactionBytesMoved)} MiB)`)
  line('(kills)', Object.entries(figures.killPointsHit).sort().map(([p, n]) => `${p} ${n}`).join(', '))
  if (fuzzFigures !== null) {
    const f = fuzzFigures
    line('fuzz trials', `${f.trials} (${(f.trials / (f.ms / 1000)).toFixed(1)}/s)`)
    line('fuzz: hangs over 2 s', f.hangs)
    line('fuzz: allocations or growth over 64 MiB', f.memoryOverLimit)
    line('fuzz: wrong values', f.wrongValues)
    line('fuzz: files changed by a failed open', f.changedFiles)
    line('fuzz: untyped / other code / unnamed', `${f.untyped} / ${f.otherCode} / ${f.unnamed}`)
    line('(fuzz: right data, CORRUPTION, FORMAT_VERSION)', `${f.rightData}, ${f.corruption}, ${f.version}`)
    line('(fuzz: allowed older state, moved handle)', `${f.older}, ${f.handleMoved}`)
    line('(fuzz: failed trials)', f.failures.length)
  }
  const bad = figures.acknowledgedWritesLost + figures.wrongValuesReturned + figures.corruptionsUndetected + figures.notAPrefix + figures.otherFailures + failures.length
  if (bad === 0 && args.replay === null) fs.rmSync(root, { recursive: true, force: true })
  else console.log(`\n${args.replay === null ? 'the failing directories are kept' : 'kept'} under ${root}`)
  process.exit(bad === 0 && !interrupted ? 0 : 1)
}

