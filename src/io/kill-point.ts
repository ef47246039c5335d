/**
 * Named kill points for the crash suite (test/crash): the process kills itself with SIGKILL at the
 * armed point, so a test can crash the engine at an exact step instead of at a random moment.
 *
 * Arm one with the environment variable LEARNED_STORAGE_KILL_POINT=<name> (the first time the point
 * is reached) or <name>:<n> (the n-th time). Unarmed, a kill point costs one comparison.
 *
 * Every kill point, in one place (the crash suite hits each one):
 */
export const KILL_POINTS = {
  /** A WAL group write cut in half: the first half of its bytes written, then the kill. */
  WAL_WRITE_TORN: 'wal-write-torn',
  /** After a WAL group is written, before its fdatasync. */
  WAL_AFTER_WRITE: 'wal-after-write',
  /** After a WAL group's fdatasync, before its writers are told. */
  WAL_AFTER_SYNC: 'wal-after-sync',
  /** A new WAL segment created (and its directory synced), before its first write. */
  WAL_SEGMENT_CREATED: 'wal-segment-created',
  /** A checkpoint's pages written and synced, before the meta page. */
  CHECKPOINT_AFTER_PAGES: 'checkpoint-after-pages',
  /** A checkpoint's meta page torn through its fields: its first 64 bytes written over the older meta page, then the kill. */
  CHECKPOINT_META_TORN: 'checkpoint-meta-torn',
  /** A checkpoint's meta page synced, before old pages are reusable and old segments go. */
  CHECKPOINT_AFTER_META: 'checkpoint-after-meta',
  /** Old WAL segments deleted after a checkpoint. */
  CHECKPOINT_AFTER_RELEASE: 'checkpoint-after-release',
  /** A write that split or expanded a data node applied in memory. */
  STRUCTURE_CHANGE: 'structure-change',
  /** A dirty value page written because the buffer pool evicted it. */
  POOL_EVICT_WRITE: 'pool-evict-write',
  /** A changed leaf written (in place over a fresh page, or to a new one) because the buffer pool evicted it. */
  LEAF_EVICT_WRITE: 'leaf-evict-write',
  /** During recovery, after a log record was replayed. */
  RECOVERY_REPLAY: 'recovery-replay',
} as const
export type KillPoint = (typeof KILL_POINTS)[keyof typeof KILL_POINTS]

const armed = parseArmedPoint(process.env.LEARNED_STORAGE_KILL_POINT, 'LEARNED_STORAGE_KILL_POINT', 'a kill point', Object.values(KILL_POINTS))
let hits = 0

/**
 * `<name>` or `<name>:<n>` from the environment variable `variable` (kill points here, fault points
 * in fault-point.ts): the point and the hit to act at, or null when unset. Throws on a name not in
 * `known` or a bad count, so a typo never runs a test unarmed.
 */
export function parseArmedPoint(value: string | undefined, variable: string, what: string, known: readonly string[]): { name: string; at: number } | null {
  if (value === undefined || value === '') return null
  const [name, count] = value.split(':')
  const at = count === undefined ? 1 : Number(count)
  if (!known.includes(name!) || !Number.isInteger(at) || at < 1) {
    throw new Error(`${variable}=${value}: not ${what} (known: ${known.join(', ')})`)
  }
  return { name: name!, at }
}

/** True when `name` is armed and this is the hit to kill at (the caller may act, then call kill()). */
export function killPointReached(name: KillPoint): boolean {
  if (armed === null || armed.name !== name) return false
  return ++hits === armed.at
}

/** Kills this process at once, as a crash would. */
export function kill(): never {
  process.kill(process.pid, 'SIGKILL')
  // SIGKILL is not deliverable late; if it somehow returns, never continue.
  for (;;) {
    // Block until the signal lands.
  }
}

/** Kills the process if `name` is armed and reached. */
export function killPoint(name: KillPoint): void {
  if (armed !== null && killPointReached(name)) kill()
}
