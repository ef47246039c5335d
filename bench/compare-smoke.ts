/**
 * Smoke test of the comparison benchmark's system adapters (lib/compare/systems): for each system
 * (and RocksDB's per-write variant), in a fresh temporary directory, checked against an independent
 * model (the sorted keys and each key's version; a value's bytes are a function of key, version, size):
 *
 *   1. bulk-load 20,000 random distinct integer keys (and a few edge keys: 0, 255, 256, 2^32 ± 1,
 *      2^53 - 1, ...) at 'fsync', values makeValue(key, 1, 16) and one in eight 256 B;
 *   2. verify: get every key and 1,000 absent ones; getMany over all keys, and over a sub-range of
 *      present and absent keys mixed; scan 100 from 200 start keys (present, absent, past the end);
 *   3. for each durability ('fsync', 'os', 'none'; reopened at that level): put 2,000 overwrites and
 *      100 new keys with 64 puts in flight (version 2, 3, 4), then read them back;
 *   4. close, reopen (openSystem on the same directory), verify everything again, close.
 *
 * Prints PASS / FAIL per system with counts and exits non-zero on any mismatch or error. Small on
 * purpose (a few seconds per system): `npm run build && npm run build:bench && node dist-bench/compare-smoke.js`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openSystem, type SystemVariant } from './lib/compare/systems/index.js'
import { SYSTEM_NAMES, type Durability, type KvSystem, type SystemName } from './lib/compare/types.js'
import { makeValue } from './lib/compare/values.js'
import { Prng } from './lib/prng.js'

const KEY_COUNT = 20_000
const ABSENT_GETS = 1_000
const SCAN_STARTS = 200
const SCAN_LIMIT = 100
const OVERWRITES = 2_000
const INSERTS = 100
const IN_FLIGHT = 64
const CHUNK = 1_000
const MEMORY_BYTES = 8 * 1024 * 1024
const DURABILITIES: readonly Durability[] = ['fsync', 'os', 'none']
const EDGE_KEYS = [0, 1, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 48, 2 ** 53 - 2, 2 ** 53 - 1]
const SEED = 0x5eed

// ---- random numbers and keys ----------------------------------------------------------------------

/** The benchmark's seeded generator (lib/prng.ts) with the three draws this script needs. */
class Random {
  private readonly prng: Prng
  constructor(seed: number) {
    this.prng = new Prng(seed, 'compare-smoke')
  }
  /** An integer in [0, 2^53). */
  key(): number {
    return this.prng.nextUint53()
  }
  below(n: number): number {
    return this.prng.nextBelow(n)
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }
}

/** One in eight values is 256 B, the rest 16 B: a function of the key, so the model needs no sizes. */
function sizeOf(key: number): number {
  return key % 8 === 0 ? 256 : 16
}

// ---- the model ------------------------------------------------------------------------------------

class Model {
  /** Every present key, ascending. */
  sorted = new Float64Array(0)
  readonly versions = new Map<number, number>()

  set(keys: readonly number[], version: number): void {
    let added = false
    for (const key of keys) {
      if (!this.versions.has(key)) added = true
      this.versions.set(key, version)
    }
    if (added) this.sorted = Float64Array.from(this.versions.keys()).sort()
  }

  expected(key: number): Uint8Array | undefined {
    const version = this.versions.get(key)
    return version === undefined ? undefined : makeValue(key, version, sizeOf(key))
  }

  /** The index of the first key >= `key`. */
  lowerBound(key: number): number {
    let low = 0
    let high = this.sorted.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (this.sorted[mid]! < key) low = mid + 1
      else high = mid
    }
    return low
  }

  absentKeys(random: Random, count: number): number[] {
    const keys: number[] = []
    while (keys.length < count) {
      const key = random.key()
      if (!this.versions.has(key)) keys.push(key)
    }
    return keys
  }
}

// ---- checking -------------------------------------------------------------------------------------

class Tally {
  readonly counts = { gets: 0, absentGets: 0, getManyCalls: 0, getManyVisits: 0, scans: 0, scannedEntries: 0, puts: 0 }
  readonly mismatches: string[] = []
  mismatchCount = 0

