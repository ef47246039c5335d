/**
 * Tuned RocksDB as a `KvSystem`, through @nxtedition/rocksdb (RocksDB 9.7.4). The package's README is
 * stale; what is used here was read from its index.js, chained-batch.js, util.js and binding.cc.
 *
 * Options (`RocksLevel.open(dir, options)`, read by binding.cc's db_open / InitOptions):
 * - compression: false, walCompression: false: the binding's defaults are ZSTD for tables and WAL.
 * - parallelism: 2: IncreaseParallelism(2), i.e. 2 background flush/compaction jobs (2-core machine).
 * - cacheSize: the memory budget, as the HyperClockCache block cache (a uint32 in the binding, so it
 *   is capped at 4 GiB - 1).
 * - no `optimize` / `filterPolicy`: the binding's default table filter is a 10 bits/key bloom filter.
 * - infoLogLevel unset: the binding then installs a null logger (no LOG file).
 * - Not settable: write_buffer_size and level0_file_num_compaction_trigger. The binding sets the write
 *   buffer only under `compaction: 'level'` + `memtableMemoryBudget` (write buffer = budget / 4), and
 *   that branch also forces ZSTD on levels >= 2, an L0 trigger of 2, 6 write buffers and L1 = budget;
 *   so RocksDB's defaults stay (64 MiB write buffer, L0 trigger 4) and `settings` says so.
 *
 * Keys are 8-byte big-endian unsigned integers (keys are integers below 2^53, so byte order is
 * numeric order). Calls go to the binding-level methods (`_getManySync`, `querySync`, a chained
 * batch's `_put` / `_writeSync` / `_clear`), below abstract-level's per-call encoding and bookkeeping.
 *
 * Writes: the binding's `batch_write` runs `DB::Write` synchronously on the main thread, so two JS
 * callers are never inside RocksDB at once and RocksDB's own group commit (which merges concurrent
 * writers into one WAL write and sync) never engages. To give RocksDB its fastest durable-write path,
 * `put` appends to one pending WriteBatch and a single flush per event-loop turn (setImmediate) writes
 * it with `sync: durability === 'fsync'` and resolves every put in it: group commit at the application
 * level. The per-write variant (`openRocksDbPerWrite`) instead writes each put on its own, synchronously,
 * the way a plain `db.put` behaves; the benchmark reports both for durable writes. The binding cannot
 * disable the WAL per write, so 'none' behaves as 'os' (WAL written, not synced).
 *
 * Reads: `get` is `_getManySync([key])` (the binding's only synchronous point read: a MultiGet of one
 * key; the value is copied into a fresh Buffer, which measured faster than its `unsafe` zero-copy
 * external buffers); `getMany` is `_getManySync` over slices of at most 256 keys, their key Buffers
 * views of one reused buffer; `scan` is one `querySync({ gte, limit })`, which returns
 * `{ rows: [key0, value0, key1, value1, ...], finished }`. The binding's iterators default to
 * fill_cache false; scans pass `fillCache: true` (RocksDB's own default) so the block cache serves them
 * as it serves point reads.
 *
 * cacheHitRate is undefined: the binding never enables RocksDB statistics, so there are no block cache
 * hit/miss tickers, and its properties (rocksdb.stats, rocksdb.block-cache-entry-stats) report only
 * capacity and usage.
 */
import { createRequire } from 'node:module'
import { setImmediate as yieldTurn } from 'node:timers/promises'
import type { EntryVisitor, KvSystem, SystemConfig } from '../types.js'
import { directoryBytes } from './disk.js'

// ---- the part of @nxtedition/rocksdb used here (CommonJS, no type declarations) ------------------

interface RocksOpenOptions {
  keyEncoding: 'buffer'
  valueEncoding: 'buffer'
  compression: boolean
  walCompression: boolean
  parallelism: number
  cacheSize: number
}

