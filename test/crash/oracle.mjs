// The crash suite's oracle: compares a recovered store with the history of what was issued and
// acknowledged. One module, used by the vitest files and by the soak runner (types: oracle.d.mts).
//
// The model. A directory's history is a sequence of generations (one writer process each). Before
// generation g, the store's state was verified and is known exactly: `base`, key -> write id. In
// generation g the writer issued plan items 0..issued-1 in order (one log record each, so LSN order
// is issue order) and some of them were acknowledged. The recovered state must equal base with the
// first n items applied, for one n with
//     lowerBound <= n <= issued
// where lowerBound is 1 + the last acknowledged item at 'fsync' and 'os' (an acknowledged write is
// never lost, and a write logged before it is durable with it: no holes), and 0 at 'none'. So a write
// in flight shows its old or its new value and nothing else, a batch (one item) is all or nothing,
// and nothing never issued appears. Values are self-describing (workload.mjs), so each value read
// back names its write and is checked byte for byte.
//
// Finding n: for every key, the ops on it split [0, issued] into intervals with one state each; an
// interval whose state differs from the recovered one rules its n out (a difference array makes this
// linear). Any n left in [lowerBound, issued] is the answer.

import { decodeValue, describeWriteId, generationOfWriteId, isWrite, valueMatches, writeId, writesOf } from './workload.mjs'

/** Figures summed over a run (the soak prints them; the last three must stay 0). */
export function newFigures() {
  return {
    cycles: 0,
    operationsVerified: 0,
    acknowledgedWritesVerified: 0,
    acknowledgedWritesLost: 0,
    wrongValuesReturned: 0,
    corruptionsUndetected: 0,
    /** Recovered states that were no prefix of the issued writes (a hole, a torn batch). */
    notAPrefix: 0,
    /** Other failures: errors on reopen or check(), untyped errors, a child that died wrongly. */
    otherFailures: 0,
    corruptionTrials: 0,
    corruptionsDetected: 0,
    /** Reach (the soak's plans): bulk loads found whole after the kill, and their entries; bulk
     *  loads issued but found absent (killed before their checkpoint); values of 1 MiB or more read
     *  back and checked; buffer-pool evictions and values moved by compaction in the writers (from
     *  the last figures each reported before its kill). */
    bulkLoadsVerified: 0,
    bulkEntriesVerified: 0,
    bulkLoadsCutShort: 0,
    mibValuesVerified: 0,
    evictions: 0,
    compactionValuesMoved: 0,
    compactionBytesMoved: 0,
    killPointsHit: {},
  }
}

export function addFigures(into, from) {
  for (const [name, value] of Object.entries(from)) {
    if (name === 'killPointsHit') {
      for (const [point, n] of Object.entries(value)) into.killPointsHit[point] = (into.killPointsHit[point] ?? 0) + n
    } else into[name] += value
  }
  return into
}

/** Every entry of the store, by a full scan, cross-checked with get() and stats().records. */
export function readState(db) {
  const state = new Map()
  let previous
  for (const [key, value] of db.range()) {
    if (previous !== undefined && !(key > previous)) throw new Error(`range() returned key ${key} after ${previous}`)
    previous = key
    state.set(key, value)
  }
  for (const [key, value] of state) {
    const got = db.get(key)
    if (got === undefined || !Buffer.from(got).equals(Buffer.from(value))) throw new Error(`get(${key}) disagrees with range() (${got === undefined ? 'absent' : `${got.byteLength} bytes`})`)
  }
  const records = db.stats().records
  if (records !== state.size) throw new Error(`stats().records is ${records}, range() returned ${state.size} entries`)
  return state
}

/**
 * The write id of every value in `state` (key -> bytes), checking each value byte for byte and
 * that it was written under its key. Returns { ids, wrong: [messages] }.
 */
export function identify(state) {
  const ids = new Map()
  const wrong = []
  for (const [key, value] of state) {
    const header = decodeValue(value)
    if (header === null) wrong.push(`key ${key}: ${value.byteLength} bytes that are no value this suite wrote`)
    else if (header.key !== key) wrong.push(`key ${key} holds the value of key ${header.key} (${describeWriteId(writeId(header.gen, header.index, header.member))})`)
    else if (!valueMatches(value, header)) wrong.push(`key ${key}: ${describeWriteId(writeId(header.gen, header.index, header.member))} with damaged bytes`)
    else ids.set(key, writeId(header.gen, header.index, header.member))
  }
  return { ids, wrong }
}

/** One directory's history: the verified state and the plans of its generations. */
export class History {
  constructor(durability) {
    this.durability = durability
    /** key -> write id: the state verified after the last generation. */
    this.base = new Map()
    this.generation = 0
  }

