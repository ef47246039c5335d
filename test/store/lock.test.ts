/**
 * One writer per store directory, across opens in this process and across processes: a second open is
 * LOCKED and the first store is unharmed; closing releases the lock; a SIGKILLed holder releases it.
 *
 * The child processes import the built package (dist/index.js): `npm test` builds before vitest runs.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { ErrorCode, open } from '../../src/index.js'
import type { OpenOptions } from '../../src/store/api.js'
import { Model, bytesFromSeed, closeQuietly, expectStoreEquals, openOutcome, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-lock-')

const DIST_URL = new URL('../../dist/index.js', import.meta.url)
const DIST_FILE = fileURLToPath(DIST_URL)
const SRC_DIR = fileURLToPath(new URL('../../src/', import.meta.url))

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

beforeAll(() => {
  if (!fs.existsSync(DIST_FILE)) throw new Error(`${DIST_FILE} is missing: run \`npm run build\` first (npm test does)`)
  if (fs.statSync(DIST_FILE).mtimeMs + 1000 < newestMtime(SRC_DIR)) {
    throw new Error(`${DIST_FILE} is older than src/: run \`npm run build\` first (npm test does)`)
  }
})

interface ChildResult {
  ok: boolean
  code?: string | null
  message?: string
  value?: number[] | null
}

/** The child's script: open `dir`, optionally read key 1 and write key 2, close, print one JSON line. */
function tryOpenScript(dir: string, options: OpenOptions, write: boolean): string {
  return `
import { open } from ${JSON.stringify(DIST_URL.href)}
let db
try {
  db = await open(${JSON.stringify(dir)}, ${JSON.stringify(options)})
  const v = db.get(1)
  ${write ? 'await db.put(2, Uint8Array.of(2, 2))' : ''}
  await db.close()
  console.log(JSON.stringify({ ok: true, value: v === undefined ? null : Array.from(v) }))
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e && e.code !== undefined ? e.code : null, message: String(e && e.message) }))
}
`
}

function runChild(script: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      const line = out.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line) as ChildResult)
      } catch {
        reject(new Error(`child exited with ${code ?? signal} and no result; stdout: ${out}; stderr: ${err}`))
      }
    })
  })
}

