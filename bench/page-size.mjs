// Issue 17, "rethink the page size", measured: for each leaf page size (default 4, 64, 8, 32, 16 KiB,
// that order, repeated --rounds times), bulk loads N keys (16-byte values, keys from a formula: no key
// array kept after the load), then measures in a FRESH child process per (page size, phase), with the
// OS page cache dropped before each child (root only: echo 1 > /proc/sys/vm/drop_caches):
//   load     bulkLoad time (default durability 'fsync': the load's checkpoint syncs), pages, file size
//   open     reopen time, RSS and stats().memory right after open
//   uniform  uniform random gets: warm-up (fills the pool), then gets/s and per get leaf loads, pool
//            misses, pages read, range reads, engine bytes read; then a COLD sample: --cold gets, each
//            preceded by a drop of the OS page cache, with /proc/self/io read_bytes per get (device
//            bytes) beside the engine's own counters; then RSS and stats().memory
//   zipf     Zipfian gets (skew 0.99, YCSB's generator; rank -> key through a bijective scramble)
//   scan     100-key scans from uniform random start keys: scans/s, pages and bytes read per scan
// Each child prints one JSON line; the driver prints them as they come, then a markdown table of
// min-max over the rounds.
//   npm run build          # or any dist/ built from src/ (the script loads <dist>/index.js)
//   node bench/page-size.mjs ./dist /tmp/ps-data 1000000 4                 # N = 1M keys, cacheBytes 4 MiB
//   node bench/page-size.mjs ./dist /tmp/ps-data 10000000 32 --rounds 2    # 10M keys, 32 MiB
//   node bench/page-size.mjs --table saved-output.txt                   # the table again, from saved JSON lines
// Options: --rounds R (2), --pages 4,64,8,32,16 (KiB), --phases load,open,uniform,zipf,scan,
//          --seconds S (measured time per get/scan phase, 3), --cold C (cold-sample gets, 200).
// The store directory is <dir>/<page KiB>k; it is deleted and loaded again in every round.
// Child (internal): node bench/page-size.mjs --child PHASE DIST DIR N CACHE_MIB PAGE_BYTES SECONDS COLD
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'

const VALUE_BYTES = 16
const keyOf = (i) => i * 2 + 1
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

function dropCaches() {
  if (!isRoot) return false
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
    return true
  } catch {
    return false
  }
}

function procIo() {
  const out = {}
  for (const line of fs.readFileSync('/proc/self/io', 'utf8').split('\n')) {
    const [k, v] = line.split(':')
    if (v !== undefined) out[k.trim()] = Number(v)
  }
  return out
}

const rssMiB = () => +(process.memoryUsage().rss / 1048576).toFixed(1)
const heapMiB = () => +(process.memoryUsage().heapUsed / 1048576).toFixed(1)

if (process.argv[2] === '--child') await child(process.argv.slice(3))
else await driver(process.argv.slice(2))

// ---- driver ---------------------------------------------------------------------------------------

async function driver(args) {
  const positional = []
  const opts = { rounds: 2, pages: '4,64,8,32,16', phases: 'load,open,uniform,zipf,scan', seconds: 3, cold: 200 }
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) opts[args[i].slice(2)] = args[++i]
    else positional.push(args[i])
  }
  if (opts.table !== undefined) {
    // Re-renders the table from the JSON lines a run printed (saved to a file).
    const results = fs.readFileSync(opts.table, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    const pages = [...new Set(results.map((r) => r.page))].sort((a, b) => a - b)
    console.log(table(results, pages, results[0].n))
    return
  }
  const [dist, dir, nArg, cacheArg] = positional
  if (cacheArg === undefined) {
    console.error('usage: node bench/page-size.mjs DIST DIR N CACHE_MIB [--rounds R] [--pages 4,64,8,32,16] [--phases ...] [--seconds S] [--cold C]')
    process.exit(2)
  }
  const pages = String(opts.pages).split(',').map((k) => Number(k) * 1024)
  const phases = String(opts.phases).split(',')
  const self = fileURLToPath(import.meta.url)
  const results = []
  console.error(`# N=${nArg} cacheMiB=${cacheArg} pages=${opts.pages} rounds=${opts.rounds} root=${isRoot} node=${process.version}`)
  for (let round = 1; round <= Number(opts.rounds); round++) {
    for (const page of pages) {
      const storeDir = path.join(dir, `${page >> 10}k`)
      for (const phase of phases) {
        const dropped = dropCaches()
        const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', phase, dist, storeDir, nArg, cacheArg, String(page), String(opts.seconds), String(opts.cold)], {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        })
        if (r.status !== 0) {
          console.error(r.stdout, r.stderr)
          throw new Error(`child ${phase} ${page} failed: ${r.status}`)
        }
        const line = r.stdout.trim().split('\n').pop()
        const result = { round, dropped, ...JSON.parse(line) }
        results.push(result)
        console.log(JSON.stringify(result))
      }
    }
  }
  console.log(table(results, pages, Number(nArg)))
}