  /**
   * Verifies the state read from a recovered store (`state`: key -> bytes, from readState) against
   * generation `gen`'s `plan` with `issued` items issued and `acked` (indices) acknowledged;
   * `rejected` items (their promise rejected) may or may not show, whatever n is.
   * `lowerBound` overrides the smallest allowed n (corruption trials). Returns
   *   { ok, n, lost, wrong, notAPrefix, messages, ackedWrites, operations }
   * and, when ok, makes the recovered state the new base.
   */
  verify(state, { gen, plan, issued, acked, rejected = new Set(), lowerBound, commit = true }) {
    const messages = []
    const { ids, wrong } = identify(state)
    for (const message of wrong) messages.push(`wrong value: ${message}`)
    // Every write of this generation that was issued, by key, in issue order.
    const byKey = new Map()
    let ackedWrites = 0
    let operations = 0
    let lastAcked = -1
    const writeLen = new Map()
    for (let i = 0; i < issued; i++) {
      const item = plan.items[i]
      if (item.t !== 'get' && item.t !== 'range') operations++
      if (!isWrite(item)) continue
      if (acked.has(i)) {
        ackedWrites++
        lastAcked = i
      }
      for (const w of writesOf(gen, i, item)) {
        let list = byKey.get(w.key)
        if (list === undefined) byKey.set(w.key, (list = []))
        list.push({ at: i, id: w.id, optional: rejected.has(i) })
        if (w.id !== undefined) writeLen.set(w.id, { key: w.key, len: w.len })
      }
    }
    // A value of this generation must be one issued for that key; older ones must be the base's.
    let wrongCount = wrong.length
    for (const [key, id] of ids) {
      const info = writeLen.get(id)
      const fromThisGen = generationOfWriteId(id) === gen
      if (fromThisGen && (info === undefined || info.key !== key)) {
        messages.push(`wrong value: key ${key} holds ${describeWriteId(id)}, which was never issued for it`)
        wrongCount++
        ids.delete(key)
      } else if (!fromThisGen && generationOfWriteId(id) > gen) {
        messages.push(`wrong value: key ${key} holds ${describeWriteId(id)} from a later generation`)
        wrongCount++
        ids.delete(key)
      }
    }
    const floor = lowerBound ?? (this.durability === 'none' ? 0 : lastAcked + 1)
    // bad[n] > 0: n is ruled out. Difference array over n in [0, issued].
    const bad = new Int32Array(issued + 2)
    const rule = (lo, hi) => {
      if (lo > hi) return
      bad[lo]++
      bad[hi + 1]--
    }
    const keys = new Set([...this.base.keys(), ...byKey.keys(), ...ids.keys()])
    for (const key of keys) {
      const got = ids.get(key)
      const ops = byKey.get(key) ?? []
      // The states the key may show between two ops on it: the last definite op's, or that of any
      // rejected op after it (a rejected write may or may not have reached the log).
      let states = [this.base.get(key)]
      let lo = 0
      for (const op of ops) {
        if (!states.includes(got)) rule(lo, op.at)
        states = op.optional ? [...states, op.id] : [op.id]
        lo = op.at + 1
      }
      if (!states.includes(got)) rule(lo, issued)
    }
    let n = -1
    let running = 0
    const feasible = []
    for (let m = 0; m <= issued; m++) {
      running += bad[m]
      if (running === 0) {
        feasible.push(m)
        if (n < 0 && m >= floor) n = m
      }
    }
    // Acknowledged writes whose effect is gone: the key shows a state from before the write.
    let lost = 0
    const countLost = this.durability !== 'none' || lowerBound !== undefined
    for (const key of keys) {
      const got = ids.get(key)
      const ops = byKey.get(key)
      if (ops === undefined) {
        // Verified in an earlier generation and not written since: it must be exactly as it was.
        if (this.base.get(key) !== got) {
          lost++
          if (lost <= 5) messages.push(`verified state lost: key ${key} held ${describeWriteId(this.base.get(key))} before this generation and was not written in it, but holds ${describeWriteId(got)}`)
        }
        continue
      }
      if (!countLost) continue
      let visibleFrom = -1
      for (let j = ops.length - 1; j >= 0; j--) {
        if (ops[j].id === got) {
          visibleFrom = j
          break
        }
      }
      for (let j = visibleFrom + 1; j < ops.length; j++) {
        const op = ops[j]
        if (op.at >= floor || op.optional || (lowerBound === undefined && !acked.has(op.at))) continue
        lost++
        if (lost <= 5) messages.push(`acknowledged write lost: item ${op.at} (${op.id === undefined ? 'delete' : describeWriteId(op.id)}) of key ${key}; the store holds ${describeWriteId(got)}`)
      }
    }
    let notAPrefix = 0
    if (n < 0 && lost === 0 && wrongCount === 0) {
      notAPrefix = 1
      messages.push(
        feasible.length === 0
          ? `not a prefix of the issued writes: no n in [0, ${issued}] explains the state (a hole or a torn batch)${this.explainHole(ids, keys, byKey, floor, issued)}`
          : `not a prefix: the state matches n in {${feasible.slice(0, 8).join(', ')}${feasible.length > 8 ? ', …' : ''}} but at least ${floor} items are required`,
      )
    }
    const ok = n >= 0 && wrongCount === 0
    if (ok && commit) {
      this.base = ids
      this.generation = gen + 1
    }
    return { ok, n, lost, wrong: wrongCount, notAPrefix, messages, ackedWrites, operations }
  }

  /** Names a few keys whose state disagrees with the state after the first `floor` items. */
  explainHole(ids, keys, byKey, floor, issued) {
    const out = []
    for (const key of keys) {
      const ops = byKey.get(key) ?? []
      let expected = this.base.get(key)
      for (const op of ops) if (op.at < floor) expected = op.id
      const got = ids.get(key)
      if (expected !== got) {
        const newer = ops.find((op) => op.id === got)
        out.push(`key ${key}: expected ${describeWriteId(expected)} (after ${floor} items), got ${describeWriteId(got)}${newer ? ` (item ${newer.at} of ${issued})` : ''}`)
      }
      if (out.length >= 4) break
    }
    return out.length > 0 ? `; ${out.join('; ')}` : ''
  }
}
