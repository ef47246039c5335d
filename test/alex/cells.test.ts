/**
 * Values in cells (node-layout.ts): an index whose memory gives each slot a cell keeps a small value's
 * bytes beside its key, and every move of a key (shift, expand, split, rebuild, root expansion, bulk
 * load) must carry the bytes with it. Checked against a Map of what was written, through a small
 * maximum node size so that nodes split and rebuild often.
 */
import { describe, it, expect } from 'vitest'
import { AlexIndex } from '../../src/alex/alex-index.js'
import { heapMemory } from '../../src/alex/leaf-store.js'
import { cellValue } from '../../src/alex/node-layout.js'
import { Rng } from './helpers.js'

const WIDTH = 16

type Expected = number | Uint8Array

function bytesOf(rng: Rng): Uint8Array {
  const value = new Uint8Array(rng.int(WIDTH + 1))
  for (let i = 0; i < value.length; i++) value[i] = rng.int(256)
  return value
}

function put(index: AlexIndex<number>, model: Map<number, Expected>, key: number, rng: Rng): void {
  if (rng.int(4) === 0) {
    const handle = 1 + rng.int(1e9)
    index.upsert(key, handle)
    model.set(key, handle)
  } else {
    const value = bytesOf(rng)
    // The value sits at an offset of a larger buffer, as it would in the store's pending queue.
    const buffer = new Uint8Array(value.length + 7)
    buffer.set(value, 3)
    index.upsertCell(key, cellValue(value.length), buffer, 3)
    buffer.fill(0xee)
    model.set(key, value)
  }
}

function compare(index: AlexIndex<number>, model: Map<number, Expected>): void {
  index.check()
  expect(index.size).toBe(model.size)
  const target = new Uint8Array(WIDTH + 4)
  for (const [key, expected] of model) {
    const raw = index.get(key)
    if (typeof expected === 'number') {
      expect(raw).toBe(expected)
      continue
    }
    expect(raw).toBe(cellValue(expected.length))
    target.fill(0xaa)
    expect(index.copyHitCell(target, 2)).toBe(expected.length)
    expect(target.subarray(2, 2 + expected.length)).toEqual(expected)
    expect(target[2 + expected.length]).toBe(expected.length + 2 < target.length ? 0xaa : undefined)
    expect(index.hitCell()).toEqual(expected)
  }
  const sorted = [...model.keys()].sort((a, b) => a - b)
  const entries = index.entries()
  let i = 0
  for (let step = entries.next(); step.done !== true; step = entries.next()) {
    const [key, raw] = step.value
    expect(key).toBe(sorted[i])
    const expected = model.get(key)!
    if (typeof expected === 'number') expect(raw).toBe(expected)
    else expect(entries.cellCopy()).toEqual(expected)
    i++
  }
  expect(i).toBe(sorted.length)
}

describe('values in cells', () => {
  const patterns: [string, (rng: Rng, i: number) => number][] = [
    ['uniform', (rng) => rng.int(1e6)],
    ['ascending', (_rng, i) => i * 3],
    ['descending', (_rng, i) => 1e6 - i * 3],
    ['clustered', (rng) => (rng.int(8) * 1e5) + rng.int(200)],
    ['outward', (_rng, i) => (i % 2 === 0 ? i * 1000 : -i * 1000)],
    // Keys that defeat linear models: paths deepen until a subtree is rebuilt.
    ['exponential', (_rng, i) => 1.01 ** i],
  ]
  for (const [name, next] of patterns) {
    it(`follow their keys through inserts, updates, deletes, splits and rebuilds (${name})`, () => {
      for (let seed = 1; seed <= 2; seed++) {
        const rng = new Rng(seed * 7919)
        const index = new AlexIndex<number>({ maxDataNodeSlots: 64, maxFanout: 16 }, heapMemory(WIDTH))
        const model = new Map<number, Expected>()
        for (let i = 0; i < 3000; i++) {
          const op = rng.int(10)
          if (op < 7 || model.size === 0) put(index, model, next(rng, i), rng)
          else if (op < 8) {
            const keys = [...model.keys()]
            put(index, model, keys[rng.int(keys.length)]!, rng)
          } else {
            const keys = [...model.keys()]
            const key = keys[rng.int(keys.length)]!
            expect(index.delete(key)).toBe(true)
            model.delete(key)
          }
          if (i % 500 === 499) compare(index, model)
        }
        compare(index, model)
      }
    })
  }

  it('are placed by a bulk load and then moved by inserts', () => {
    const rng = new Rng(42)
    const n = 5000
    const keys = new Float64Array(n)
    const values = new Float64Array(n)
    const cells = new Uint8Array(n * WIDTH)
    const model = new Map<number, Expected>()
    for (let i = 0; i < n; i++) {
      keys[i] = i * 10
      if (i % 5 === 0) {
        values[i] = 1 + i
        model.set(keys[i]!, values[i]!)
      } else {
        const value = bytesOf(rng)
        cells.set(value, i * WIDTH)
        values[i] = cellValue(value.length)
        model.set(keys[i]!, value)
      }
    }
    const index = AlexIndex.bulkLoadAscending(keys, values, { maxDataNodeSlots: 128 }, undefined, heapMemory(WIDTH), cells)
    compare(index, model)
    for (let i = 0; i < 4000; i++) put(index, model, rng.int(n * 10 + 5000), rng)
    compare(index, model)
  })
})