function table(results, pages, n) {
  const span = (page, phase, get) => {
    const xs = results.filter((r) => r.page === page && r.phase === phase).map(get).filter((x) => x !== undefined && Number.isFinite(x))
    if (xs.length === 0) return '-'
    const lo = Math.min(...xs), hi = Math.max(...xs)
    const f = (x) => (Number.isInteger(x) ? x.toLocaleString('en-US') : Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3).replace(/\.?0+$/, '') || '0')
    return lo === hi ? f(lo) : `${f(lo)}-${f(hi)}`
  }
  const rows = [
    ['bulk load s', 'load', (r) => r.load_s],
    ['file MiB', 'load', (r) => r.bytesOnDisk / 1048576],
    ['leaves', 'load', (r) => r.leaves],
    ['tree depth (max)', 'load', (r) => r.maxDepth],
    ['open ms', 'open', (r) => r.open_ms],
    ['uniform gets/s (pool warm, OS cache warm)', 'uniform', (r) => r.gets_per_s],
    ['  leaf loads / get', 'uniform', (r) => r.leafLoads_per_get],
    ['  pool misses / get', 'uniform', (r) => r.misses_per_get],
    ['  pages read / get', 'uniform', (r) => r.pagesRead_per_get],
    ['  range reads / get', 'uniform', (r) => r.rangeReads_per_get],
    ['  engine bytes read / get', 'uniform', (r) => r.bytesRead_per_get],
    ['cold get (OS cache dropped) ms', 'uniform', (r) => r.cold?.ms_per_get],
    ['  pages read / cold get', 'uniform', (r) => r.cold?.pagesRead_per_get],
    ['  range reads / cold get', 'uniform', (r) => r.cold?.rangeReads_per_get],
    ['  engine bytes / cold get', 'uniform', (r) => r.cold?.bytesRead_per_get],
    ['  device read_bytes / cold get', 'uniform', (r) => r.cold?.device_read_bytes_per_get],
    ['zipf 0.99 gets/s', 'zipf', (r) => r.gets_per_s],
    ['  leaf loads / get', 'zipf', (r) => r.leafLoads_per_get],
    ['  value-page hit rate (bufferPool.hits counts value pages)', 'zipf', (r) => r.hit_rate],
    ['  engine bytes read / get', 'zipf', (r) => r.bytesRead_per_get],
    ['100-key scans/s', 'scan', (r) => r.scans_per_s],
    ['  pages read / scan', 'scan', (r) => r.pagesRead_per_scan],
    ['  engine KiB read / scan', 'scan', (r) => r.bytesRead_per_scan / 1024],
    ['RSS MiB after gets', 'uniform', (r) => r.rss_mib],
    ['JS heap used MiB after gets (after gc)', 'uniform', (r) => r.heap_mib],
    ['model+descriptor bytes (stats.memory.modelBytes)', 'uniform', (r) => r.memory.modelBytes],
    ['  per 1M keys, KiB', 'uniform', (r) => r.memory.modelBytes / (n / 1e6) / 1024],
  ]
  const head = `| N=${n.toLocaleString('en-US')} | ${pages.map((p) => `${p >> 10} KiB`).join(' | ')} |`
  const sep = `|---|${pages.map(() => '---').join('|')}|`
  const body = rows.map(([name, phase, get]) => `| ${name} | ${pages.map((p) => span(p, phase, get)).join(' | ')} |`)
  return ['', head, sep, ...body].join('\n')
}

// ---- child ----------------------------------------------------------------------------------------

