// Point gets with everything in memory, for one page size (docs/PAGE-SIZE.md, README "Measured: 10M
// keys at 10% memory under one hard cap"): bulk loads N keys 2i+1 (16-byte values) with that page
// size, or reopens the store with a 512 MiB pool, runs N untimed getInto of uniform random keys, then
// three timed passes of 2M, checking every value, and prints gets/s per pass.
//   npm run build
//   node bench/hot-gets.mjs ./dist /tmp/hot4 4096 1000000 load
//   node bench/hot-gets.mjs ./dist /tmp/hot4 4096 1000000
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
const [dist, dir, pageArg, nArg, mode] = process.argv.slice(2)
const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
const N = Number(nArg)
const page = Number(pageArg)
const keyOf = (i) => i * 2 + 1
const value = new Uint8Array(16)
if (mode === 'load') {
  fs.rmSync(dir, { recursive: true, force: true })
  const db = await open(dir, { cacheBytes: 512 << 20, pageSizeBytes: page })
  await db.bulkLoad(Float64Array.from({ length: N }, (_, i) => keyOf(i)), (i) => {
    value.fill(i & 255)
    return value
  })
  await db.close()
  process.exit(0)
}
const db = await open(dir, { cacheBytes: 512 << 20 })
let x = 7
const rnd = () => {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0
  return x
}
const buf = new Uint8Array(64)
for (let i = 0; i < N; i++) db.getInto(keyOf(rnd() % N), buf)
for (let r = 0; r < 3; r++) {
  const t = performance.now()
  let bad = 0
  for (let i = 0; i < 2_000_000; i++) {
    const k = rnd() % N
    const n = db.getInto(keyOf(k), buf)
    if (n !== 16 || buf[0] !== (k & 255)) bad++
  }
  console.log(JSON.stringify({ pageBytes: db.stats().pageSizeBytes, getsPerSecond: Math.round((2e6 / (performance.now() - t)) * 1000), bad }))
}
await db.close()
