// A child writer for the WAL recovery tests (test/support/wal-helpers.ts runChild): opens the store
// built in dist/, runs a plan of writes with at most `window` in flight, and reports on stdout, with
// synchronous writes so that nothing reported is lost when the parent SIGKILLs it:
//   open        the store is open
//   s <i>       plan item i is about to be issued
//   a <i>       plan item i's promise resolved (acknowledged)
//   c <i>       plan item i (a checkpoint) resolved
//   done        every item acknowledged; then, by config.atEnd: 'close' closes the store and
//               says `closed`; 'exit' exits without closing; 'hang' waits to be killed
//   e <i> <msg> an item failed (exit code 1)
import fs from 'node:fs'

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const { open } = await import(config.distIndex)
const say = (line) => fs.writeSync(1, line + '\n')

function decode(op) {
  if (op.t === 'put') return { type: 'put', key: op.k, value: new Uint8Array(Buffer.from(op.v, 'base64')) }
  return { type: 'del', key: op.k }
}

const db = await open(config.dir, config.options)
say('open')
const inflight = new Set()
const fail = (i, error) => {
  say(`e ${i} ${error && error.code} ${String(error && error.message).replace(/\n/g, ' ')}`)
  process.exit(1)
}
for (let i = 0; i < config.plan.length; i++) {
  const item = config.plan[i]
  if (item.t === 'checkpoint') {
    await Promise.all(inflight)
    say(`s ${i}`)
    try {
      await db.checkpoint()
    } catch (error) {
      fail(i, error)
    }
    say(`c ${i}`)
    continue
  }
  while (inflight.size >= config.window) await Promise.race(inflight)
  say(`s ${i}`)
  let promise
  if (item.t === 'put') promise = db.put(item.k, new Uint8Array(Buffer.from(item.v, 'base64')))
  else if (item.t === 'del') promise = db.del(item.k)
  else promise = db.batch(item.ops.map(decode))
  const tracked = promise.then(
    () => {
      say(`a ${i}`)
      inflight.delete(tracked)
    },
    (error) => fail(i, error),
  )
  inflight.add(tracked)
}
await Promise.all(inflight)
say('done')
if (config.atEnd === 'hang') {
  setInterval(() => {}, 1_000)
} else {
  if (config.atEnd === 'close') {
    await db.close()
    say('closed')
  }
  process.exit(0)
}
