/**
 * Replay rebuilds the same index. The log holds operations, not structure changes; a store's index
 * does not let lookups steer its adaptation (adaptToReads: false), each stored leaf carries its cost
 * counters and the tree image the index-wide ones, so replaying the log from a checkpoint makes
 * exactly the expansions, retrains and splits the live index made. Compared here node by node: every
 * model (fanout, block, parameters), every data node (capacity, model, keys and gaps, bitmap,
 * counters), between the index of a live store and the index a reopen of its copy rebuilds.
 */
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { open } from '../../src/index.js'
import type { BatchOperation } from '../../src/store/api.js'
import { Model, Rng, bytesFromSeed, closeQuietly, expectStoreEquals, useTempDirs, type Store } from './helpers.js'

const tempDir = useTempDirs('learned-storage-replay-shape-')

interface NodeLike {
  isLeaf: boolean
  [field: string]: unknown
}

/** Every structural number of the tree under `root`, in preorder, as lines (a diff shows where). */
function shape(root: NodeLike): string[] {
  const lines: string[] = []
  const walk = (node: NodeLike, path: string): void => {
    if (node.isLeaf) {
      const keys = Array.from(node['keys'] as Float64Array).join(',')
      const bitmap = Array.from(node['bitmap'] as Uint32Array).join(',')
      const fields = ['capacity', 'numKeys', 'dupLog2', 'm1', 'c', 'm2', 'b', 'expectedIterations', 'expectedShifts', 'adaptSearches', 'adaptSearchIterations', 'adaptInserts', 'adaptShifts', 'adaptRightAppends', 'adaptLeftAppends']
      lines.push(`${path} leaf ${fields.map((f) => `${f}=${String(node[f])}`).join(' ')} keys=${keys} bitmap=${bitmap}`)
      return
    }
    const fields = ['fanout', 'dupLog2', 'offset', 'm1', 'c', 'm2', 'b']
    lines.push(`${path} model ${fields.map((f) => `${f}=${String(node[f])}`).join(' ')}`)
    const children = node['children'] as NodeLike[]
    let previous: NodeLike | null = null
    let i = 0
    for (const child of children) {
      if (child !== previous) walk(child, `${path}/${i++}`)
      previous = child
    }
  }
  walk(root, '')
  return lines
}

function indexShape(db: Store): string[] {
  const index = (db as unknown as { index: { root: NodeLike } & Record<string, unknown> }).index
  const state = ['keysBelowDomain', 'keysAboveDomain', 'sizeAtLastLeftExpansion', 'sizeAtLastRightExpansion', 'rebuiltDepth', 'count'].map((f) => `${f}=${String(index[f])}`)
  return [state.join(' '), ...shape(index.root)]
}

function firstDifference(a: string[], b: string[]): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i}:\n  live:     ${a[i]?.slice(0, 400)}\n  replayed: ${b[i]?.slice(0, 400)}`
  }
  return ''
}

describe('replay rebuilds the same index', () => {
  for (const durability of ['fsync', 'os'] as const) {
    it(`at '${durability}': after a checkpoint, writes that expand, split and contract nodes (with reads between them) replay to an identical tree`, async () => {
      const dir = tempDir()
      const model = new Model()
      const rng = new Rng(durability === 'fsync' ? 41 : 43)
      const db = await open(dir, { pageSizeBytes: 4096, durability, checkpointWalBytes: 1 << 30, checkpointIntervalMs: 3_600_000 })
      let live: string[] = []
      const image = tempDir()
      try {
        // A checkpointed base: random keys.
        const base: BatchOperation[] = []
        for (let i = 0; i < 4000; i++) {
          const key = rng.int(1_000_000)
          const value = bytesFromSeed(8 + (i % 24), i)
          base.push({ type: 'put', key, value })
          model.put(key, value)
        }
        await db.batch(base)
        await db.checkpoint()
        const changesAtCheckpoint = (db as unknown as { index: { structureChanges: number } }).index.structureChanges

        // Then only the log: single puts, appends past the largest key (expansions, splits), dense
        // runs, deletes (contractions), batches, and reads of every kind in between.
        for (let round = 0; round < 30; round++) {
          const ops: BatchOperation[] = []
          for (let i = 0; i < 150; i++) {
            const r = rng.int(10)
            const key = r < 4 ? rng.int(1_000_000) : r < 7 ? 1_000_000 + round * 1000 + i : r < 9 ? 500_000 + round * 150 + i * 0.5 : rng.int(1_000_000)
            if (r === 9) {
              ops.push({ type: 'del', key })
              model.del(key)
            } else {
              const value = bytesFromSeed(1 + ((i + round) % 30), round * 1000 + i)
              ops.push({ type: 'put', key, value })
              model.put(key, value)
            }
          }
          if (round % 3 === 0) {
            await db.batch(ops)
          } else {
            await Promise.all(ops.map((op) => (op.type === 'put' ? db.put(op.key, op.value) : db.del(op.key))))
          }
          for (let q = 0; q < 200; q++) db.get(rng.int(1_100_000))
          db.has(rng.int(1_000_000))
          let n = 0
          for (const _ of db.range({ gte: rng.int(1_000_000), limit: 50 })) n++
          for (const _ of db.range({ lte: rng.int(1_000_000), reverse: true, limit: 20 })) n++
          expect(n).toBeGreaterThan(0)
        }
        const changes = (db as unknown as { index: { structureChanges: number } }).index.structureChanges
        expect(changes - changesAtCheckpoint, 'the writes after the checkpoint changed the tree').toBeGreaterThan(20)
        live = indexShape(db)
        // What a crash now leaves: the checkpoint plus the log (every write above is acknowledged).
        fs.cpSync(dir, image, { recursive: true })
      } finally {
        await closeQuietly(db)
      }

      const replayed = await open(image, { readOnly: true })
      try {
        expect(replayed.stats().recovery.replayedRecords).toBeGreaterThan(30)
        expectStoreEquals(replayed, model)
        const shapeAfter = indexShape(replayed)
        expect(firstDifference(live, shapeAfter)).toBe('')
        expect(shapeAfter.length).toBe(live.length)
      } finally {
        await replayed.close()
      }
    })
  }
})
