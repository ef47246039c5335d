/**
 * FrameIndex (the buffer pool's page -> frame map) against a Map: sets, deletes, lookups and clears
 * over small page ids (the direct array, grown on demand) and ids past its range (the Map behind).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameIndex } from '../../src/pages/frame-index.js'

describe('FrameIndex', () => {
  it('maps exactly what a Map would, for page ids near 0, near 2^22 and up to 2^32', () => {
    const pageId = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: (1 << 22) - 3, max: (1 << 22) + 3 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), pageId, frame: fc.integer({ min: 0, max: 100_000 }) }),
      fc.record({ kind: fc.constant('delete' as const), pageId }),
      fc.record({ kind: fc.constant('get' as const), pageId }),
      fc.record({ kind: fc.constant('clear' as const) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const index = new FrameIndex()
        const model = new Map<number, number>()
        for (const o of ops) {
          if (o.kind === 'set') {
            // The pool only sets a page that no frame holds.
            if (model.has(o.pageId)) continue
            index.set(o.pageId, o.frame)
            model.set(o.pageId, o.frame)
          } else if (o.kind === 'delete') {
            index.delete(o.pageId)
            model.delete(o.pageId)
          } else if (o.kind === 'get') {
            expect(index.get(o.pageId)).toBe(model.get(o.pageId) ?? -1)
            expect(index.has(o.pageId)).toBe(model.has(o.pageId))
          } else {
            index.clear()
            model.clear()
          }
          expect(index.size).toBe(model.size)
        }
        for (const [page, frame] of model) expect(index.get(page)).toBe(frame)
      }),
      { numRuns: 300, seed: 3 },
    )
  })
})
