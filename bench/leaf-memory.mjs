// Leaves in the buffer pool, measured: bulk loads N keys (16-byte values), or reopens the store and
// times 1M uniform random gets with keys drawn from a formula (no key array held by this process),
// then prints gets/s, open time, RSS and stats().memory. README "Memory" cites it.
//   npm run build
//   node bench/leaf-memory.mjs ./dist /tmp/leaf-memory 1000000 32 load   # PAGE=4096 for 4 KiB pages
//   node bench/leaf-memory.mjs ./dist /tmp/leaf-memory 1000000 32        # cacheBytes 32 MiB (WARM=1: time a second pass)
//   node bench/leaf-memory.mjs ./dist /tmp/leaf-memory 1000000 8 puts    # random batched puts, 8 MiB
import fs from 'node:fs'
const [dist, dir, nArg, cacheArg, mode] = process.argv.slice(2)
const { pathToFileURL } = await import('node:url')
const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
const N = Number(nArg), cacheBytes = Number(cacheArg) << 20
const keyOf = (i) => i * 2 + 1
const value = new Uint8Array(16)
if (mode === 'load') {
  fs.rmSync(dir, { recursive: true, force: true })
  const db = await open(dir, { cacheBytes, pageSizeBytes: Number(process.env.PAGE ?? 65536) })
  const t = performance.now()
  await db.bulkLoad(Float64Array.from({ length: N }, (_, i) => keyOf(i)), (i) => { value.fill(i & 255); return value })
  console.log(JSON.stringify({ load_s: ((performance.now() - t) / 1000).toFixed(2) }))
  await db.close()
  process.exit(0)
}
if (mode === 'puts') {
  // N random keys (a formula, no array) in db.batch()es of 10,000 at 'none', then a checkpoint.
  fs.rmSync(dir, { recursive: true, force: true })
  const db = await open(dir, { cacheBytes, durability: 'none' })
  let y = 99
  const t = performance.now()
  for (let s = 0; s < N; s += 10_000) {
    const batch = []
    for (let i = 0; i < 10_000; i++) {
      y = (Math.imul(y, 1103515245) + 12345) >>> 0
      batch.push({ type: 'put', key: y, value })
    }
    await db.batch(batch)
  }
  await db.checkpoint()
  const st = db.stats()
  console.log(JSON.stringify({ puts_per_s: Math.round(N / (performance.now() - t) * 1000), leafLoads: st.bufferPool.leafLoads, leafWrites: st.bufferPool.leafEvictionWrites, leaves: st.index.dataNodes }))
  await db.close()
  process.exit(0)
}
let t = performance.now()
const db = await open(dir, { cacheBytes, readOnly: false })
const openMs = performance.now() - t
let x = 7
const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
const G = 1_000_000
// WARM=1: one untimed pass of G gets first (leaves read since open), so the timed pass is the steady state.
if (process.env.WARM === '1') for (let i = 0; i < G; i++) db.get(keyOf(rnd() % N))
t = performance.now()
let bad = 0
for (let i = 0; i < G; i++) { const k = rnd() % N; const v = db.get(keyOf(k)); if (v === undefined || v[0] !== (k & 255)) bad++ }
const getMs = performance.now() - t
const s = db.stats()
console.log(JSON.stringify({ open_ms: Math.round(openMs), gets_per_s: Math.round(G / getMs * 1000), bad, rss_mib: Math.round(process.memoryUsage().rss / 1048576), heap_mib: Math.round(process.memoryUsage().heapUsed / 1048576), memory: s.memory, leafLoads: s.bufferPool.leafLoads, misses: s.bufferPool.misses, hits: s.bufferPool.hits }))
await db.close()
