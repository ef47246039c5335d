// Memory of a 50/50 mix under a small pool (README, issue 17 capped run): opens DIR (a store of 10M keys 2i+1,
// e.g. `node bench/batched-cold.mjs ./dist DIR load 10000000`; use a copy: it writes) with an 18 MB pool and
// a 6 MB record cache, runs 60 s of groups of 64 random puts and gets, and prints heap, RSS, leaf
// eviction writes and checkpoints every 64k operations.   node bench/mixed-memory.mjs ./dist DIR
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
const { open } = await import(pathToFileURL(`${fs.realpathSync(process.argv[2])}/index.js`).href)
const db = await open(process.argv[3], { cacheBytes: 18000000, recordCacheBytes: 6000000, durability: 'os' })
let x = 11; const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
const buf = new Uint8Array(64); const val = new Uint8Array(16)
const mu = (t) => { const m = process.memoryUsage(); const s = db.stats(); console.log(t, 'rss', (m.rss/1048576).toFixed(0), 'heapUsed', (m.heapUsed/1048576).toFixed(0), 'heapTotal', (m.heapTotal/1048576).toFixed(0), 'ext', (m.external/1048576).toFixed(0), 'ab', (m.arrayBuffers/1048576).toFixed(0), 'dirty', s.bufferPool.dirtyPages, 'evW', s.bufferPool.leafEvictionWrites, 'ckpt', s.checkpoints, 'walMB', (s.wal.bytesSinceCheckpoint/1048576).toFixed(1)) }
const ballast = new Float64Array(Number(process.env.BALLAST_MB ?? 0) * 131072); for (let i = 0; i < ballast.length; i++) ballast[i] = i
const t0 = performance.now(); let ops = 0
while (performance.now() - t0 < 60000) {
  const inflight = []
  for (let i = 0; i < 64; i++) {
    const k = (rnd() % 10000000) * 2 + 1
    if (rnd() & 1) { val[0] = i; inflight.push(db.put(k, val)) } else db.getInto(k, buf)
    ops++
  }
  await Promise.all(inflight)
  if (ops % 64000 < 64) mu(((performance.now() - t0) / 1000).toFixed(0) + 's')
}
console.log('ops/s', Math.round(ops / 60))
await db.close()
