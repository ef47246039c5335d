/**
 * A real torn meta page: the writer child (writer.mjs) is killed at the checkpoint-meta-torn kill
 * point, which writes part of the new meta page's first sector (its header and first fields) over the
 * older meta page in that slot and SIGKILLs. Before anything reopens the store, the test reads both
 * meta slots with its own CRC-32 (docs/FORMAT.md: the page's CRC-32 with the checksum field at byte 12
 * taken as zero) and requires the slot being written to fail its checksum while its first bytes are
 * the new meta page's (page magic, type META, the next generation): the tear reached the fields. If
 * the kill point went back to tearing bytes that are zero anyway, the "torn" page would be whole and
 * valid, and this fails. Then the store is reopened (read-only or read-write, then the next generation
 * recovers it too) and must hold every acknowledged write (oracle.mjs): the previous meta page plus the
 * log.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { loadEngine, runWriter, tempRoot, verifyDirectory } from './driver.mjs'
import { History } from './oracle.mjs'
import { STORE_OPTIONS, planGeneration } from './workload.mjs'

const root = tempRoot('learned-storage-crash-torn-meta-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

// docs/FORMAT.md: page header and meta page fields (read here independently of the engine).
const PAGE_MAGIC_OFFSET = 0
const TYPE_OFFSET = 4
const CHECKSUM_OFFSET = 12
const META_TYPE = 1
const GENERATION_OFFSET = 48

interface Slot {
  valid: boolean
  magic: number
  type: number
  generation: number
}

function readSlots(file: string, pageBytes: number): Slot[] {
  const bytes = fs.readFileSync(file)
  return [0, 1].map((slot) => {
    const page = Buffer.from(bytes.subarray(slot * pageBytes, (slot + 1) * pageBytes))
    const stored = page.readUInt32LE(CHECKSUM_OFFSET)
    page.writeUInt32LE(0, CHECKSUM_OFFSET)
    const crc = (zlib as unknown as { crc32(data: Uint8Array): number }).crc32(page) >>> 0
    return { valid: page.length === pageBytes && crc === stored, magic: page.readUInt32LE(PAGE_MAGIC_OFFSET), type: page[TYPE_OFFSET]!, generation: page.readDoubleLE(GENERATION_OFFSET) }
  })
}

describe('torn meta page', () => {
  it.each(['fsync', 'os', 'none'] as const)('at %s: the tear fails the checksum; reopen falls back to the previous meta page plus the log', async (durability) => {
    const { KILL_POINTS } = await loadEngine()
    const problems: string[] = []
    let torn = 0
    for (const seed of [31, 32]) {
      const dir = path.join(root, `${durability}-${seed}`)
      fs.mkdirSync(dir, { recursive: true })
      const history = new History(durability)
      for (let gen = 0; gen < 3; gen++) {
        // Generation 0's first checkpoint is the store's creation (to data.lsp.new): tear a later one.
        const n = gen === 0 ? 2 + (seed % 2) : 1 + ((seed + gen) % 3)
        const planLength = 4000
        const config = { dir, seed, gen, durability, planLength }
        const run = await runWriter(config, { killPoint: `${KILL_POINTS.CHECKPOINT_META_TORN}:${n}` })
        const where = `[${durability}, seed ${seed}, generation ${gen}, ${KILL_POINTS.CHECKPOINT_META_TORN}:${n}]`
        if (run.signal !== 'SIGKILL' || run.killedByParent) {
          problems.push(`${where} the kill point did not fire (${run.code ?? run.signal}, done ${run.done}); stderr ${run.stderr.slice(0, 500)}`)
          break
        }
        const slots = readSlots(path.join(dir, 'data.lsp'), STORE_OPTIONS.pageSizeBytes)
        const bad = slots.filter((s) => !s.valid)
        const good = slots.filter((s) => s.valid)
        if (bad.length !== 1 || good.length !== 1) {
          problems.push(`${where} expected one torn and one valid meta page, got ${slots.map((s) => (s.valid ? 'valid' : 'torn')).join(', ')}`)
          break
        }
        const [tornSlot, goodSlot] = [bad[0]!, good[0]!]
        if (tornSlot.magic !== slots[slots.indexOf(goodSlot)]!.magic || tornSlot.type !== META_TYPE || tornSlot.generation !== goodSlot.generation + 1) {
          problems.push(`${where} the torn slot does not start with the new meta page (type ${tornSlot.type}, generation ${tornSlot.generation}; the valid one has ${goodSlot.generation})`)
        }
        torn++
        const plan = planGeneration(seed, gen, planLength)
        const { result, error } = await verifyDirectory(dir, history, { gen, plan, issued: run.issued, acked: run.acked }, { mode: gen % 2 === 0 ? 'readonly' : 'readwrite' })
        if (error !== null) problems.push(`${where} ${error}`)
        else if (!result!.ok) problems.push(`${where} ${result!.messages.join(' | ')}`)
        if (error !== null || !result!.ok) break
      }
    }
    expect(problems).toEqual([])
    expect(torn).toBe(6)
  }, 120_000)
})