  fail(message: string): void {
    this.mismatchCount++
    if (this.mismatches.length < 12) this.mismatches.push(message)
  }
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  if (actual.byteLength !== expected.byteLength) return false
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) return false
  return true
}

function checkValue(tally: Tally, where: string, key: number, actual: Uint8Array | undefined, expected: Uint8Array | undefined): void {
  if (expected === undefined) {
    if (actual !== undefined) tally.fail(`${where}: key ${key} should be absent, got ${actual.byteLength} B`)
  } else if (actual === undefined) {
    tally.fail(`${where}: key ${key} missing`)
  } else if (!sameBytes(actual, expected)) {
    tally.fail(`${where}: key ${key} has wrong bytes (${actual.byteLength} B, expected ${expected.byteLength} B)`)
  }
}

function verifyAll(system: KvSystem, model: Model, random: Random, tally: Tally, phase: string): void {
  const present = random.shuffle(Array.from(model.sorted))
  // Point reads: every key, then absent ones.
  for (const key of present) {
    checkValue(tally, `${phase} get`, key, system.get(key), model.expected(key))
    tally.counts.gets++
  }
  const absent = model.absentKeys(random, ABSENT_GETS)
  for (const key of absent) {
    checkValue(tally, `${phase} get absent`, key, system.get(key), undefined)
    tally.counts.absentGets++
  }
  // Multi-gets: all keys; then a sub-range of present and absent keys mixed.
  checkGetMany(system, model, Float64Array.from(present), 0, present.length, tally, `${phase} getMany(all)`)
  const mixed: number[] = []
  for (let i = 0; i < 3000; i++) mixed.push(i % 3 === 0 ? absent[i % absent.length]! : present[i]!)
  checkGetMany(system, model, Float64Array.from(mixed), 100, mixed.length - 50, tally, `${phase} getMany(mixed)`)
  checkGetMany(system, model, Float64Array.from(mixed), 7, 7, tally, `${phase} getMany(empty)`)
  // Scans: from present keys, absent keys, 0, and past the last key.
  const starts: number[] = [0, model.sorted[model.sorted.length - 1]! + 1, model.sorted[model.sorted.length - 3]!]
  while (starts.length < SCAN_STARTS) starts.push(starts.length % 2 === 0 ? present[random.below(present.length)]! : random.key())
  for (const start of starts) checkScan(system, model, start, SCAN_LIMIT, tally, `${phase} scan`)
  checkScan(system, model, present[0]!, 0, tally, `${phase} scan(limit 0)`)
  const rate = system.cacheHitRate()
  if (rate !== undefined && !(rate >= 0 && rate <= 1)) tally.fail(`${phase}: cache hit rate ${rate} out of [0, 1]`)
  if (!(system.diskBytes() > 0)) tally.fail(`${phase}: diskBytes() is ${system.diskBytes()}`)
}

function checkGetMany(system: KvSystem, model: Model, keys: Float64Array, from: number, to: number, tally: Tally, where: string): void {
  const expectedKeys: number[] = []
  for (let i = from; i < to; i++) if (model.versions.has(keys[i]!)) expectedKeys.push(keys[i]!)
  let seen = 0
  const found = system.getMany(keys, from, to, (key, value) => {
    const want = expectedKeys[seen]
    if (key !== want) tally.fail(`${where}: visit ${seen} is key ${key}, expected ${want}`)
    else checkValue(tally, where, key, value, model.expected(key))
    seen++
  })
  tally.counts.getManyCalls++
  tally.counts.getManyVisits += seen
  if (found !== seen || seen !== expectedKeys.length) tally.fail(`${where}: returned ${found}, visited ${seen}, expected ${expectedKeys.length}`)
}

function checkScan(system: KvSystem, model: Model, start: number, limit: number, tally: Tally, where: string): void {
  const first = model.lowerBound(start)
  const expectedCount = Math.min(limit, model.sorted.length - first)
  let seen = 0
  const count = system.scan(start, limit, (key, value) => {
    const want = model.sorted[first + seen]
    if (key !== want) tally.fail(`${where} from ${start}: entry ${seen} is key ${key}, expected ${want}`)
    else checkValue(tally, where, key, value, model.expected(key))
    seen++
  })
  tally.counts.scans++
  tally.counts.scannedEntries += seen
  if (count !== seen || seen !== expectedCount) tally.fail(`${where} from ${start}: returned ${count}, visited ${seen}, expected ${expectedCount}`)
}

