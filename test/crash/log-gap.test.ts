/**
 * No gap in the log after a failed append (issue 16). A writer child (log-gap-child.mjs) opens a
 * store at 'fsync' with the test-only fault point `wal-append-after-lsn` armed for its n-th append
 * (src/io/fault-point.ts), so that append fails after its record was numbered and partly encoded;
 * then it makes two more writes and reports each acknowledgement to a file before going on. The
 * parent SIGKILLs it, reopens the store (built dist/, like the rest of the suite) and finds every
 * acknowledged write, and nothing of the rejected one.
 *
 * Before the fix the failed append skipped its LSN (or left a fragment of its record in the group):
 * the reader stops at the gap, so the two acknowledged writes after it were lost on replay, or the
 * rejected write came back.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { distUrl, loadEngine, tempRoot } from './driver.mjs'

const CHILD = fileURLToPath(new URL('./log-gap-child.mjs', import.meta.url))
const root = tempRoot('learned-storage-crash-log-gap-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

type Put = { key: number; bytes: number }
type Del = { del: number }
type Step = (Put | Del | { batch: (Put | Del)[] }) & { together?: boolean }

/** The bytes the child writes for a put (log-gap-child.mjs valueOf), rebuilt from key and length. */
function valueOf(key: number, bytes: number): Uint8Array {
  const value = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) value[i] = (key * 131 + i * 7 + (i >> 8)) & 0xff
  return value
}

function applyStep(model: Map<number, Uint8Array>, step: Step): void {
  if ('batch' in step) for (const op of step.batch) applyStep(model, op)
  else if ('del' in step) model.delete(step.del)
  else model.set(step.key, valueOf(step.key, step.bytes))
}

function keysOf(step: Step): number[] {
  if ('batch' in step) return step.batch.flatMap(keysOf)
  return 'del' in step ? [step.del] : [step.key]
}

/** Runs the child until it reports `ready`, then SIGKILLs it. Returns its report lines. */
async function runChild(dir: string, steps: Step[], faultAt: number): Promise<string[]> {
  const reportFile = path.join(root, `${path.basename(dir)}.report`)
  fs.writeFileSync(reportFile, '')
  const env: NodeJS.ProcessEnv = { ...process.env, LEARNED_STORAGE_FAULT_POINT: `wal-append-after-lsn:${faultAt}` }
  delete env.LEARNED_STORAGE_KILL_POINT
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ dir, steps, reportFile, dist: distUrl().href })], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  let gone = false
  void exited.then(() => (gone = true))
  const readLines = (): string[] => fs.readFileSync(reportFile, 'utf8').split('\n').filter((l) => l !== '')
  const deadline = Date.now() + 30_000
  while (!readLines().includes('ready') && !gone && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  child.kill('SIGKILL')
  const { signal } = await exited
  expect(signal, `the child ended before it was killed: ${stderr}`).toBe('SIGKILL')
  const lines = readLines()
  expect(lines, `the child never got ready: ${stderr}`).toContain('ready')
  return lines
}

const CASES: { name: string; faultAt: number; steps: Step[] }[] = [
  {
    name: 'a batch of several fragments fails alone in its group, after three writes',
    faultAt: 4,
    steps: [
      { key: 1, bytes: 300 },
      { key: 2, bytes: 70_000 },
      { key: 3, bytes: 20 },
      { batch: [{ key: 10, bytes: 70_000 }, { key: 11, bytes: 50 }, { del: 1 }] },
      { key: 4, bytes: 500 },
      { batch: [{ key: 5, bytes: 40_000 }, { del: 2 }] },
    ],
  },
  {
    name: 'a small put fails in the group the two writes after it join',
    faultAt: 3,
    steps: [
      { key: 1, bytes: 300 },
      { key: 2, bytes: 9_000 },
      { key: 10, bytes: 200 },
      { key: 4, bytes: 500, together: true },
      { batch: [{ key: 5, bytes: 100 }, { del: 1 }], together: true },
    ],
  },
  {
    name: 'the first write to a new store fails',
    faultAt: 1,
    steps: [
      { key: 10, bytes: 40_000 },
      { key: 4, bytes: 500 },
      { batch: [{ key: 5, bytes: 33_000 }, { key: 6, bytes: 1 }] },
    ],
  },
]

describe('a log append that fails after taking its LSN, then SIGKILL', () => {
  it.each(CASES)('$name: the reopened store holds both later acknowledged writes, nothing of the failed one', async ({ faultAt, steps }) => {
    const { open, ErrorCode } = await loadEngine()
    const dir = path.join(root, `store-${faultAt}-${steps.length}`)
    fs.mkdirSync(dir)
    const lines = await runChild(dir, steps, faultAt)
    // The failing step is the faultAt-th write; every other step was acknowledged.
    const failing = faultAt - 1
    const expectedLines = steps.map((_, i) => (i === failing ? `r ${i} ${ErrorCode.IO}` : `a ${i}`))
    const outcomes = lines.filter((l) => l !== 'ready')
    expect(outcomes.map((l) => l.split(' ').slice(0, 2).join(' ')).sort(), 'which steps were acknowledged').toEqual(expectedLines.map((l) => l.split(' ').slice(0, 2).join(' ')).sort())
    const model = new Map<number, Uint8Array>()
    steps.forEach((step, i) => i !== failing && applyStep(model, step))
    const universe = [...new Set(steps.flatMap(keysOf))].sort((a, b) => a - b)
    const db = await open(dir, { pageSizeBytes: 4096 })
    try {
      const wrong: string[] = []
      for (const key of universe) {
        const got = db.get(key)
        const want = model.get(key)
        if (want === undefined ? got !== undefined : got === undefined || Buffer.compare(got, want) !== 0) {
          wrong.push(`key ${key}: ${got === undefined ? 'absent' : `${got.byteLength} bytes`}, expected ${want === undefined ? 'absent' : `${want.byteLength} bytes`}`)
        }
      }
      expect(wrong).toEqual([])
      expect(db.stats().records).toBe(model.size)
      await db.check()
    } finally {
      await db.close()
    }
    // The rejection is typed.
    expect(outcomes.sort()).toEqual(expectedLines.sort())
  })
})