/** A chained batch's binding-level methods: append to / write / empty one native WriteBatch. */
interface RocksChainedBatch {
  _put(key: Uint8Array, value: Uint8Array, options: object): void
  _writeSync(options: { sync: boolean }): void
  _clear(): void
}

interface RocksQueryOptions {
  gte: Buffer
  limit: number
  keyEncoding: 'buffer'
  valueEncoding: 'buffer'
  fillCache: boolean
}

interface RocksLevelDb {
  batch(): RocksChainedBatch
  /** One row per key: a Buffer, undefined when absent, null when aborted (timeouts; not used). */
  _getManySync(keys: readonly Buffer[], options: { valueEncoding: 'buffer' }): (Buffer | null | undefined)[]
  /** Rows alternate key, value. */
  querySync(options: RocksQueryOptions): { rows: Buffer[]; finished: boolean }
  close(): Promise<void>
}

interface RocksLevelClass {
  open(location: string, options: RocksOpenOptions): Promise<RocksLevelDb>
}

const require = createRequire(import.meta.url)
const { RocksLevel } = require('@nxtedition/rocksdb') as { RocksLevel: RocksLevelClass }
const ROCKS_PACKAGE_VERSION = (require('@nxtedition/rocksdb/package.json') as { version: string }).version
const ROCKSDB_VERSION = '9.7.4'

// ---- keys -----------------------------------------------------------------------------------------

const KEY_BYTES = 8
const TWO_32 = 4294967296

/** Writes `key` (an integer in [0, 2^53)) as 8 big-endian bytes at `offset`. */
export function writeKey(target: Buffer, offset: number, key: number): void {
  if (!(key >= 0 && key <= Number.MAX_SAFE_INTEGER && Math.floor(key) === key)) {
    throw new RangeError(`rocksdb keys are integers in [0, 2^53), not ${key}`)
  }
  target.writeUInt32BE(Math.floor(key / TWO_32), offset)
  target.writeUInt32BE(key >>> 0, offset + 4)
}

export function readKey(source: Buffer): number {
  return source.readUInt32BE(0) * TWO_32 + source.readUInt32BE(4)
}

// ---- the system -------------------------------------------------------------------------------------

/** The most keys one `_getManySync` call takes. */
export const MULTI_GET_MAX = 256
/** The binding reads the block cache size as a uint32. */
const MAX_CACHE_SIZE = TWO_32 - 1
const EMPTY_OPTIONS = Object.freeze({})
const GET_OPTIONS = Object.freeze({ valueEncoding: 'buffer' as const })
const RESOLVED: Promise<void> = Promise.resolve()

export interface RocksDbOptions {
  /** Each put is its own synchronous write, rather than one write per event-loop turn. */
  perWrite?: boolean
}

export async function openRocksDb(config: SystemConfig, options: RocksDbOptions = {}): Promise<RocksDbSystem> {
  const openOptions: RocksOpenOptions = {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    compression: false,
    walCompression: false,
    parallelism: 2,
    cacheSize: Math.max(1, Math.min(MAX_CACHE_SIZE, Math.floor(config.memoryBytes))),
  }
  const db = await RocksLevel.open(config.directory, openOptions)
  return new RocksDbSystem(db, config, openOptions, options.perWrite === true)
}

/** The variant whose puts are each one synchronous write (no application-level group commit). */
export function openRocksDbPerWrite(config: SystemConfig): Promise<RocksDbSystem> {
  return openRocksDb(config, { perWrite: true })
}

export class RocksDbSystem implements KvSystem {
  readonly name = 'rocksdb' as const
  readonly settings: readonly string[]

  /** The one native WriteBatch every write goes through (emptied after each write). */
  private readonly batch: RocksChainedBatch
  private readonly writeOptions: { sync: boolean }
  /** Scratch key for single gets and puts: the binding copies or finishes with it before returning. */
  private readonly key = Buffer.allocUnsafe(KEY_BYTES)
  private readonly getKeys: readonly Buffer[] = [this.key]
  /** Keys of one multi-get: views of one buffer; `multiKeyLists[n]` holds the first n of them. */
  private readonly multiKeyViews: Buffer[] = []
  private readonly multiKeyLists: Buffer[][] = []
  private readonly scanKey = Buffer.allocUnsafe(KEY_BYTES)
  private readonly query: RocksQueryOptions

