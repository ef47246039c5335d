/**
 * Reads go on when the disk is full: the buffer pool cannot write its dirty pages (every write fails
 * with NO_SPACE), so an eviction for a read takes a clean frame, or with every frame dirty reads the
 * page without caching it. The dirty pages stay dirty (and readable) until space returns. Checked
 * against the bytes the test wrote, page by page.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ErrorCode, StoreError } from '../../src/errors.js'
import { openFile, type StorageFile } from '../../src/io/file.js'
import { BufferPool } from '../../src/pages/buffer-pool.js'
import { PageType } from '../../src/pages/page-format.js'
import { PageFile } from '../../src/pages/page-file.js'

const PAGE = 4096
const FRAMES = 8
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-pool-full-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A file whose writes and truncates fail with NO_SPACE while `full` is set. */
function fillableFile(inner: StorageFile): StorageFile & { full: boolean } {
  const refuse = (what: string): never => {
    throw new StoreError(ErrorCode.NO_SPACE, `${what} ${inner.path}: ENOSPC (test)`)
  }
  return {
    full: false,
    path: inner.path,
    read: (buffer, offset, length, position) => inner.read(buffer, offset, length, position),
    write(buffer, offset, length, position) {
      if (this.full) refuse('write')
      inner.write(buffer, offset, length, position)
    },
    writev(buffers, position) {
      if (this.full) refuse('write')
      inner.writev(buffers, position)
    },
    size: () => inner.size(),
    truncate(size) {
      if (this.full) refuse('truncate')
      inner.truncate(size)
    },
    datasync: () => inner.datasync(),
    datasyncAsync: () => inner.datasyncAsync(),
    close: () => inner.close(),
  }
}

/** The bytes the test puts in page `id` (the pool seals the header): overflow pages, whose bodies are free bytes (a value page read from disk is walked: value-page.ts). */
function fill(page: Uint8Array, id: number): void {
  page[4] = PageType.OVERFLOW
  for (let b = 64; b < PAGE; b += 97) page[b] = (id * 13 + b) & 0xff
}

function expectPage(page: Uint8Array, id: number): void {
  const want = new Uint8Array(PAGE)
  fill(want, id)
  for (let b = 64; b < PAGE; b += 97) if (page[b] !== want[b]) throw new Error(`page ${id}: byte ${b} is ${page[b]}, expected ${want[b]}`)
}

function setUp(name: string): { raw: ReturnType<typeof fillableFile>; file: PageFile; pool: BufferPool } {
  const raw = fillableFile(openFile(path.join(root, name), { create: true }))
  const file = new PageFile(raw, PAGE)
  const pool = new BufferPool(file, FRAMES * PAGE)
  // Pages 2..31 on disk, clean.
  for (let id = 2; id < 32; id++) {
    const frame = pool.create(id)
    fill(pool.page(frame), id)
    pool.unpin(frame)
  }
  pool.flush()
  pool.clear()
  return { raw, file, pool }
}

describe('buffer pool on a full disk', () => {
  it('every frame dirty: reads go on, uncached; the dirty pages stay until space returns', () => {
    const { raw, file, pool } = setUp('all-dirty')
    raw.full = true
    for (let id = 100; id < 100 + FRAMES; id++) {
      const frame = pool.create(id)
      fill(pool.page(frame), id)
      pool.unpin(frame)
    }
    expect(pool.dirtyPages).toBe(FRAMES)
    for (let id = 2; id < 32; id++) expectPage(pool.peek(id, PageType.OVERFLOW), id)
    for (let id = 100; id < 100 + FRAMES; id++) expectPage(pool.peek(id, PageType.OVERFLOW), id)
    expect(pool.dirtyPages).toBe(FRAMES)
    // A pinned frame cannot be had: fetch is refused, typed.
    expect(() => pool.fetch(3, PageType.OVERFLOW)).toThrow(expect.objectContaining({ code: ErrorCode.NO_SPACE }))
    // Space returns: the dirty pages reach the file.
    raw.full = false
    pool.flush()
    pool.clear()
    for (let id = 100; id < 100 + FRAMES; id++) expectPage(pool.peek(id, PageType.OVERFLOW), id)
    file.close()
  })

  it('some frames dirty: a read evicts a clean frame, never a dirty one', () => {
    const { raw, file, pool } = setUp('some-dirty')
    for (let id = 2; id < 2 + FRAMES / 2; id++) expectPage(pool.peek(id, PageType.OVERFLOW), id)
    raw.full = true
    for (let id = 100; id < 100 + FRAMES / 2; id++) {
      const frame = pool.create(id)
      fill(pool.page(frame), id)
      pool.unpin(frame)
    }
    for (let round = 0; round < 3; round++) for (let id = 2; id < 32; id++) expectPage(pool.peek(id, PageType.OVERFLOW), id)
    expect(pool.dirtyPages).toBe(FRAMES / 2)
    for (let id = 100; id < 100 + FRAMES / 2; id++) expect(pool.isResident(id)).toBe(true)
    raw.full = false
    file.close()
  })
})