/** Spawns a child that opens the store, writes keys 1000.. (count of them), prints "ready", and waits. */
function spawnHolder(dir: string, count: number, options: OpenOptions = {}): Promise<{ kill: () => Promise<void>; line: string }> {
  const script = `
import { open } from ${JSON.stringify(DIST_URL.href)}
const db = await open(${JSON.stringify(dir)}, ${JSON.stringify(options)})
${options.readOnly === true ? '' : `for (let i = 0; i < ${count}; i++) await db.put(1000 + i, new Uint8Array(300).fill(i & 255))`}
process.stdout.write('ready ' + db.stats().records + '\\n')
// Hold the store until killed; and never outlive the test process (its end of stdin closes).
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let ready = false
    const exited = new Promise<void>((res) => child.on('exit', () => res()))
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /ready[^\n]*\n/.exec(out)
      if (!ready && match !== null) {
        ready = true
        resolve({
          line: match[0].trim(),
          kill: async () => {
            child.kill('SIGKILL')
            await exited
          },
        })
      }
    })
    child.on('exit', (code, signal) => {
      if (!ready) reject(new Error(`holder exited early with ${code ?? signal}; stdout: ${out}; stderr: ${err}`))
    })
  })
}

describe('in one process', () => {
  it('a second open of an open store is LOCKED; the first keeps reading and writing; after close the second succeeds', async () => {
    const dir = tempDir()
    const model = new Model()
    let first: Store | undefined
    let second: Store | undefined
    try {
      first = await open(dir, { pageSizeBytes: 4096 })
      for (let k = 0; k < 50; k++) {
        await first.put(k, bytesFromSeed(100, k))
        model.put(k, bytesFromSeed(100, k))
      }
      for (const options of [{}, { pageSizeBytes: 4096 }, { readOnly: true }, { durability: 'none' as const }]) {
        expect((await openOutcome(dir, options)).code, JSON.stringify(options)).toBe(ErrorCode.LOCKED)
      }
      // The first store is unharmed: reads and writes go on, and survive its close.
      expectStoreEquals(first, model, 'after LOCKED attempts')
      await first.put(1000, bytesFromSeed(9000, 1))
      model.put(1000, bytesFromSeed(9000, 1))
      await first.del(3)
      model.del(3)
      expectStoreEquals(first, model)
      expect((await openOutcome(dir)).code).toBe(ErrorCode.LOCKED)
      await first.close()
      first = undefined
      second = await open(dir)
      expectStoreEquals(second, model, 'second open after close')
    } finally {
      await closeQuietly(first)
      await closeQuietly(second)
    }
  })

  it('the LOCKED error carries a message naming the store', async () => {
    const dir = tempDir()
    let first: Store | undefined
    try {
      first = await open(dir)
      const outcome = await openOutcome(dir)
      expect(outcome.code).toBe(ErrorCode.LOCKED)
      expect(outcome.message).toContain(path.basename(dir))
    } finally {
      await closeQuietly(first)
    }
  })

  it('concurrent opens of one new directory: exactly one succeeds, the others are LOCKED', async () => {
    const dir = tempDir()
    const attempts = await Promise.allSettled([open(dir), open(dir), open(dir), open(dir)])
    const opened = attempts.filter((a): a is PromiseFulfilledResult<Store> => a.status === 'fulfilled').map((a) => a.value)
    try {
      expect(opened.length).toBe(1)
      for (const a of attempts) {
        if (a.status === 'rejected') expect((a.reason as { code?: string }).code).toBe(ErrorCode.LOCKED)
      }
      const db = opened[0] as Store
      await db.put(1, Uint8Array.of(1))
      expect(db.get(1)).toEqual(Uint8Array.of(1))
    } finally {
      for (const db of opened) await closeQuietly(db)
    }
  })
})

describe('across processes', () => {
  it('a child cannot open (writer or reader) while the parent holds the store; after the parent closes it can, and sees the data', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir)
      await db.put(1, Uint8Array.of(1, 2, 3))
      const locked = await runChild(tryOpenScript(dir, {}, true))
      expect(locked).toMatchObject({ ok: false, code: ErrorCode.LOCKED })
      const lockedRo = await runChild(tryOpenScript(dir, { readOnly: true }, false))
      expect(lockedRo).toMatchObject({ ok: false, code: ErrorCode.LOCKED })
      // The parent is unharmed.
      expect(db.get(1)).toEqual(Uint8Array.of(1, 2, 3))
      await db.put(3, Uint8Array.of(3))
      expect(db.has(2)).toBe(false)
      await db.close()
      db = undefined

      const child = await runChild(tryOpenScript(dir, {}, true))
      expect(child).toEqual({ ok: true, value: [1, 2, 3] })
      db = await open(dir)
      expect(db.get(2)).toEqual(Uint8Array.of(2, 2))
      expect(db.get(3)).toEqual(Uint8Array.of(3))
    } finally {
      await closeQuietly(db)
    }
  })

  it('read-only opens share across processes, and exclude a writer in either direction', async () => {
    const dir = tempDir()
    let db: Store | undefined
    try {
      db = await open(dir)
      await db.put(1, Uint8Array.of(5))
      await db.close()
      db = await open(dir, { readOnly: true })
      expect(await runChild(tryOpenScript(dir, { readOnly: true }, false))).toEqual({ ok: true, value: [5] })
      expect(await runChild(tryOpenScript(dir, {}, true))).toMatchObject({ ok: false, code: ErrorCode.LOCKED })
      await db.close()
      db = undefined
      const holder = await spawnHolder(dir, 0, { readOnly: true })
      try {
        expect((await openOutcome(dir)).code).toBe(ErrorCode.LOCKED)
        db = await open(dir, { readOnly: true })
        expect(db.get(1)).toEqual(Uint8Array.of(5))
        await db.close()
        db = undefined
      } finally {
        await holder.kill()
      }
    } finally {
      await closeQuietly(db)
    }
  })

  it('a child that opens, writes and is SIGKILLed releases the lock; the store opens and its checkpointed data is intact', async () => {
    const dir = tempDir()
    const model = new Model()
    let db: Store | undefined
    try {
      db = await open(dir, { pageSizeBytes: 4096 })
      for (let k = 0; k < 500; k++) {
        model.put(k, bytesFromSeed(64, k))
        await db.put(k, bytesFromSeed(64, k))
      }
      await db.close()
      db = undefined

      const holder = await spawnHolder(dir, 2000, { pageSizeBytes: 4096, cacheBytes: 8 * 4096 })
      try {
        expect(holder.line).toBe(`ready ${500 + 2000}`)
        expect((await openOutcome(dir)).code).toBe(ErrorCode.LOCKED)
      } finally {
        await holder.kill()
      }

      db = await open(dir, { pageSizeBytes: 4096 })
      // The checkpointed records are all there. The child's writes (never checkpointed) may or may not
      // be: each of its keys is either absent or holds exactly what the child wrote.
      for (const key of model.keys()) {
        expect(db.get(key), `key ${key}`).toEqual(model.get(key))
      }
      let childKeys = 0
      for (const [key, value] of db.range()) {
        if (key < 1000) continue
        childKeys++
        expect(key).toBeLessThan(3000)
        expect(value).toEqual(new Uint8Array(300).fill((key - 1000) & 255))
      }
      expect(db.stats().records).toBe(500 + childKeys)
      await db.put(-1, Uint8Array.of(1))
      await db.close()
      db = undefined
      db = await open(dir)
      expect(db.get(-1)).toEqual(Uint8Array.of(1))
    } finally {
      await closeQuietly(db)
    }
  })

  it('a SIGKILLed child that created a new store leaves a directory that opens (possibly empty), never LOCKED', async () => {
    const dir = path.join(tempDir(), 'fresh')
    const holder = await spawnHolder(dir, 300, { pageSizeBytes: 4096 })
    await holder.kill()
    let db: Store | undefined
    try {
      db = await open(dir)
      expect(db.stats().pageSizeBytes).toBe(4096)
      for (const [key, value] of db.range()) {
        expect(key >= 1000 && key < 1300).toBe(true)
        expect(value).toEqual(new Uint8Array(300).fill((key - 1000) & 255))
      }
    } finally {
      await closeQuietly(db)
    }
  })
})
