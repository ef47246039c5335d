// Cost per operation against scale (issue 17): learned-storage alone, 1M / 10M / 100M keys, one
// `cacheBytes` for all (default 256 MiB), keys drawn from a formula so that the serving process
// holds no key array of its own (its RSS is the engine's and Node's).
//
//   npm run build
//   npm run bench:scale -- --keys 1m,10m,100m [--cache-mib 256] [--page 65536]
//   (or: node bench/scale.mjs DIST DIR ..., DIST a build of the commit to measure)
//
// For each N: a load child (`bulkLoad`, columnar: the only process that holds the N keys), then, with
// the store's pages dropped from the page cache where this is root (`/proc/sys/vm/drop_caches`,
// which drops every clean page of the machine), a serve child that opens the store and runs, in
// turn: uniform random gets (a first pass from a cold pool, then a second, timed as the steady
// state), 100-key scans from uniform random starts, and random inserts (new keys between the
// loaded ones, `db.batch` of 1,000 at durability 'os', then a checkpoint). Each phase prints
// ops/s, the pages and device bytes read per op (`stats().bufferPool`, `/proc/self/io`), and
// the process's RSS; the tree's depth and leaf count come from `stats().index`. Every get and scan
// answer is checked against the formula (a value carries its key's index).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const VALUE_BYTES = 16
const GETS = 1_000_000
const SCANS = 20_000
const SCAN_KEYS = 100
const INSERTS = 200_000
const INSERT_BATCH = 1_000

/** Key i: strictly increasing, 16 apart on average, with a pseudo-random offset in [0, 8) (odd keys + 8.. are free for inserts). */
function keyOf(i) {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return i * 16 + ((h ^ (h >>> 16)) & 7)
}

/** The value of key i: its index in the first 8 bytes (f64), then filler. */
function fillValue(value, i) {
  new DataView(value.buffer, value.byteOffset, 8).setFloat64(0, i, true)
  value.fill(i & 255, 8)
  return value
}

function indexIn(value) {
  return new DataView(value.buffer, value.byteOffset, 8).getFloat64(0, true)
}

function procIo() {
  const text = fs.readFileSync('/proc/self/io', 'latin1')
  return Number(/^read_bytes: (\d+)$/m.exec(text)[1])
}

function rssMiB() {
  const text = fs.readFileSync('/proc/self/status', 'latin1')
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)[1])
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) }
}

function parseCount(text) {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text)
  if (m === null) throw new Error(`a key count like 1m or 250k, not ${text}`)
  return Math.round(Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6 })[m[2].toLowerCase()])
}

