/**
 * Create under power loss: a child (create-child.mjs) opens a fresh store under a directory that does
 * not exist yet (three levels of it), through CrashFileSystem with power loss, so the store
 * directory's own creation and its parents' are journaled like any other directory entry. It
 * acknowledges writes one at a time (a checkpoint halfway) and dies in a torn power cut: as the n-th
 * sync of any file or directory starts, for every n from the first sync to past the last, and at
 * random moments. The parent then undoes every directory change whose parent was not synced after it
 * (powerCut), and checks with the real file system: every acknowledged write is there with its bytes,
 * the keys present are a prefix of the writes issued (one write in flight at a time), and check()
 * passes; with nothing acknowledged, no store or one holding such a prefix. Fails if open does not
 * fsync the parent of the directories it makes (the whole store vanishes with its acknowledged writes).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createValue } from './create-child.mjs'
import { powerCut } from './crash-fs.mjs'
import { distUrl, loadEngine, tempRoot } from './driver.mjs'
import { Rng } from './workload.mjs'

const CHILD = fileURLToPath(new URL('./create-child.mjs', import.meta.url))
const WRITES = 6
const root = tempRoot('learned-storage-crash-create-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

interface ChildRun {
  issued: number
  acked: number
  syncs: number
  errors: string[]
  signal: NodeJS.Signals | null
  stderr: string
}

function runChild(config: Record<string, unknown>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify({ ...config, dist: distUrl().href })], { stdio: ['pipe', 'pipe', 'pipe'] })
    const run: ChildRun = { issued: 0, acked: 0, syncs: -1, errors: [], signal: null, stderr: '' }
    let out = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => (out += chunk))
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => (run.stderr += chunk))
    child.on('error', reject)
    child.stdin.on('error', () => {})
    child.on('close', (_code, signal) => {
      clearTimeout(timer)
      for (const line of out.split('\n')) {
        const [kind, rest] = [line[0], line.slice(2)]
        if (kind === 's') run.issued = Number(rest) + 1
        else if (kind === 'a') run.acked = Number(rest) + 1
        else if (kind === 'n') run.syncs = Number(rest)
        else if (kind === 'e') run.errors.push(rest)
      }
      run.signal = signal
      resolve(run)
    })
  })
}

/** One trial: returns its problems (empty when the recovered store is right). */
async function trial(name: string, tear: { tearAtSync?: number; tearAfterMs?: number }, seed: number): Promise<{ problems: string[]; run: ChildRun }> {
  const { open } = await loadEngine()
  const base = path.join(root, name)
  const dir = path.join(base, 'a', 'store')
  const journal = path.join(root, `${name}.journal`)
  const graves = path.join(root, `${name}.graves`)
  const run = await runChild({ dir, journal, graves, writes: WRITES, tearSeed: seed, ...tear })
  powerCut(journal, graves)
  const where = `[${name}: issued ${run.issued}, acknowledged ${run.acked}]`
  const problems: string[] = []
  if (run.signal !== 'SIGKILL') problems.push(`${where} the child ended with ${run.signal}: ${run.stderr.slice(0, 1000)}`)
  if (run.errors.length > 0) problems.push(`${where} rejected: ${run.errors.join('; ')}`)
  if (!fs.existsSync(path.join(dir, 'data.lsp'))) {
    if (run.acked > 0) problems.push(`${where} no store after the power cut (${fs.existsSync(base) ? 'its directory is there' : 'its directory is gone'}), but ${run.acked} writes were acknowledged`)
    return { problems, run }
  }
  let db: Awaited<ReturnType<typeof open>> | undefined
  try {
    db = await open(dir, { durability: 'fsync' })
    await db.check()
    let present = 0
    for (const [key] of db.range()) {
      if (key !== present) problems.push(`${where} key ${key} where key ${present} was expected (not a prefix of the writes)`)
      present++
    }
    if (present < run.acked) problems.push(`${where} ${run.acked - present} acknowledged writes lost (${present} keys)`)
    if (present > run.issued) problems.push(`${where} ${present} keys, but only ${run.issued} writes issued`)
    for (let i = 0; i < present; i++) {
      const got = db.get(i)
      if (got === undefined || Buffer.compare(Buffer.from(got), Buffer.from(createValue(i))) !== 0) problems.push(`${where} key ${i}: wrong value`)
    }
  } catch (error) {
    const e = error as { code?: string; message?: string }
    problems.push(`${where} reopening: ${e.code} ${e.message}`)
  } finally {
    await db?.close()
  }
  if (problems.length === 0) fs.rmSync(base, { recursive: true, force: true })
  return { problems, run }
}

describe('create under power loss', () => {
  it('a fresh store under new directories: a torn power cut at every sync and at random moments keeps every acknowledged write', async () => {
    const dry = await trial('dry', {}, 1)
    expect(dry.problems).toEqual([])
    expect(dry.run.acked).toBe(WRITES)
    // open: directory syncs; create: page file syncs and a rename; the log; one sync per write.
    expect(dry.run.syncs).toBeGreaterThan(WRITES + 4)
    const problems: string[] = []
    let withAcks = 0
    for (let n = 1; n <= dry.run.syncs + 1; n++) {
      const { problems: p, run } = await trial(`sync-${n}`, { tearAtSync: n }, 100 + n)
      problems.push(...p)
      if (run.acked > 0) withAcks++
    }
    const rng = new Rng(20261201)
    for (let i = 0; i < 8; i++) {
      const { problems: p } = await trial(`random-${i}`, { tearAfterMs: rng.int(120) }, 200 + i)
      problems.push(...p)
    }
    expect(problems).toEqual([])
    expect(withAcks).toBeGreaterThan(WRITES)
  }, 120_000)
})
