/**
 * The writer child of the store benchmark's recovery phase (lib/store/recovery.ts spawns it):
 *
 *   node dist-bench/store-wal-child.js <dir> <records> <writers> <seed>
 *
 * Opens a new store in <dir> at durability 'os' (a resolved put has been written to the log file,
 * so it survives a kill of this process) with a checkpointWalBytes and checkpointIntervalMs no run
 * reaches, so no checkpoint after the store's creation runs and every record stays in the log. Writes
 * <records> single put()s (keys and values from lib/store/wal-plans.ts), <writers> of them in flight,
 * prints one line `WAL-CHILD-DONE {json}` once all resolved, and then waits to be killed (SIGKILL from
 * the parent). It exits by itself if its stdin closes (the parent died) so it never lingers.
 */
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import type { WalChildReport } from './lib/store/results.js'
import { openStore } from './lib/store/store-api.js'
import { VALUE_BYTES } from './lib/store/values.js'
import { RECOVERY_VERSION, WAL_CHILD_DONE_PREFIX, makeShuffledKeys, makeValues } from './lib/store/wal-plans.js'

/** Far above what any run logs (1 TiB), and a day: neither trigger fires during a run. */
const NO_CHECKPOINT_WAL_BYTES = 2 ** 40
const NO_CHECKPOINT_INTERVAL_MS = 24 * 60 * 60 * 1000

function fileBytes(directory: string): number {
  let bytes = 0
  for (const name of readdirSync(directory)) {
    const stat = statSync(path.join(directory, name))
    if (stat.isFile()) bytes += stat.size
  }
  return bytes
}

async function main(): Promise<void> {
  const [dir, recordsText, writersText, seedText] = process.argv.slice(2)
  const records = Number(recordsText)
  const writers = Number(writersText)
  const seed = Number(seedText)
  if (dir === undefined || !(records > 0) || !(writers > 0) || !Number.isFinite(seed)) {
    throw new Error('usage: store-wal-child.js <dir> <records> <writers> <seed>')
  }
  const keys = makeShuffledKeys(records, seed, 'recovery')
  const values = makeValues(records, RECOVERY_VERSION, seed)
  const db = await openStore(dir, { durability: 'os', checkpointWalBytes: NO_CHECKPOINT_WAL_BYTES, checkpointIntervalMs: NO_CHECKPOINT_INTERVAL_MS })
  const checkpointsAtOpen = db.stats().checkpoints
  let next = 0
  const loop = async (): Promise<void> => {
    while (next < records) {
      const i = next++
      await db.put(keys[i]!, values.subarray(i * VALUE_BYTES, (i + 1) * VALUE_BYTES))
    }
  }
  const start = performance.now()
  const loops: Promise<void>[] = []
  for (let w = 0; w < writers; w++) loops.push(loop())
  await Promise.all(loops)
  const seconds = (performance.now() - start) / 1000
  const stats = db.stats()
  const report: WalChildReport = {
    records,
    writers,
    seconds,
    putsPerSecond: records / seconds,
    lastLsn: stats.wal.lastLsn,
    durableLsn: stats.wal.durableLsn,
    groups: stats.wal.groups,
    checkpoints: stats.checkpoints - checkpointsAtOpen,
    walSegments: stats.wal.segments,
    walFileBytes: fileBytes(path.join(dir, 'wal')),
    dataFileBytes: fileBytes(dir),
  }
  process.stdout.write(`${WAL_CHILD_DONE_PREFIX}${JSON.stringify(report)}\n`)
  // Wait to be killed; the store stays open, nothing is closed or checkpointed.
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(3))
  setInterval(() => undefined, 60_000)
}

main().catch((error: unknown) => {
  console.error(`store-wal-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  process.exit(2)
})
