import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import CRC32 from 'crc-32'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { StoreError } from '../../src/errors.js'
import { crc32, crc32Range } from '../../src/io/checksum.js'
import { openFile } from '../../src/io/file.js'
import { LOCK_FILE_NAME, lockDirectory } from '../../src/io/lock.js'

const dirs: string[] = []
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-io-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return error instanceof StoreError ? error.code : `not a StoreError: ${String(error)}`
  }
  return undefined
}

describe('crc32', () => {
  it('matches the standard check value of "123456789"', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
  })

  it('matches the crc-32 package on random byte strings and subarrays', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(50), (bytes, cut) => {
        const view = bytes.subarray(Math.min(cut, bytes.length))
        expect(crc32(view)).toBe(CRC32.buf(view) >>> 0)
      }),
      { numRuns: 300 },
    )
  })
})

describe('crc32Range (JavaScript tables below 256 bytes, native above)', () => {
  it('matches the crc-32 package for every range of random buffers, short and long', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1)
        const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1))
        expect(crc32Range(bytes, start, end)).toBe(CRC32.buf(bytes.subarray(start, end)) >>> 0)
      }),
      { numRuns: 2000 },
    )
  })

  it('gives the check value of "123456789" and of every length 0..300 of one buffer', () => {
    expect(crc32Range(new TextEncoder().encode('x123456789y'), 1, 10)).toBe(0xcbf43926)
    const bytes = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff)
    for (let length = 0; length <= 300; length++) expect(crc32Range(bytes, 0, length)).toBe(CRC32.buf(bytes.subarray(0, length)) >>> 0)
  })
})

describe('StorageFile on positioned fs calls', () => {
  it('reads back what was written at scattered positions, and reads short past the end', () => {
    const file = openFile(path.join(tempDir(), 'data'), { create: true })
    const a = Uint8Array.from({ length: 5000 }, (_, i) => i % 251)
    file.write(a, 0, a.length, 4096)
    file.write(Uint8Array.of(7, 8, 9), 1, 2, 10)
    expect(file.size()).toBe(4096 + 5000)
    const back = new Uint8Array(5000)
    expect(file.read(back, 0, 5000, 4096)).toBe(5000)
    expect(back).toEqual(a)
    const two = new Uint8Array(2)
    expect(file.read(two, 0, 2, 10)).toBe(2)
    expect([...two]).toEqual([8, 9])
    expect(file.read(new Uint8Array(100), 0, 100, 4096 + 4990)).toBe(10)
    expect(file.read(new Uint8Array(10), 0, 10, 1 << 20)).toBe(0)
    file.datasync()
    file.truncate(4096)
    expect(file.size()).toBe(4096)
    file.close()
    file.close() // closing twice is harmless
  })

  it('fails to open a missing file without create, with code IO naming the path', () => {
    const missing = path.join(tempDir(), 'missing')
    expect(codeOf(() => openFile(missing))).toBe('IO')
    expect(() => openFile(missing)).toThrow(missing)
  })

  it('refuses writes on a read-only file with code IO', () => {
    const name = path.join(tempDir(), 'ro')
    fs.writeFileSync(name, 'abc')
    const file = openFile(name, { readOnly: true })
    expect(codeOf(() => file.write(Uint8Array.of(1), 0, 1, 0))).toBe('IO')
    file.close()
  })
})

describe('directory lock', () => {
  it('a second lock in the same process fails with LOCKED until the first is released', () => {
    const dir = tempDir()
    const first = lockDirectory(dir)
    expect(codeOf(() => lockDirectory(dir))).toBe('LOCKED')
    first.release()
    const again = lockDirectory(dir)
    again.release()
  })

  it('a lock held by another process fails with LOCKED, and is free once that process is killed', async () => {
    const dir = tempDir()
    const lockPath = path.join(dir, LOCK_FILE_NAME)
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs=require('fs');const {flockSync}=require('fs-ext');` +
          `const fd=fs.openSync(${JSON.stringify(lockPath)},'a');flockSync(fd,'exnb');` +
          `process.stdout.write('locked\\n');setInterval(()=>{},1000)`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    )
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('locked')) resolve()
      })
      holder.on('exit', (code) => reject(new Error(`lock holder exited early with ${code}`)))
    })
    expect(codeOf(() => lockDirectory(dir))).toBe('LOCKED')
    const exited = new Promise((resolve) => holder.on('exit', resolve))
    holder.kill('SIGKILL')
    await exited
    const lock = lockDirectory(dir)
    lock.release()
  })
})
