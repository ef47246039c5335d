/**
 * PendingOps, the store's queue of logged-but-unapplied operations, against a plain array of
 * objects: pushes (some after reserving room for them), shifts and drains in any interleaving (which
 * exercises compaction and growth).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PendingOps } from '../../src/store/pending.js'

type Op = { lsn: number; key: number; handle: number; isPut: boolean }

describe('PendingOps', () => {
  it('behaves as a FIFO of (lsn, key, handle, isPut) through growth and compaction', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), count: fc.integer({ min: 1, max: 300 }), reserve: fc.boolean() }),
      fc.record({ kind: fc.constant('shift' as const), count: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant('drain' as const) }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.integer(), (steps, seed) => {
        const queue = new PendingOps()
        const model: Op[] = []
        let next = seed
        for (const s of steps) {
          if (s.kind === 'push') {
            // A write reserves room for its operations before its record enters the log, so that
            // the pushes after it cannot allocate (or fail): the arrays stay the same ones.
            if (s.reserve) queue.reserve(s.count)
            const arraysBefore = queue.keyList
            for (let i = 0; i < s.count; i++) {
              next = (Math.imul(next, 1103515245) + 12345) | 0
              const op = { lsn: model.length + i, key: next / 7, handle: (next >>> 3) * 2 ** 21 + 40, isPut: (next & 1) === 0 }
              queue.push(op.lsn, op.key, op.handle, op.isPut)
              model.push(op)
            }
            if (s.reserve) expect(queue.keyList, 'the pushes after reserve() replaced the arrays').toBe(arraysBefore)
          } else if (s.kind === 'shift') {
            for (let i = 0; i < s.count && model.length > 0; i++) {
              const expected = model.shift()!
              const got = { lsn: queue.firstLsn, key: queue.firstKey, handle: queue.firstHandle, isPut: queue.firstIsPut }
              expect(got).toEqual(expected)
              queue.shift()
            }
          } else {
            const handles: number[] = []
            queue.drain((handle) => handles.push(handle))
            expect(handles).toEqual(model.filter((op) => op.isPut).map((op) => op.handle))
            model.length = 0
          }
          expect(queue.length).toBe(model.length)
        }
      }),
      { numRuns: 300, seed: 7 },
    )
  })
})
