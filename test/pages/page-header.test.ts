import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StoreError } from '../../src/errors.js'
import { PAGE_ID_MAX, PageType } from '../../src/pages/page-format.js'
import { checkPage, sealPage } from '../../src/pages/page-header.js'

const pageSizes = fc.constantFrom(4096, 8192, 16384, 65536)
const pageTypes = fc.constantFrom(...Object.values(PageType))
const header = fc.record({
  type: pageTypes,
  pageId: fc.integer({ min: 0, max: PAGE_ID_MAX }),
  epoch: fc.maxSafeNat(),
})

function corruptionMessage(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (error instanceof StoreError && error.code === 'CORRUPTION') return error.message
    throw error
  }
  throw new Error('expected a CORRUPTION error')
}

describe('page header', () => {
  it('round-trips type, page id and LSN of every page type and leaves the body untouched', () => {
    fc.assert(
      fc.property(pageSizes, header, fc.uint8Array({ minLength: 1, maxLength: 64 }), (size, fields, fill) => {
        const page = new Uint8Array(size)
        for (let i = 32; i < size; i++) page[i] = fill[i % fill.length]!
        const body = page.slice(32)
        sealPage(page, fields)
        expect(checkPage(page, fields.pageId, 'f')).toEqual(fields)
        expect(page.slice(32)).toEqual(body)
      }),
      { numRuns: 200 },
    )
  })

  it('detects a flipped byte anywhere in the page, naming file, page id and offset', () => {
    fc.assert(
      fc.property(pageSizes, header, fc.nat(), fc.integer({ min: 1, max: 255 }), (size, fields, at, xor) => {
        const page = new Uint8Array(size).fill(0x5a)
        sealPage(page, fields)
        const position = at % size
        page[position]! ^= xor
        const message = corruptionMessage(() => checkPage(page, fields.pageId, 'store/data'))
        expect(message).toContain('store/data')
        expect(message).toContain(`page ${fields.pageId}`)
        expect(message).toContain(`offset ${fields.pageId * size}`)
      }),
      { numRuns: 500 },
    )
  })

  it('rejects a valid page read at the wrong place (a misdirected write)', () => {
    const page = new Uint8Array(4096)
    sealPage(page, { type: PageType.DATA, pageId: 7, epoch: 1 })
    expect(corruptionMessage(() => checkPage(page, 8, 'f'))).toContain('misdirected')
  })

  it('rejects a page that was never written (all zeros)', () => {
    expect(corruptionMessage(() => checkPage(new Uint8Array(4096), 0, 'f'))).toContain('checksum')
  })
})