async function child(role, dist, dir, n, cacheBytes, pageBytes) {
  const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
  const out = (record) => process.stdout.write(`${JSON.stringify(record)}\n`)
  const value = new Uint8Array(VALUE_BYTES)
  if (role === 'load') {
    fs.rmSync(dir, { recursive: true, force: true })
    const db = await open(dir, { cacheBytes, pageSizeBytes: pageBytes })
    const keys = new Float64Array(n)
    for (let i = 0; i < n; i++) keys[i] = keyOf(i)
    const t = performance.now()
    await db.bulkLoad(keys, (i) => fillValue(value, i))
    const seconds = (performance.now() - t) / 1000
    const s = db.stats()
    out({ phase: 'load', n, seconds, perSecond: n / seconds, fileBytes: s.bytesOnDisk, leaves: s.index.dataNodes, modelNodes: s.index.modelNodes, maxDepth: s.index.maxDepth, avgDepth: s.index.avgDepth, ...rssMiB() })
    await db.close()
    return
  }
  let t = performance.now()
  const db = await open(dir, { cacheBytes, durability: 'os' })
  const openMs = performance.now() - t
  const s0 = db.stats()
  out({ phase: 'open', n, openMs, leaves: s0.index.dataNodes, maxDepth: s0.index.maxDepth, avgDepth: s0.index.avgDepth, modelBytes: s0.memory.modelBytes, ...rssMiB() })
  let x = 12345
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    return x
  }
  const below = (m) => Math.floor(((rnd() * 4294967296 + rnd()) / 18446744073709552000) * m)
  const measure = (phase, ops, unitOps, run) => {
    const before = db.stats().bufferPool
    const io = procIo()
    const start = performance.now()
    const wrong = run()
    const seconds = (performance.now() - start) / 1000
    const after = db.stats().bufferPool
    out({
      phase,
      n,
      ops,
      perSecond: unitOps / seconds,
      wrong,
      pagesReadPerOp: (after.pagesRead - before.pagesRead) / ops,
      leafLoadsPerOp: (after.leafLoads - before.leafLoads) / ops,
      rangeReadsPerOp: (after.rangeReads - before.rangeReads) / ops,
      deviceBytesPerOp: (procIo() - io) / ops,
      ...rssMiB(),
    })
  }
  const gets = () => {
    let wrong = 0
    for (let g = 0; g < GETS; g++) {
      const i = below(n)
      const v = db.get(keyOf(i))
      if (v === undefined || indexIn(v) !== i) wrong++
    }
    return wrong
  }
  measure('get-uniform (cold pool)', GETS, GETS, gets)
  measure('get-uniform', GETS, GETS, gets)
  measure('scan-100 (keys/s)', SCANS, SCANS * SCAN_KEYS, () => {
    let wrong = 0
    for (let q = 0; q < SCANS; q++) {
      const first = below(n - SCAN_KEYS)
      let i = first
      for (const [key, v] of db.range({ gte: keyOf(first), limit: SCAN_KEYS })) {
        if (key !== keyOf(i) || indexIn(v) !== i) wrong++
        i++
      }
      if (i !== first + SCAN_KEYS) wrong++
    }
    return wrong
  })
  t = performance.now()
  const io = procIo()
  const before = db.stats().bufferPool
  for (let done = 0; done < INSERTS; done += INSERT_BATCH) {
    const batch = []
    for (let j = 0; j < INSERT_BATCH; j++) {
      const i = below(n)
      batch.push({ type: 'put', key: i * 16 + 8 + (rnd() & 7), value: fillValue(new Uint8Array(VALUE_BYTES), -1 - i) })
    }
    await db.batch(batch)
  }
  await db.checkpoint()
  const seconds = (performance.now() - t) / 1000
  const after = db.stats().bufferPool
  out({ phase: 'insert-random (os, then a checkpoint)', n, ops: INSERTS, perSecond: INSERTS / seconds, pagesReadPerOp: (after.pagesRead - before.pagesRead) / INSERTS, leafLoadsPerOp: (after.leafLoads - before.leafLoads) / INSERTS, deviceBytesPerOp: (procIo() - io) / INSERTS, ...rssMiB() })
  const s = db.stats()
  out({ phase: 'end', n, records: s.records, fileBytes: s.bytesOnDisk, leaves: s.index.dataNodes, maxDepth: s.index.maxDepth, modelBytes: s.memory.modelBytes, ...rssMiB() })
  await db.close()
}

function dropCaches() {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
    return true
  } catch {
    return false
  }
}

async function main() {
  const argv = process.argv.slice(2)
  if (argv[0] === '--child') {
    const [, role, dist, dir, n, cache, page] = argv
    await child(role, dist, dir, Number(n), Number(cache), Number(page))
    return
  }
  const [dist, root] = argv
  const option = (name, fallback) => {
    const at = argv.indexOf(name)
    return at < 0 ? fallback : argv[at + 1]
  }
  if (dist === undefined || root === undefined) throw new Error('usage: node bench/scale.mjs DIST DIR [--keys 1m,10m,100m] [--cache-mib 256] [--page 65536]')
  const counts = option('--keys', '1m,10m,100m').split(',').map(parseCount)
  const cacheBytes = Number(option('--cache-mib', '256')) * 2 ** 20
  const pageBytes = Number(option('--page', '65536'))
  const self = fileURLToPath(import.meta.url)
  console.log(JSON.stringify({ command: `node bench/scale.mjs ${argv.join(' ')}`, node: process.version, cpus: (await import('node:os')).cpus().length, cacheBytes, pageBytes, date: new Date().toISOString() }))
  for (const n of counts) {
    const dir = path.join(root, `n${n}`)
    for (const role of ['load', 'serve']) {
      if (role === 'serve') console.log(JSON.stringify({ dropCaches: dropCaches() }))
      const run = spawnSync(process.execPath, ['--max-old-space-size=16384', self, '--child', role, dist, dir, String(n), String(cacheBytes), String(pageBytes)], { stdio: ['ignore', 'inherit', 'inherit'] })
      if (run.status !== 0) throw new Error(`${role} child for ${n} keys failed: ${run.status ?? run.signal}`)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