/** Puts every key at `version` with IN_FLIGHT puts outstanding at a time. */
async function putAll(system: KvSystem, keys: readonly number[], version: number, tally: Tally): Promise<void> {
  let next = 0
  const writer = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!
      await system.put(key, makeValue(key, version, sizeOf(key)))
      tally.counts.puts++
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, writer))
}

// ---- one system -----------------------------------------------------------------------------------

interface Target {
  label: string
  name: SystemName
  variant?: SystemVariant
}

async function runSystem(target: Target, directory: string): Promise<Tally> {
  const random = new Random(SEED)
  const model = new Model()
  const tally = new Tally()
  mkdirSync(directory, { recursive: true })
  const open = (durability: Durability): Promise<KvSystem> =>
    openSystem(target.name, { directory, memoryBytes: MEMORY_BYTES, durability, valueBytes: 16 }, target.variant)

  const unique = new Set<number>(EDGE_KEYS)
  while (unique.size < KEY_COUNT + EDGE_KEYS.length) unique.add(random.key())
  const loadOrder = random.shuffle([...unique])
  const loadKeys = Float64Array.from(loadOrder)

  let system: KvSystem | null = await open('fsync')
  try {
    if (system.name !== target.name) tally.fail(`name is ${system.name}, expected ${target.name}`)
    await system.bulkLoad(loadKeys, (index) => makeValue(loadKeys[index]!, 1, sizeOf(loadKeys[index]!)), CHUNK)
    model.set(loadOrder, 1)
    system.resetCounters()
    verifyAll(system, model, random, tally, 'after load')

    for (let round = 0; round < DURABILITIES.length; round++) {
      const durability = DURABILITIES[round]!
      if (round > 0) {
        const closing: KvSystem = system
        system = null
        await closing.close()
        system = await open(durability)
      }
      const version = 2 + round
      const overwrites = random.shuffle(Array.from(model.sorted)).slice(0, OVERWRITES)
      const inserts = model.absentKeys(random, INSERTS)
      const written = random.shuffle([...overwrites, ...inserts])
      await putAll(system, written, version, tally)
      model.set(written, version)
      for (const key of written) {
        checkValue(tally, `read back (${durability})`, key, system.get(key), model.expected(key))
        tally.counts.gets++
      }
    }
    const closing: KvSystem = system
    system = null
    await closing.close()

    system = await open('fsync')
    verifyAll(system, model, random, tally, 'after reopen')
  } finally {
    await system?.close()
  }
  return tally
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const targets: Target[] = SYSTEM_NAMES.map((name) => ({ label: name, name }))
  targets.splice(2, 0, { label: 'rocksdb (per-write)', name: 'rocksdb', variant: 'per-write' })
  const root = mkdtempSync(path.join(os.tmpdir(), 'compare-smoke-'))
  let failed = 0
  try {
    for (const [i, target] of targets.entries()) {
      const started = performance.now()
      let line: string
      try {
        const tally = await runSystem(target, path.join(root, `system-${i}`))
        const c = tally.counts
        const counts = `${c.gets} gets, ${c.absentGets} absent gets, ${c.getManyCalls} getMany (${c.getManyVisits} visits), ${c.scans} scans (${c.scannedEntries} entries), ${c.puts} puts`
        if (tally.mismatchCount === 0) {
          line = `PASS ${target.label}: ${counts}`
        } else {
          failed++
          line = `FAIL ${target.label}: ${tally.mismatchCount} mismatches; ${counts}\n  ${tally.mismatches.join('\n  ')}`
        }
      } catch (error) {
        failed++
        line = `FAIL ${target.label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
      }
      console.log(`${line} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  if (failed > 0) {
    console.log(`${failed} of ${targets.length} failed`)
    process.exitCode = 1
  } else {
    console.log(`all ${targets.length} passed`)
  }
}

await main()
