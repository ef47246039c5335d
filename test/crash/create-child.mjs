// The child of create-power-loss.test.ts: creates a fresh store under a directory that does not exist
// yet, through CrashFileSystem with power loss (unsynced bytes held in memory, every directory change
// journaled, the store directory's own creation and its parents' included), acknowledges a few
// writes one at a time, and dies in a torn power cut: at the n-th sync of any file or directory
// (`tearAtSync`), after `tearAfterMs`, or, if neither fired, once its writes are done. Run as
//   node create-child.mjs '<json config>'
// Config: { dist (file URL of dist/), dir, journal, graves, writes, tearSeed, tearAtSync?, tearAfterMs? }.
// Reports on stdout, synchronously, one line each: `s <i>` before put i, `a <i>` once it resolved,
// `e <code> <message>` if the open or a put was rejected, `n <syncs>` (file and directory syncs so
// far) before the final power cut.

import fs from 'node:fs'
import { CrashFileSystem } from './crash-fs.mjs'
import { fileURLToPath } from 'node:url'
import { Rng } from './workload.mjs'

function say(line) {
  fs.writeSync(1, line + '\n')
}

/** The value written under key i: its length and bytes follow from i alone (the parent checks them). */
export function createValue(i) {
  const bytes = new Uint8Array(40 + ((i * 379) % 2000))
  for (let b = 0; b < bytes.length; b++) bytes[b] = (i * 31 + b * 7) & 0xff
  return bytes
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = JSON.parse(process.argv[2])
  // Never outlive the parent.
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
  const { openWithFileSystem } = await import(new URL('store/open.js', config.dist).href)
  const fileModule = await import(new URL('io/file.js', config.dist).href)
  const rng = new Rng(config.tearSeed)
  const crashFs = new CrashFileSystem(fileModule, {
    holdUnsynced: true,
    journalPath: config.journal,
    graveDir: config.graves,
    tearAtSync: { n: config.tearAtSync ?? Infinity, pattern: /./, rng, directories: true },
  })
  if (config.tearAfterMs !== undefined) setTimeout(() => crashFs.tearAndDie(rng), config.tearAfterMs)
  try {
    const db = await openWithFileSystem(config.dir, { pageSizeBytes: 4096, walSegmentBytes: 65536, durability: 'fsync' }, crashFs)
    for (let i = 0; i < config.writes; i++) {
      say(`s ${i}`)
      await db.put(i, createValue(i))
      say(`a ${i}`)
      // A checkpoint halfway, so that page-file syncs are among the moments the power goes.
      if (i === config.writes >> 1) await db.checkpoint()
    }
  } catch (error) {
    say(`e ${error?.code ?? error?.name} ${String(error?.message ?? error).replace(/\n/g, ' ')}`)
  }
  say(`n ${crashFs.syncsSeen}`)
  crashFs.tearAndDie(rng)
}