async function child([phase, dist, dir, nArg, cacheArg, pageArg, secondsArg, coldArg]) {
  const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
  const N = Number(nArg), cacheBytes = Number(cacheArg) * 1048576, page = Number(pageArg)
  const seconds = Number(secondsArg), coldGets = Number(coldArg)
  const base = { phase, page, n: N, cacheMiB: Number(cacheArg) }
  const emit = (o) => console.log(JSON.stringify({ ...base, ...o }))
  const value = new Uint8Array(VALUE_BYTES)

  if (phase === 'load') {
    fs.rmSync(dir, { recursive: true, force: true })
    const db = await open(dir, { cacheBytes, pageSizeBytes: page })
    let keys = new Float64Array(N)
    for (let i = 0; i < N; i++) keys[i] = keyOf(i)
    const t = performance.now()
    await db.bulkLoad(keys, (i) => { value.fill(i & 255); return value })
    const loadS = (performance.now() - t) / 1000
    keys = null
    const s = db.stats()
    await db.close()
    emit({ load_s: +loadS.toFixed(3), bytesOnDisk: s.bytesOnDisk, pages: s.pages, leaves: s.index.dataNodes, modelNodes: s.index.modelNodes, maxDepth: s.index.maxDepth, avgDepth: +s.index.avgDepth.toFixed(3), dataSlots: s.index.dataSlots })
    return
  }

  const io0 = procIo()
  let t = performance.now()
  const db = await open(dir, { cacheBytes })
  const openMs = performance.now() - t
  const io1 = procIo()
  if (db.stats().pageSizeBytes !== page) throw new Error(`store has pages of ${db.stats().pageSizeBytes}, expected ${page}`)

  if (phase === 'open') {
    globalThis.gc?.()
    const s = db.stats()
    emit({ open_ms: +openMs.toFixed(1), open_device_read_bytes: io1.read_bytes - io0.read_bytes, open_rchar: io1.rchar - io0.rchar, rss_mib: rssMiB(), heap_mib: heapMiB(), memory: s.memory, leaves: s.index.dataNodes, modelNodes: s.index.modelNodes, maxDepth: s.index.maxDepth, pagesRead: s.bufferPool.pagesRead })
    await db.close()
    return
  }

  let x = 7
  const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
  // Random index in [0, N) from the LCG's high bits (its low bits have short periods).
  const uniform = () => Math.floor(rnd() / 4294967296 * N)
  const pool = () => db.stats().bufferPool
  const delta = (a, b) => ({ hits: b.hits - a.hits, misses: b.misses - a.misses, leafLoads: b.leafLoads - a.leafLoads, pagesRead: b.pagesRead - a.pagesRead, rangeReads: b.rangeReads - a.rangeReads, bytesRead: b.bytesRead - a.bytesRead })
  const perOp = (d, ops, unit) => Object.fromEntries(Object.entries(d).map(([k, v]) => [`${k}_per_${unit}`, +(v / ops).toFixed(4)]))
  let bad = 0
  const check = (i, v) => { if (v === undefined || v.length !== VALUE_BYTES || v[0] !== (i & 255)) bad++ }

  // Runs op() in chunks until `ms` passed (at least `minOps`); returns [ops, elapsed ms].
  const timed = (op, ms, minOps = 0) => {
    let ops = 0
    const start = performance.now()
    let now = start
    while (now - start < ms || ops < minOps) {
      for (let j = 0; j < 256; j++) op()
      ops += 256
      now = performance.now()
    }
    return [ops, now - start]
  }

  if (phase === 'uniform') {
    // Warm-up: until the pool is full (or 2N gets, when the pool holds the whole store) and then as
    // long again (1-5 s).
    const get = () => { const i = uniform(); check(i, db.get(keyOf(i))) }
    let warm = 0
    const w0 = performance.now()
    while (pool().residentPages < pool().frames && warm < 2 * N && performance.now() - w0 < 30_000) { for (let j = 0; j < 256; j++) get(); warm += 256 }
    const [warm2] = timed(get, Math.min(5000, Math.max(1000, performance.now() - w0)))
    warm += warm2
    const p0 = pool()
    const [ops, ms] = timed(get, seconds * 1000)
    const d = delta(p0, pool())
    // Cold sample: each get after dropping the OS page cache; the pool stays full (steady state).
    let cold = null
    if (coldGets > 0) {
      const c0 = pool()
      let ioBytes = 0, rchar = 0, coldMs = 0, dropped = 0
      for (let j = 0; j < coldGets; j++) {
        if (dropCaches()) dropped++
        const a = procIo()
        const s = performance.now()
        get()
        coldMs += performance.now() - s
        const b = procIo()
        ioBytes += b.read_bytes - a.read_bytes
        rchar += b.rchar - a.rchar
      }
      const cd = delta(c0, pool())
      // rchar counts the two reads of /proc/self/io too: subtract what one such read adds.
      cold = { gets: coldGets, dropped, ms_per_get: +(coldMs / coldGets).toFixed(3), device_read_bytes_per_get: Math.round(ioBytes / coldGets), rchar_per_get: Math.round(rchar / coldGets), ...perOp(cd, coldGets, 'get') }
    }
    globalThis.gc?.()
    const s = db.stats()
    emit({ warm_gets: warm, gets: ops, gets_per_s: Math.round(ops / ms * 1000), ...perOp(d, ops, 'get'), hit_rate: +(d.hits / (d.hits + d.misses)).toFixed(4), cold, bad, frames: s.bufferPool.frames, rss_mib: rssMiB(), heap_mib: heapMiB(), memory: s.memory, maxDepth: s.index.maxDepth, avgDepth: +s.index.avgDepth.toFixed(3) })
    await db.close()
    return
  }

  if (phase === 'zipf') {
    // YCSB ZipfianGenerator (Gray et al.), theta 0.99, over ranks 0..N-1; rank r -> index (r * P) mod N
    // with P a prime that divides no N used here (a bijection: hot keys are spread over the key space).
    const theta = 0.99
    let zetan = 0
    for (let i = 1; i <= N; i++) zetan += 1 / Math.pow(i, theta)
    const zeta2 = 1 + 1 / Math.pow(2, theta)
    const alpha = 1 / (1 - theta)
    const eta = (1 - Math.pow(2 / N, 1 - theta)) / (1 - zeta2 / zetan)
    const P = 1000003
    const zipf = () => {
      const u = rnd() / 4294967296
      const uz = u * zetan
      let r
      if (uz < 1) r = 0
      else if (uz < zeta2) r = 1
      else r = Math.floor(N * Math.pow(eta * u - eta + 1, alpha))
      if (r >= N) r = N - 1
      return (r * P) % N
    }
    // Indices drawn ahead so that the generator's Math.pow is not timed.
    const draws = new Int32Array(1 << 20)
    for (let i = 0; i < draws.length; i++) draws[i] = zipf()
    let at = 0
    const get = () => { const i = draws[at]; at = (at + 1) & (draws.length - 1); check(i, db.get(keyOf(i))) }
    const [warm] = timed(get, 1000)
    const p0 = pool()
    const [ops, ms] = timed(get, seconds * 1000)
    const d = delta(p0, pool())
    emit({ warm_gets: warm, gets: ops, gets_per_s: Math.round(ops / ms * 1000), ...perOp(d, ops, 'get'), hit_rate: +(d.hits / (d.hits + d.misses)).toFixed(4), bad, rss_mib: rssMiB() })
    await db.close()
    return
  }

  if (phase === 'scan') {
    let entries = 0
    const scan = () => {
      let i = uniform()
      if (i > N - 100) i = N - 100
      let n = 0
      for (const [k, v] of db.range({ gte: keyOf(i), limit: 100 })) {
        if (k !== keyOf(i + n) || v[0] !== ((i + n) & 255)) bad++
        n++
      }
      if (n !== 100) bad++
      entries += n
    }
    const timedScans = (ms) => {
      let ops = 0
      const start = performance.now()
      let now = start
      while (now - start < ms) { for (let j = 0; j < 16; j++) scan(); ops += 16; now = performance.now() }
      return [ops, now - start]
    }
    const [warm] = timedScans(1000)
    const p0 = pool()
    entries = 0
    const [ops, ms] = timedScans(seconds * 1000)
    const d = delta(p0, pool())
    emit({ warm_scans: warm, scans: ops, scans_per_s: Math.round(ops / ms * 1000), entries_per_s: Math.round(entries / ms * 1000), ...perOp(d, ops, 'scan'), bad, rss_mib: rssMiB() })
    await db.close()
    return
  }
  throw new Error(`unknown phase ${phase}`)
}
