// Cold batched reads (read-ahead A/B): `load` bulk loads N keys 2i+1 with 4 KiB pages; `run` opens
// the store with a 4 MiB pool and times G (env, default 200k) getManyInto of 256 uniform keys,
// checking every value, and prints gets/s and the read-ahead hints. Run it in a memory cgroup smaller
// than the file, after dropping the page cache (DROP=1 drops it here; root only), to read from the
// device:   node bench/batched-cold.mjs ./dist /tmp/ra-store10 load 10000000
//           node bench/batched-cold.mjs ./dist /tmp/ra-store10 run 10000000
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
const [dist, dir, mode, nArg] = process.argv.slice(2)
const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
const N = Number(nArg ?? 2_000_000)
const keyOf = (i) => i * 2 + 1
const value = new Uint8Array(16)
if (mode === 'load') {
  fs.rmSync(dir, { recursive: true, force: true })
  const db = await open(dir, { cacheBytes: 64 << 20, pageSizeBytes: 4096 })
  await db.bulkLoad(Float64Array.from({ length: N }, (_, i) => keyOf(i)), (i) => { value.fill(i & 255); return value })
  await db.close(); process.exit(0)
}
if (process.env.DROP === '1') fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
const db = await open(dir, { cacheBytes: 4 << 20 })
let x = 7
const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
const B = 256, keys = new Float64Array(B), target = new Uint8Array(B * 64), lengths = new Int32Array(B)
let bad = 0
const t = performance.now()
const G = Number(process.env.G ?? 200_000)
for (let g = 0; g < G; g += B) {
  for (let i = 0; i < B; i++) keys[i] = keyOf(rnd() % N)
  const n = db.getManyInto(keys, 0, B, target, lengths)
  let at = 0
  for (let i = 0; i < n; i++) { if (lengths[i] !== 16 || target[at] !== (((keys[i] - 1) / 2) & 255)) bad++; at += lengths[i] }
}
const s = db.stats().bufferPool
console.log(JSON.stringify({ getsPerS: Math.round(G / (performance.now() - t) * 1000), bad, hints: s.readAheadHints, dropped: s.readAheadDropped, leafLoads: s.leafLoads, rangeReads: s.rangeReads }))
const c = performance.now(); await db.close(); console.log('close ms', (performance.now() - c).toFixed(1))
