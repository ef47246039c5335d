// The writer child of log-gap.test.ts. Run with LEARNED_STORAGE_FAULT_POINT=wal-append-after-lsn:<n>
// armed by the parent (read once when the engine loads), so the n-th log append fails after its
// record was numbered. It opens the store at 'fsync', runs config.steps in order, and appends one
// line per outcome to config.reportFile with fs.writeSync before it goes on (never stdout: a line
// written before the SIGKILL must reach the parent):
//   a <i>          step i resolved (acknowledged)
//   r <i> <code>   step i was rejected, with that error code
//   ready          every step settled; then the child waits to be killed
// A step is { key, bytes } (a put of `bytes` bytes), { del } or { batch: [steps] }; steps with
// `together: true` are issued in the same tick as the step before them (one log group).
import fs from 'node:fs'

const config = JSON.parse(process.argv[2])
const { open } = await import(new URL('index.js', config.dist).href)
const report = fs.openSync(config.reportFile, 'a')
const say = (line) => fs.writeSync(report, line + '\n')

/** The bytes of a put: derived from key and length, so the parent can rebuild them. */
function valueOf(key, bytes) {
  const value = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) value[i] = (key * 131 + i * 7 + (i >> 8)) & 0xff
  return value
}

function issue(db, step) {
  if (step.batch !== undefined) {
    return db.batch(step.batch.map((s) => (s.del !== undefined ? { type: 'del', key: s.del } : { type: 'put', key: s.key, value: valueOf(s.key, s.bytes) })))
  }
  if (step.del !== undefined) return db.del(step.del)
  return db.put(step.key, valueOf(step.key, step.bytes))
}

const db = await open(config.dir, { durability: 'fsync', pageSizeBytes: 4096 })
let pending = []
for (let i = 0; i < config.steps.length; i++) {
  const step = config.steps[i]
  if (step.together !== true) {
    await Promise.all(pending)
    pending = []
  }
  pending.push(
    issue(db, step).then(
      () => say(`a ${i}`),
      (error) => say(`r ${i} ${error?.code ?? `untyped ${String(error).replace(/\n/g, ' ')}`}`),
    ),
  )
}
await Promise.all(pending)
say('ready')
setInterval(() => {}, 1_000)
