// Bytes allocated per cold point get (the inspector's sampling heap profiler, collected objects
// included): opens a store of 10M keys 2i+1 (bench/batched-cold.mjs DIST DIR load 10000000 makes one),
// 18 MB pool + 6 MB record cache, 100k untimed uniform getInto, then 100k sampled; prints the total
// and the top allocation sites.   node bench/alloc-profile.mjs ./dist /tmp/ra-store10 [N]
import inspector from 'node:inspector'
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
const [dist, dir, nArg] = process.argv.slice(2)
const { open } = await import(pathToFileURL(`${fs.realpathSync(dist)}/index.js`).href)
const session = new inspector.Session(); session.connect()
const post = (m, p) => new Promise((res, rej) => session.post(m, p, (e, r) => e ? rej(e) : res(r)))
const N = Number(nArg ?? 10_000_000)
const db = await open(dir, { cacheBytes: 18_000_000, recordCacheBytes: 6_000_000, durability: 'os' })
let x = 99
const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
const buf = new Uint8Array(64)
for (let i = 0; i < 100_000; i++) db.getInto((rnd() % N) * 2 + 1, buf)
await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
for (let i = 0; i < 100_000; i++) db.getInto((rnd() % N) * 2 + 1, buf)
const { profile } = await post('HeapProfiler.stopSampling')
const m = new Map()
const walk = (n, path) => { const k = n.callFrame.functionName + ' ' + n.callFrame.url.split('/').pop() + ':' + n.callFrame.lineNumber; const p2 = path ? path + ' < ' + k : k; if (n.selfSize > 0) m.set(k + '   [' + (path ?? '').split(' < ').slice(-2).join(' < ') + ']', (m.get(k + '   [' + (path ?? '').split(' < ').slice(-2).join(' < ') + ']') || 0) + n.selfSize); for (const c of n.children) walk(c, k) }
walk(profile.head, '')
const tot = [...m.values()].reduce((a, b) => a + b, 0)
console.log('total sampled MB per 100k gets', (tot / 1048576).toFixed(1))
;[...m].sort((a, b) => b[1] - a[1]).slice(0, 14).forEach(([k, v]) => console.log((v / 1048576).toFixed(1) + ' MB ' + k))
await db.close()