  /** The puts of this turn, written together by `flushGroup`. */
  private group: Promise<void> | null = null
  private resolveGroup: () => void = () => {}
  private rejectGroup: (error: unknown) => void = () => {}

  constructor(
    private readonly db: RocksLevelDb,
    private readonly config: SystemConfig,
    openOptions: RocksOpenOptions,
    private readonly perWrite: boolean,
  ) {
    this.batch = db.batch()
    this.writeOptions = { sync: config.durability === 'fsync' }
    const multiKeys = Buffer.allocUnsafe(KEY_BYTES * MULTI_GET_MAX)
    for (let i = 0; i < MULTI_GET_MAX; i++) this.multiKeyViews.push(multiKeys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES))
    this.query = { gte: this.scanKey, limit: 0, keyEncoding: 'buffer', valueEncoding: 'buffer', fillCache: true }
    const { keyEncoding: _k, valueEncoding: _v, ...rocksOptions } = openOptions
    this.settings = [
      `@nxtedition/rocksdb ${ROCKS_PACKAGE_VERSION} (RocksDB ${ROCKSDB_VERSION}): RocksLevel.open(dir, ${JSON.stringify(rocksOptions)})`,
      `block cache: HyperClockCache of ${openOptions.cacheSize} B${openOptions.cacheSize < config.memoryBytes ? ` (the binding's uint32 cap; budget ${config.memoryBytes} B)` : ''}`,
      'bloom filter 10 bits/key (the binding default filter policy); index and filter blocks are held outside the block cache (cache_index_and_filter_blocks false, the binding default), so not bounded by the budget',
      'compression: none (tables and WAL); background jobs: 2 (IncreaseParallelism(2)); info log: off (the binding default)',
      'not set: write buffer 256 MiB and level-0 compaction trigger 8 (kept RocksDB defaults 64 MiB and 4): the binding sets write_buffer_size only with compaction: "level" + memtableMemoryBudget, which also forces ZSTD on levels >= 2, an L0 trigger of 2, 6 write buffers and max_bytes_for_level_base = budget',
      perWrite
        ? `put: one write per put: each put is its own synchronous WriteBatch write (sync: ${this.writeOptions.sync}); no group commit (the binding writes on the main thread)`
        : `put: application-level group commit: the puts of one event-loop turn share one WriteBatch written at setImmediate (sync: ${this.writeOptions.sync}); the binding writes synchronously on the main thread, so RocksDB's own group commit never engages`,
      "durability 'none' is the same as 'os' (the binding cannot disable the WAL per write): WAL written, not synced",
      'bulk load: one WriteBatch per chunk with sync false, the last with sync true (durable through the WAL)',
      'get: _getManySync([key]) (MultiGet of one key); getMany: _getManySync over slices of <= 256 keys; scan: querySync({ gte, limit, fillCache: true })',
      'cache hit rate: not reported (the binding does not enable RocksDB statistics, so there are no block cache hit/miss counts)',
      'keys: 8-byte big-endian unsigned integers; disk: logical size of every file in the directory',
    ]
  }

  async bulkLoad(keys: Float64Array, valueAt: (index: number) => Uint8Array, chunkSize: number): Promise<void> {
    if (this.group !== null) await this.group
    const batch = this.batch
    const key = this.key
    for (let start = 0; start < keys.length; start += chunkSize) {
      const end = Math.min(keys.length, start + chunkSize)
      try {
        for (let i = start; i < end; i++) {
          writeKey(key, 0, keys[i]!)
          batch._put(key, valueAt(i), EMPTY_OPTIONS)
        }
        batch._writeSync({ sync: end === keys.length })
      } finally {
        batch._clear()
      }
      // Every write above ran synchronously on this thread: let the event loop breathe between chunks.
      await yieldTurn()
    }
  }

