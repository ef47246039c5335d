/**
 * Recovery after a kill with a long log: a child process (store-wal-child.ts) writes `records` single
 * put()s into a new store at durability 'os' with the checkpoint triggers out of reach, so every
 * record is only in the WAL; once it prints that all resolved, we SIGKILL it and time open() of the
 * directory it left (store defaults: durability 'fsync', 64 MiB cache).
 *
 *   - open() is timed `repetitions` times: first on the killed directory itself, then on byte copies
 *     of it made right after the kill (before any open touched it), so every open replays the same log.
 *   - each open must replay exactly `records` records and hold exactly `records` keys; a sample of keys
 *     is read back with their values; the first open also checks every entry with one full range().
 *   - rates: replayedRecords / open() wall time (what a user waits for; the target) and
 *     replayedRecords / stats().recovery.replayMs (the log replay alone).
 */
import { spawn } from 'node:child_process'
import { cpSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { collectGarbage, heldBytes, median } from '../measure.js'
import { Prng } from '../prng.js'
import type { RecoveryOpen, RecoveryResult, VerificationResult, WalChildReport } from './results.js'
import type { BenchStore, OpenStore } from './store-api.js'
import { describeError, makeDirectory, removeDirectory, yieldToEventLoop } from './suite.js'
import { expectedChecksum, valueChecksum, valueIndex } from './values.js'
import { RECOVERY_VERSION, WAL_CHILD_DONE_PREFIX, makeShuffledKeys } from './wal-plans.js'

export interface RecoverySettings {
  records: number
  /** put()s the child keeps in flight. */
  writers: number
  seed: number
  /** Timed opens: the killed directory, then copies of it. */
  repetitions: number
  /** Keys read back after every open. */
  sampleCount: number
  /** The child must have written everything by then. */
  childTimeoutMs: number
}

type Log = (line: string) => void

const CHILD_SCRIPT = fileURLToPath(new URL('../../store-wal-child.js', import.meta.url))

export async function runRecovery(open: OpenStore, settings: RecoverySettings, log: Log): Promise<RecoveryResult> {
  const result: RecoveryResult = {
    records: settings.records,
    opens: [],
    openMsMedian: Number.NaN,
    replayMsMedian: Number.NaN,
    recordsPerSecondByOpen: Number.NaN,
    recordsPerSecondByReplay: Number.NaN,
    verifications: [],
  }
  const directory = makeDirectory()
  try {
    const storeDir = path.join(directory, 'killed')
    log(`  child: ${settings.records} single puts, ${settings.writers} in flight, durability 'os', no checkpoint after creation ...`)
    const { report, exit } = await writeAndKill(storeDir, settings)
    result.child = report
    result.childExit = exit
    log(
      `  child wrote ${report.records} records in ${report.seconds.toFixed(2)} s (${Math.round(report.putsPerSecond)} puts/s, ${report.groups} log writes), ` +
        `log ${(report.walFileBytes / 2 ** 20).toFixed(1)} MiB in ${report.walSegments} segment(s), page file ${(report.dataFileBytes / 2 ** 20).toFixed(1)} MiB; killed (${exit})`,
    )
    const childCheck: VerificationResult = { check: 'writer child: every put durable at its level, no checkpoint after creation', checked: 1, mismatches: 0 }
    if (report.durableLsn !== report.lastLsn || report.checkpoints !== 0 || exit !== 'SIGKILL') {
      childCheck.mismatches = 1
      childCheck.firstMismatch = `child: lastLsn ${report.lastLsn}, durableLsn ${report.durableLsn}, checkpoints after open ${report.checkpoints}, ended by ${exit}`
    }
    result.verifications.push(childCheck)

    const copies = [storeDir]
    for (let r = 1; r < settings.repetitions; r++) {
      const copy = path.join(directory, `copy-${r}`)
      cpSync(storeDir, copy, { recursive: true })
      copies.push(copy)
    }
    const keys = makeShuffledKeys(settings.records, settings.seed, 'recovery')
    const sample = new Prng(settings.seed, `store:recovery:sample:${settings.records}`)
    const replayCheck: VerificationResult = { check: `every open after the kill replays ${settings.records} records and holds ${settings.records} keys`, checked: 0, mismatches: 0 }
    const sampleCheck: VerificationResult = { check: 'sampled gets after recovery', checked: 0, mismatches: 0 }
    result.verifications.push(replayCheck, sampleCheck)
    for (let r = 0; r < copies.length; r++) {
      const dir = copies[r]!
      await yieldToEventLoop()
      collectGarbage()
      const heldBefore = heldBytes()
      const start = performance.now()
      const db = await open(dir)
      const openMs = performance.now() - start
      try {
        collectGarbage()
        const heldAfterOpenBytes = heldBytes() - heldBefore
        const stats = db.stats()
        const rec = stats.recovery
        replayCheck.checked++
        if (rec.replayedRecords !== settings.records || stats.records !== settings.records) {
          replayCheck.mismatches++
          replayCheck.firstMismatch ??= `${r === 0 ? 'killed directory' : `copy ${r}`}: replayed ${rec.replayedRecords} records, holds ${stats.records} keys; expected ${settings.records}`
        }
        checkSample(db, keys, settings, sample, sampleCheck)
        if (r === 0) result.verifications.push(checkEverything(db, keys, settings))
        const closeStart = performance.now()
        await db.close()
        const opened: RecoveryOpen = {
          copy: r === 0 ? 'original' : `copy ${r}`,
          openMs,
          replayedRecords: rec.replayedRecords,
          replayMs: rec.replayMs,
          droppedBytes: rec.droppedBytes,
          stoppedBecause: rec.stoppedBecause,
          leakedPages: rec.leakedPages,
          records: stats.records,
          heldAfterOpenBytes,
          closeMs: performance.now() - closeStart,
        }
        result.opens.push(opened)
        log(
          `  open ${r + 1}/${copies.length} (${opened.copy}): ${openMs.toFixed(0)} ms, replay ${rec.replayMs.toFixed(0)} ms, ${rec.replayedRecords} records replayed ` +
            `= ${Math.round(rec.replayedRecords / (openMs / 1000))} records/s by open(); dropped ${rec.droppedBytes} B, leaked pages ${rec.leakedPages}` +
            `${rec.stoppedBecause === null ? '' : `, stopped because: ${rec.stoppedBecause}`}; close ${opened.closeMs.toFixed(0)} ms`,
        )
      } finally {
        if (!db.isClosed) await db.close().catch(() => undefined)
      }
      if (r > 0) removeDirectory(dir)
    }
    result.openMsMedian = median(result.opens.map((o) => o.openMs))
    result.replayMsMedian = median(result.opens.map((o) => o.replayMs))
    const replayed = median(result.opens.map((o) => o.replayedRecords))
    result.recordsPerSecondByOpen = replayed / (result.openMsMedian / 1000)
    result.recordsPerSecondByReplay = replayed / (result.replayMsMedian / 1000)
  } catch (error) {
    result.error = describeError(error)
    log(`  !! recovery: ${result.error}`)
  } finally {
    removeDirectory(directory)
  }
  return result
}

/** Spawns the writer child, waits for its done line, SIGKILLs it and waits for it to exit. */
async function writeAndKill(storeDir: string, settings: RecoverySettings): Promise<{ report: WalChildReport; exit: string }> {
  const child = spawn(process.execPath, [CHILD_SCRIPT, storeDir, String(settings.records), String(settings.writers), String(settings.seed)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit code ${code}`)))
  try {
    const report = await new Promise<WalChildReport>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the writer child did not finish within ${settings.childTimeoutMs / 1000} s`)), settings.childTimeoutMs)
      const lines = createInterface({ input: child.stdout })
      lines.on('line', (line) => {
        if (!line.startsWith(WAL_CHILD_DONE_PREFIX)) return
        clearTimeout(timer)
        resolve(JSON.parse(line.slice(WAL_CHILD_DONE_PREFIX.length)) as WalChildReport)
      })
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      void exited.then((how) => {
        clearTimeout(timer)
        reject(new Error(`the writer child ended (${how}) before it reported`))
      })
    })
    child.kill('SIGKILL')
    return { report, exit: await exited }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  }
}

