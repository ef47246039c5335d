/**
 * LMDB as a `KvSystem`, through lmdb-js (the `lmdb` package, v3).
 *
 * Options: `open({ path, encoding: 'binary', compression: false, noSync, overlappingSync: false,
 * mapSize: 64 GiB, noMemInit: true })`.
 * - encoding 'binary': values are stored and returned as raw bytes; no object cache (`cache` unset).
 * - Keys are plain numbers in lmdb-js's default ordered-binary key encoding, which keeps numeric order.
 * - overlappingSync false: a commit syncs inside mdb_txn_commit, so a write's promise resolves only
 *   once its transaction is committed and (without noSync) fdatasynced. noSync is set unless the
 *   durability is 'fsync': commits then write the pages with write() and do not sync ('os'); LMDB has
 *   nothing weaker, so 'none' behaves as 'os'. (Checked with strace: at 'fsync', one fdatasync per
 *   transaction, 10 puts issued together sharing one; at 'os', none.)
 * - mapSize 64 GiB: address space only; without a write map the file grows as pages are written.
 * - noMemInit: skips zeroing malloc'd pages before they are written (lmdb-js's suggested speed-up).
 * - noReadAhead (MDB_NORDAHEAD, madvise MADV_RANDOM on the map) in the small-memory condition only:
 *   LMDB's documentation advises it "when the DB is larger than RAM". Without it, under the bench's
 *   memory cap, every page fault read around the faulting page by the device's readahead (8 MiB on the
 *   bench machine, /sys/block/vda/queue/read_ahead_kb): 1M keys (35 MiB) under a 55 MiB cap read
 *   467 GB from the device in 9 minutes of uniform gets, about 400 KiB per get, and the run never
 *   finished. With the budget larger than the data, readahead only speeds the first touch, so it stays on.
 *
 * Memory cannot be bounded: reads go through the mmap, i.e. the OS page cache, whatever the budget;
 * so cacheHitRate is undefined. diskBytes counts allocated blocks (st_blocks × 512), since data.mdb may
 * be sparse or preallocated.
 *
 * - get: `getBinaryFast`, which copies the value into one reused buffer whose `length` property is
 *   patched to the value's size while its byteLength stays the buffer's (MiBs). The adapter returns an
 *   exact-length Uint8Array view of that buffer instead (cached per size, so no allocation per get).
 *   getMany: a loop of it (each value is visited before the next read reuses the buffer).
 * - scan: `getRange({ start, limit })`, whose values are fresh Buffers.
 * - put: `db.put`: lmdb-js queues the puts of one event turn into one transaction that its write
 *   thread commits; all of them share the returned promise.
 * - bulkLoad: `db.batch(() => puts)` per chunk, awaited in turn (written on lmdb-js's write thread;
 *   measured about as fast as transactionSync + putSync on the main thread), then `db.flushed` and an
 *   explicit `mdb_env_sync(force)` (`db.sync`) so the load is on stable storage at any durability.
 */
import * as lmdb from 'lmdb'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { directoryBytes } from './disk.js'
import { SizedViews, getManyByGets } from './reads.js'

const MAP_SIZE = 64 * 1024 ** 3
/** lmdb-js's version (its package.json is not exported) and the LMDB library's (an untyped export). */
const LMDB_JS_VERSION = packageVersion('lmdb')
const LMDB_VERSION = (lmdb as unknown as { version?: { versionString?: string } }).version?.versionString ?? 'LMDB (version unknown)'

function packageVersion(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name))
  for (; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json')
    if (!existsSync(file)) continue
    const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
    if (json.name === name) return json.version ?? 'unknown'
  }
  return 'unknown'
}

/** lmdb-js's `db.sync(callback)` (mdb_env_sync with force on a worker), missing from its types. */
interface Syncable {
  sync(callback: (error?: Error) => void): void
}

interface LmdbOptions {
  encoding: 'binary'
  compression: boolean
  noSync: boolean
  overlappingSync: boolean
  mapSize: number
  noMemInit: boolean
  noReadAhead: boolean
}

export async function openLmdb(config: SystemConfig): Promise<KvSystem> {
  const options: LmdbOptions = {
    encoding: 'binary',
    compression: false,
    noSync: config.durability !== 'fsync',
    overlappingSync: false,
    mapSize: MAP_SIZE,
    noMemInit: true,
    noReadAhead: config.smallMemory === true,
  }
  const db = lmdb.open<Uint8Array, number>({ path: config.directory, ...options })
  return new LmdbSystem(db, config, options)
}

class LmdbSystem implements KvSystem {
  readonly name = 'lmdb' as const
  readonly settings: readonly string[]
  /** Exact-length views of lmdb-js's reused get buffer, by value size (rebuilt if it reallocates). */
  private readonly views = new SizedViews()

  constructor(
    private readonly db: lmdb.RootDatabase<Uint8Array, number>,
    private readonly config: SystemConfig,
    options: LmdbOptions,
  ) {
    this.settings = [
      `lmdb-js ${LMDB_JS_VERSION} (${LMDB_VERSION}): open({ path, ...${JSON.stringify(options)} })`,
      `put: db.put; the puts of one event turn share one transaction; overlappingSync false, so the promise resolves after mdb_txn_commit${options.noSync ? ', which with noSync writes the pages but does not sync them' : ', which fdatasyncs'}`,
      "durability 'none' is the same as 'os' (noSync: written to the file, not synced)",
      'bulk load: db.batch() per chunk, awaited in turn, then db.flushed and mdb_env_sync(force)',
      'get: getBinaryFast (one reused buffer, returned as an exact-length view); getMany: a loop of it; scan: getRange({ start, limit })',
      'memory not bounded by the budget: reads go through the mmap (OS page cache); cache hit rate not reported',
      'disk: allocated bytes (st_blocks x 512) of every file in the directory (data.mdb may be sparse)',
    ]
  }

  async bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array, chunkSize: number): Promise<void> {
    const db = this.db
    for (let start = 0; start < keys.length; start += chunkSize) {
      const end = Math.min(keys.length, start + chunkSize)
      await db.batch(() => {
        for (let i = start; i < end; i++) void db.put(keys[i]!, valueAt(i))
      })
    }
    await db.flushed
    await new Promise<void>((resolve, reject) => {
      ;(db as unknown as Syncable).sync((error) => (error ? reject(error) : resolve()))
    })
  }

  get(key: number): Uint8Array | undefined {
    const bytes = this.db.getBinaryFast(key)
    if (bytes === undefined) return undefined
    // lmdb-js patches `length` on its reused buffer to the value's size, not `byteLength`.
    return bytes.byteLength === bytes.length ? bytes : this.views.view(bytes, bytes.length)
  }

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    return getManyByGets(this.getBound, keys, from, to, visit)
  }

  private readonly getBound = (key: number): Uint8Array | undefined => this.get(key)

  scan(startKey: number, limit: number, visit: EntryVisitor): number {
    if (limit <= 0) return 0
    let count = 0
    for (const { key, value } of this.db.getRange({ start: startKey, limit })) {
      visit(key, value)
      count++
    }
    return count
  }

  put(key: number, value: Uint8Array): Promise<void> {
    // Resolves to true (no ifVersion); the value is of no use to the caller.
    return this.db.put(key, value) as Promise<unknown> as Promise<void>
  }

  diskBytes(): number {
    return directoryBytes(this.config.directory, 'allocated')
  }

  cacheHitRate(): number | undefined {
    return undefined
  }

  resetCounters(): void {}

  close(): Promise<void> {
    return this.db.close()
  }
}
