/**
 * The device-probe's child (lib/compare/device-probe.ts), one of two roles:
 *
 *   write FILE BYTES          fills FILE with BYTES of pseudo-random data and syncs it
 *   read FILE SECONDS DEPTHS  reads random 4 KiB-aligned 4 KiB blocks of FILE for SECONDS at each
 *                             queue depth of DEPTHS (e.g. 1,32): depth 1 is a loop of synchronous
 *                             preads, depth d is d chains of asynchronous preads on libuv's thread
 *                             pool (the parent sets UV_THREADPOOL_SIZE to the largest depth)
 *
 * and prints one JSON line per depth: reads, seconds, reads per second, and the device bytes per read
 * from /proc/self/io read_bytes (4096 when every read went to the device).
 */
import { closeSync, fsyncSync, openSync, read, readFileSync, readSync, writeSync } from 'node:fs'

const BLOCK = 4096

function deviceBytes(): number {
  const match = /^read_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'latin1'))
  return match === null ? NaN : Number(match[1])
}

function writeFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w')
  const chunk = new Uint8Array(1 << 20)
  let x = 0x2545f491
  for (let i = 0; i < chunk.length; i += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    chunk[i] = x >>> 24
  }
  for (let at = 0; at < bytes; at += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - at), at)
  fsyncSync(fd)
  closeSync(fd)
}

/** A block index in [0, blocks), from a 32-bit LCG per chain. */
function nextBlock(state: Uint32Array, chain: number, blocks: number): number {
  state[chain] = (Math.imul(state[chain]!, 1664525) + 1013904223) >>> 0
  return state[chain]! % blocks
}

async function readFile(file: string, seconds: number, depth: number, blocks: number): Promise<void> {
  const fd = openSync(file, 'r')
  const state = new Uint32Array(depth).map((_, i) => 0x9e3779b9 ^ (i * 7919) ^ depth)
  const before = deviceBytes()
  const start = performance.now()
  const end = start + seconds * 1000
  let reads = 0
  if (depth === 1) {
    const buffer = new Uint8Array(BLOCK)
    while (performance.now() < end) {
      readSync(fd, buffer, 0, BLOCK, nextBlock(state, 0, blocks) * BLOCK)
      reads++
    }
  } else {
    const chain = (index: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const buffer = new Uint8Array(BLOCK)
        const next = (): void => {
          if (performance.now() >= end) return resolve()
          read(fd, buffer, 0, BLOCK, nextBlock(state, index, blocks) * BLOCK, (error) => {
            if (error !== null) return reject(error)
            reads++
            next()
          })
        }
        next()
      })
    await Promise.all(Array.from({ length: depth }, (_, i) => chain(i)))
  }
  const elapsed = (performance.now() - start) / 1000
  closeSync(fd)
  process.stdout.write(`${JSON.stringify({ depth, reads, seconds: elapsed, perSecond: reads / elapsed, deviceBytesPerRead: (deviceBytes() - before) / reads })}\n`)
}

async function main(): Promise<void> {
  const [role, file, a, b] = process.argv.slice(2)
  if (role === 'write') return writeFile(file!, Number(a))
  if (role !== 'read') throw new Error(`device-probe-child: unknown role ${role}`)
  const { size } = await import('node:fs').then((fs) => fs.statSync(file!))
  const blocks = Math.floor(size / BLOCK)
  for (const depth of b!.split(',').map(Number)) await readFile(file!, Number(a), depth, blocks)
}

await main()