function checkSample(db: BenchStore, keys: Float64Array, settings: RecoverySettings, rng: Prng, into: VerificationResult): void {
  const count = Math.min(settings.sampleCount, keys.length)
  for (let s = 0; s < count; s++) {
    // The first and last puts always, the rest at random.
    const i = s === 0 ? 0 : s === 1 ? keys.length - 1 : rng.nextBelow(keys.length)
    const value = db.get(keys[i]!)
    into.checked++
    if (value === undefined || valueChecksum(value) !== expectedChecksum(i, RECOVERY_VERSION, settings.seed >>> 0)) {
      into.mismatches++
      into.firstMismatch ??= `put ${i} (key ${keys[i]}): get returned ${value === undefined ? 'undefined' : `a wrong value (index word ${valueIndex(value)})`}`
    }
  }
}

/** Untimed: one full range(); every entry must be one of the child's puts with its value, each once. */
function checkEverything(db: BenchStore, keys: Float64Array, settings: RecoverySettings): VerificationResult {
  const seen = new Uint8Array(keys.length)
  let checked = 0
  let mismatches = 0
  let firstMismatch: string | undefined
  let previous = -Infinity
  for (const [key, value] of db.range({})) {
    checked++
    const i = valueIndex(value)
    if (!(key > previous) || i >= keys.length || keys[i] !== key || seen[i] === 1 || valueChecksum(value) !== expectedChecksum(i, RECOVERY_VERSION, settings.seed >>> 0)) {
      mismatches++
      firstMismatch ??= `full scan: entry ${checked - 1} is key ${key} with the value of put ${i}`
    } else {
      seen[i] = 1
    }
    previous = key
  }
  if (checked !== keys.length) {
    mismatches++
    firstMismatch ??= `full scan: ${checked} entries, expected ${keys.length}`
  }
  const result: VerificationResult = { check: 'full scan after recovery (killed directory)', checked, mismatches }
  if (firstMismatch !== undefined) result.firstMismatch = firstMismatch
  return result
}
