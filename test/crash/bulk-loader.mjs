// A child for test/crash/bulk-load-kill.test.ts: opens the store built in dist/ (argv: distIndex,
// dir, entry count, and 'columns' to load through bulkLoad(keys, values)), bulk-loads `count` entries whose keys and values follow from their index
// (bulkLoadEntry below, which the test repeats), and reports on stdout with synchronous writes, so
// that nothing reported is lost to a SIGKILL: `open`, then `loaded` once bulkLoad resolved; then it
// waits to be killed. An armed kill point (LEARNED_STORAGE_KILL_POINT) may kill it on the way.
import fs from 'node:fs'

const [distIndex, dir, countText, form] = process.argv.slice(2)
const { open } = await import(distIndex)
const say = (line) => fs.writeSync(1, line + '\n')

const count = Number(countText)
const db = await open(dir, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
say('open')
const entry = [0, new Uint8Array(0)]
function* entries() {
  for (let i = 0; i < count; i++) {
    entry[0] = i * 3 + 0.5
    const value = new Uint8Array(8 + (i % 50))
    for (let b = 0; b < value.length; b++) value[b] = (i * 31 + b * 7) & 0xff
    entry[1] = value
    yield entry
  }
}
if (form === 'columns') {
  const keys = new Float64Array(count)
  for (let i = 0; i < count; i++) keys[i] = i * 3 + 0.5
  await db.bulkLoad(keys, (i) => {
    const value = new Uint8Array(8 + (i % 50))
    for (let b = 0; b < value.length; b++) value[b] = (i * 31 + b * 7) & 0xff
    return value
  })
} else {
  await db.bulkLoad(entries())
}
say('loaded')
setInterval(() => {}, 1000)