  get(key: number): Uint8Array | undefined {
    writeKey(this.key, 0, key)
    return present(this.db._getManySync(this.getKeys, GET_OPTIONS)[0])
  }

  /**
   * One MultiGet of keys[from..from+count) (count <= MULTI_GET_MAX): one row per key, the value or
   * undefined. The rows array is fresh; its Buffers are the caller's.
   */
  multiGet(keys: ArrayLike<number>, from: number, count: number): (Buffer | null | undefined)[] {
    let list = this.multiKeyLists[count]
    if (list === undefined) {
      if (count > MULTI_GET_MAX) throw new RangeError(`a multi-get takes at most ${MULTI_GET_MAX} keys, not ${count}`)
      list = this.multiKeyViews.slice(0, count)
      this.multiKeyLists[count] = list
    }
    for (let j = 0; j < count; j++) writeKey(list[j]!, 0, keys[from + j]!)
    return this.db._getManySync(list, GET_OPTIONS)
  }

  getMany(keys: Float64Array, from: number, to: number, visit: EntryVisitor): number {
    let found = 0
    for (let start = from; start < to; start += MULTI_GET_MAX) {
      const count = Math.min(MULTI_GET_MAX, to - start)
      const rows = this.multiGet(keys, start, count)
      for (let j = 0; j < count; j++) {
        const value = present(rows[j])
        if (value !== undefined) {
          visit(keys[start + j]!, value)
          found++
        }
      }
    }
    return found
  }

  scan(startKey: number, limit: number, visit: EntryVisitor): number {
    const start = Math.max(0, Math.ceil(startKey))
    if (limit <= 0 || start > Number.MAX_SAFE_INTEGER) return 0
    writeKey(this.scanKey, 0, start)
    this.query.limit = Math.min(limit, 0x7fffffff)
    const { rows } = this.db.querySync(this.query)
    for (let i = 0; i < rows.length; i += 2) visit(readKey(rows[i]!), rows[i + 1]!)
    return rows.length >> 1
  }

  put(key: number, value: Uint8Array): Promise<void> {
    const batch = this.batch
    if (this.perWrite) {
      try {
        writeKey(this.key, 0, key)
        batch._put(this.key, value, EMPTY_OPTIONS)
        batch._writeSync(this.writeOptions)
      } catch (error) {
        return Promise.reject(error)
      } finally {
        batch._clear()
      }
      return RESOLVED
    }
    try {
      writeKey(this.key, 0, key)
      batch._put(this.key, value, EMPTY_OPTIONS)
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.group === null) {
      this.group = new Promise<void>((resolve, reject) => {
        this.resolveGroup = resolve
        this.rejectGroup = reject
      })
      setImmediate(this.flushGroup)
    }
    return this.group
  }

  /** Writes the turn's puts as one WriteBatch and settles their shared promise. */
  private readonly flushGroup = (): void => {
    const resolve = this.resolveGroup
    const reject = this.rejectGroup
    this.group = null
    try {
      this.batch._writeSync(this.writeOptions)
    } catch (error) {
      reject(error)
      return
    } finally {
      this.batch._clear()
    }
    resolve()
  }

  diskBytes(): number {
    return directoryBytes(this.config.directory, 'size')
  }

  cacheHitRate(): number | undefined {
    return undefined
  }

  resetCounters(): void {}

  async close(): Promise<void> {
    if (this.group !== null) await this.group.catch(() => {})
    await this.db.close()
  }
}

/** A multi-get row as a value: null (an aborted read, which needs a timeout this adapter never sets) fails. */
function present(row: Buffer | null | undefined): Buffer | undefined {
  if (row === null) throw new Error('rocksdb: a read was aborted')
  return row
}
