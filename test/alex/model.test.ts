/**
 * Model-based tests: random command sequences run against AlexIndex and against RefIndex (a sorted
 * array plus a Map), comparing every answer. Small node sizes and fanouts make splits, expansions,
 * downward splits and root expansions happen within a few hundred keys.
 */
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { AlexIndex, type AlexOptions, type AlexRange } from '../../src/index.js'
import { RefIndex, entriesDiff, idealLevels } from './helpers.js'

// ---------------------------------------------------------------------------------------------
// Key distributions
// ---------------------------------------------------------------------------------------------

const EXTREMES = [
  1e300, -1e300, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE,
  -0, 0, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), 1e-300,
] as const

const CLUSTER_BASES = [-1e15, -3, 1e9, 4e12] as const

/** Uniform in [0, 1) from an integer, so shrinking moves towards 0. */
const unit = fc.integer({ min: 0, max: 2 ** 30 - 1 }).map((i) => i / 2 ** 30)

const lognormal = fc.tuple(unit, unit).map(([u1, u2]) => {
  const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)
  return Math.floor(Math.exp(2 * z) * 1000)
})

const tiny = fc.oneof(
  fc.integer({ min: -64, max: 64 }).map((k) => 1 + k * Number.EPSILON),
  fc.integer({ min: -64, max: 64 }).map((k) => 1e15 + k * 0.125),
)

const mixedSigns = fc
  .tuple(fc.boolean(), fc.integer({ min: -30, max: 30 }), fc.integer({ min: 1, max: 9 }))
  .map(([negative, exponent, mantissa]) => (negative ? -1 : 1) * mantissa * 10 ** exponent)

const DISTRIBUTIONS = {
  smallIntegers: fc.integer({ min: -16, max: 16 }),
  uniformDoubles: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  lognormal,
  clustered: fc
    .tuple(fc.constantFrom(...CLUSTER_BASES), fc.integer({ min: 0, max: 300 }))
    .map(([base, offset]) => base + offset),
  sequential: fc.integer({ min: 0, max: 4000 }),
  tinyDifferences: tiny,
  mixedSigns,
  outliers: fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: -200, max: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom(...EXTREMES) },
  ),
} satisfies Record<string, fc.Arbitrary<number>>

type DistributionName = keyof typeof DISTRIBUTIONS

const mixed = fc.oneof(...Object.values(DISTRIBUTIONS), fc.constantFrom(...EXTREMES))

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/** A range bound: a key from the distribution, or (when `existing` is set) a stored key. */
interface BoundSpec {
  inclusive: boolean
  key: number
  existing: number | null
}

interface RangeSpec {
  lower: BoundSpec | null
  upper: BoundSpec | null
  reverse: boolean | null
}

/** Mutations made while an iterator is open; `Rel` ones are placed relative to its cursor. */
type Mutation =
  | { t: 'set'; key: number }
  | { t: 'delete'; key: number }
  /** where: -1 between cursor and the key behind it, 0 the cursor key itself, 1 between cursor and the next key ahead. */
  | { t: 'setRel'; where: -1 | 0 | 1 }
  /** where: -1 key behind the cursor, 0 the cursor key, 1 key ahead. */
  | { t: 'deleteRel'; where: -1 | 0 | 1 }
  /** `count` keys between the cursor and the next key ahead (or beyond the last), forcing splits. */
  | { t: 'setRunAhead'; count: number }
  /** Deletes the next `count` keys ahead of the cursor. */
  | { t: 'deleteRunAhead'; count: number }

type Op =
  | { t: 'set'; key: number }
  | { t: 'setRun'; from: 'above' | 'below' | 'key'; key: number; count: number; step: number }
  | { t: 'delete'; key: number }
  | { t: 'deleteExisting'; pick: number }
  | { t: 'deleteRun'; pick: number; count: number }
  | { t: 'get'; key: number }
  | { t: 'getExisting'; pick: number }
  | { t: 'has'; key: number }
  | { t: 'lowerBound'; key: number }
  | { t: 'iterate'; kind: 'entries' | 'keys' | 'values' | 'iterator' | 'forEach'; range: RangeSpec }
  | { t: 'iterateWhileMutating'; range: RangeSpec; take: number; mutations: Mutation[] }
  | { t: 'size' }
  | { t: 'stats' }
  | { t: 'check' }
  | { t: 'clear' }

const pick = fc.nat({ max: 1_000_000 })

function rangeArb(key: fc.Arbitrary<number>): fc.Arbitrary<RangeSpec> {
  const bound: fc.Arbitrary<BoundSpec> = fc.record({
    inclusive: fc.boolean(),
    key,
    existing: fc.option(pick, { nil: null }),
  })
  return fc.record({
    lower: fc.option(bound, { nil: null }),
    upper: fc.option(bound, { nil: null }),
    reverse: fc.constantFrom(null, false, true),
  })
}

function mutationArb(key: fc.Arbitrary<number>): fc.Arbitrary<Mutation> {
  const where = fc.constantFrom(-1 as const, 0 as const, 1 as const)
  return fc.oneof(
    fc.record({ t: fc.constant('set' as const), key }),
    fc.record({ t: fc.constant('delete' as const), key }),
    fc.record({ t: fc.constant('setRel' as const), where }),
    fc.record({ t: fc.constant('deleteRel' as const), where }),
    fc.record({ t: fc.constant('setRunAhead' as const), count: fc.integer({ min: 1, max: 300 }) }),
    fc.record({ t: fc.constant('deleteRunAhead' as const), count: fc.integer({ min: 1, max: 300 }) }),
  )
}

function opArb(key: fc.Arbitrary<number>): fc.Arbitrary<Op> {
  const range = rangeArb(key)
  return fc.oneof(
    { weight: 30, arbitrary: fc.record({ t: fc.constant('set' as const), key }) },
    {
      weight: 5,
      arbitrary: fc.record({
        t: fc.constant('setRun' as const),
        from: fc.constantFrom('above' as const, 'below' as const, 'key' as const),
        key,
        count: fc.integer({ min: 1, max: 300 }),
        step: fc.constantFrom(1, 0.5, 7, 1e6, Number.EPSILON),
      }),
    },
    { weight: 10, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
    { weight: 10, arbitrary: fc.record({ t: fc.constant('deleteExisting' as const), pick }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('deleteRun' as const),
        pick,
        count: fc.integer({ min: 1, max: 400 }),
      }),
    },
    { weight: 8, arbitrary: fc.record({ t: fc.constant('get' as const), key }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('getExisting' as const), pick }) },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('has' as const), key }) },
    { weight: 8, arbitrary: fc.record({ t: fc.constant('lowerBound' as const), key }) },
    {
      weight: 6,
      arbitrary: fc.record({
        t: fc.constant('iterate' as const),
        kind: fc.constantFrom(
          'entries' as const,
          'keys' as const,
          'values' as const,
          'iterator' as const,
          'forEach' as const,
        ),
        range,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('iterateWhileMutating' as const),
        range,
        take: fc.integer({ min: 1, max: 50 }),
        mutations: fc.array(mutationArb(key), { minLength: 1, maxLength: 4 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('size' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('stats' as const) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('check' as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('clear' as const) }) },
  )
}

interface Setup {
  maxDataNodeSlots: number | null
  maxFanout: number | null
  /** Start state: null = new AlexIndex(options); otherwise bulkLoad of these keys (any order, duplicates). */
  bulk: { keys: number[]; typed: boolean } | null
}

function setupArb(key: fc.Arbitrary<number>, maxBulk: number): fc.Arbitrary<Setup> {
  return fc.record({
    maxDataNodeSlots: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(64, 65, 100, 128, 256) },
      { weight: 1, arbitrary: fc.constant(null) },
    ),
    maxFanout: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(2, 4, 8, 16) },
      { weight: 1, arbitrary: fc.constant(null) },
    ),
    bulk: fc.option(
      fc.record({ keys: fc.array(key, { maxLength: maxBulk, size: 'max' }), typed: fc.boolean() }),
      { nil: null, freq: 2 },
    ),
  })
}

function optionsOf(setup: Setup): AlexOptions {
  const options: AlexOptions = {}
  if (setup.maxDataNodeSlots !== null) options.maxDataNodeSlots = setup.maxDataNodeSlots
  if (setup.maxFanout !== null) options.maxFanout = setup.maxFanout
  return options
}

// ---------------------------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------------------------

class Scenario {
  readonly ref = new RefIndex<number>()
  readonly index: AlexIndex<number>
  private nextValue = 0
  private where = 'start'
  private maxSize = 0

  constructor(private readonly setup: Setup) {
    const options = optionsOf(setup)
    if (setup.bulk === null) {
      this.index = new AlexIndex<number>(options)
      return
    }
    const keys = setup.bulk.keys
    const values = keys.map(() => this.nextValue++)
    keys.forEach((key, i) => this.ref.set(key, values[i] as number)) // later duplicates win
    const keyInput = setup.bulk.typed ? Float64Array.from(keys) : keys.slice()
    this.index = AlexIndex.bulkLoad(keyInput, values.slice(), options)
  }

  run(ops: readonly Op[]): void {
    this.expectSameContent()
    ops.forEach((op, step) => {
      this.where = `step ${step} (${op.t})`
      this.apply(op)
      expect(this.index.size, `${this.where}: size`).toBe(this.ref.size)
      this.maxSize = Math.max(this.maxSize, this.ref.size)
    })
    this.where = 'end'
    this.expectSameContent()
    this.index.check()
    this.expectSaneStats()
  }

  /**
   * Depth stays logarithmic in the most keys the index ever held: at most 3 x ideal levels + 6 (see
   * idealLevels). Looser than the 1M-key tests' bound, since a few hundred keys leave little room
   * between "ideal" and "degenerate"; a chain of model nodes whose length follows the key domain
   * (17 levels for 53 keys, 63 for 589 were seen) fails it.
   */
  expectLogarithmicDepth(): void {
    const ideal = idealLevels(
      Math.max(this.maxSize, this.ref.size),
      this.setup.maxDataNodeSlots ?? 65536,
      this.setup.maxFanout ?? 65536,
    )
    // Keys that defeat linear models (+-1e300 beside denormals) make even a bulk load fall back to
    // median splits, one binary level per halving; the index then allows DEPTH_SLACK (4) levels past
    // such a rebuilt subtree, itself under one parent. Still logarithmic: a tree whose depth grew
    // with the key domain or linearly with n fails either bound. (Seed 595191807 of this property,
    // found in a 4000-run soak: 1952 keys at 64 slots reached depth 10 through such a rebuild.)
    const halvings = Math.ceil(Math.log2(Math.max(2, Math.max(this.maxSize, this.ref.size) / ((this.setup.maxDataNodeSlots ?? 65536) / 2))))
    const bound = Math.max(3 * Math.max(1, ideal) + 6, halvings + 6)
    const stats = this.index.stats()
    expect(stats.maxDepth, `maxDepth with ${this.maxSize} keys at most: ${JSON.stringify(stats)}`).toBeLessThanOrEqual(bound)
  }

  private set(key: number): void {
    const value = this.nextValue++
    expect(this.index.set(key, value), `${this.where}: set returns the index`).toBe(this.index)
    this.ref.set(key, value)
  }

  private delete(key: number): void {
    expect(this.index.delete(key), `${this.where}: delete(${key})`).toBe(this.ref.delete(key))
  }

  private existing(pickIndex: number): number | undefined {
    const size = this.ref.size
    return size === 0 ? undefined : this.ref.sorted[pickIndex % size]
  }

  private apply(op: Op): void {
    const { index, ref } = this
    switch (op.t) {
      case 'set':
        return this.set(op.key)
      case 'setRun':
        return this.setRun(op.from, op.key, op.count, op.step)
      case 'delete':
        return this.delete(op.key)
      case 'deleteExisting': {
        const key = this.existing(op.pick)
        if (key !== undefined) this.delete(key)
        return
      }
      case 'deleteRun': {
        const start = ref.size === 0 ? 0 : op.pick % ref.size
        for (const key of ref.sorted.slice(start, start + op.count)) this.delete(key)
        return
      }
      case 'get':
        expect(index.get(op.key), `${this.where}: get(${op.key})`).toBe(ref.get(op.key))
        return
      case 'getExisting': {
        const key = this.existing(op.pick)
        if (key !== undefined) expect(index.get(key), `${this.where}: get(${key})`).toBe(ref.get(key))
        return
      }
      case 'has':
        expect(index.has(op.key), `${this.where}: has(${op.key})`).toBe(ref.has(op.key))
        return
      case 'lowerBound':
        expect(index.lowerBound(op.key), `${this.where}: lowerBound(${op.key})`).toBe(ref.lowerBound(op.key))
        return
      case 'iterate':
        return this.iterate(op.kind, this.rangeOf(op.range))
      case 'iterateWhileMutating':
        return this.iterateWhileMutating(this.rangeOf(op.range), op.take, op.mutations)
      case 'size':
        expect(index.size).toBe(ref.size)
        return
      case 'stats':
        return this.expectSaneStats()
      case 'check':
        index.check()
        return
      case 'clear':
        index.clear()
        ref.clear()
        return
    }
  }

  private setRun(from: 'above' | 'below' | 'key', start: number, count: number, step: number): void {
    for (let i = 0; i < count; i++) {
      let key: number
      if (from === 'above') key = (this.ref.max ?? start) + step
      else if (from === 'below') key = (this.ref.min ?? start) - step
      else key = start + i * step
      if (!Number.isFinite(key)) return
      this.set(key)
    }
  }

  private rangeOf(spec: RangeSpec): AlexRange {
    const range: AlexRange = {}
    const boundKey = (b: BoundSpec): number =>
      b.existing === null ? b.key : (this.existing(b.existing) ?? b.key)
    if (spec.lower !== null) {
      if (spec.lower.inclusive) range.gte = boundKey(spec.lower)
      else range.gt = boundKey(spec.lower)
    }
    if (spec.upper !== null) {
      if (spec.upper.inclusive) range.lte = boundKey(spec.upper)
      else range.lt = boundKey(spec.upper)
    }
    if (spec.reverse !== null) range.reverse = spec.reverse
    return range
  }

  private iterate(kind: 'entries' | 'keys' | 'values' | 'iterator' | 'forEach', range: AlexRange): void {
    const { index, ref } = this
    const what = `${this.where}: ${kind}(${JSON.stringify(range)})`
    switch (kind) {
      case 'entries':
        expect(entriesDiff([...index.entries(range)], ref.entries(range)), what).toBe('same')
        return
      case 'keys':
        expect(entriesDiff([...index.keys(range)], ref.entries(range).map(([k]) => k)), what).toBe('same')
        return
      case 'values':
        expect(entriesDiff([...index.values(range)], ref.entries(range).map(([, v]) => v)), what).toBe('same')
        return
      case 'iterator':
        expect(entriesDiff([...index], ref.entries()), what).toBe('same')
        return
      case 'forEach': {
        const seen: [number, number][] = []
        index.forEach((value, key, self) => {
          expect(self, `${what}: third forEach argument`).toBe(index)
          seen.push([key, value])
        })
        expect(entriesDiff(seen, ref.entries()), what).toBe('same')
        return
      }
    }
  }

  /**
   * Opens an iterator, takes up to `take` entries, mutates, then drains it. Rule under test: the
   * iterator continues from the next key (in its direction) after the last one it yielded, in the
   * index as it is now, with current values, within the range.
   */
  private iterateWhileMutating(range: AlexRange, take: number, mutations: readonly Mutation[]): void {
    const { index, ref } = this
    const what = `${this.where}: entries(${JSON.stringify(range)})`
    const reverse = range.reverse === true
    const before = ref.entries(range)
    const iterator = index.entries(range)
    const yielded: [number, number][] = []
    let exhausted = false
    while (yielded.length < take) {
      const r = iterator.next()
      if (r.done === true) {
        exhausted = true
        break
      }
      yielded.push(r.value)
    }
    expect(entriesDiff(yielded, before.slice(0, yielded.length)), `${what}: before mutating`).toBe('same')
    if (exhausted) expect(yielded.length, `${what}: exhausted early`).toBe(before.length)

    const cursor = yielded.at(-1)?.[0]
    for (const m of mutations) this.mutate(m, cursor, reverse)

    const rest: [number, number][] = []
    for (;;) {
      const r = iterator.next()
      if (r.done === true) break
      rest.push(r.value)
      if (rest.length > ref.size + 1) break // an iterator that never ends fails below
    }
    if (exhausted || cursor === undefined) {
      expect(rest, `${what}: a finished iterator stays finished`).toEqual([])
      return
    }
    const expected = ref.entries(range).filter(([k]) => (reverse ? k < cursor : k > cursor))
    expect(entriesDiff(rest, expected), `${what}: after mutating behind/ahead of cursor ${cursor}`).toBe('same')
  }

  private mutate(m: Mutation, cursor: number | undefined, reverse: boolean): void {
    const { ref } = this
    const c = cursor ?? 0
    const sorted = ref.sorted
    // Neighbours of the cursor in iteration direction, in the current reference.
    const aheadKeys = (): number[] =>
      reverse ? sorted.filter((k) => k < c).reverse() : sorted.filter((k) => k > c)
    const behindKey = (): number | undefined =>
      reverse ? sorted.find((k) => k > c) : sorted.filter((k) => k < c).at(-1)
    const between = (a: number, b: number | undefined, dir: number): number =>
      b === undefined ? a + dir : a / 2 + b / 2
    const dirAhead = reverse ? -1 : 1
    switch (m.t) {
      case 'set':
        return this.set(m.key)
      case 'delete':
        return this.delete(m.key)
      case 'setRel': {
        const key =
          m.where === 0 ? c : m.where === 1 ? between(c, aheadKeys()[0], dirAhead) : between(c, behindKey(), -dirAhead)
        if (Number.isFinite(key)) this.set(key)
        return
      }
      case 'deleteRel': {
        const key = m.where === 0 ? c : m.where === 1 ? aheadKeys()[0] : behindKey()
        if (key !== undefined) this.delete(key)
        return
      }
      case 'setRunAhead': {
        const next = aheadKeys()[0]
        for (let i = 1; i <= m.count; i++) {
          const key = next === undefined ? c + dirAhead * i : c + ((next - c) * i) / (m.count + 1)
          if (Number.isFinite(key)) this.set(key)
        }
        return
      }
      case 'deleteRunAhead':
        for (const key of aheadKeys().slice(0, m.count)) this.delete(key)
        return
    }
  }

  private expectSameContent(): void {
    expect(this.index.size, `${this.where}: size`).toBe(this.ref.size)
    expect(entriesDiff([...this.index.entries()], this.ref.entries()), `${this.where}: entries`).toBe('same')
  }

  private expectSaneStats(): void {
    const s = this.index.stats()
    expect(s.size, `${this.where}: stats.size`).toBe(this.ref.size)
    if (s.size > 0) expect(s.dataNodes).toBeGreaterThanOrEqual(1)
    expect(s.dataSlots).toBeGreaterThanOrEqual(s.size)
    expect(Number.isInteger(s.maxDepth) && s.maxDepth >= 0).toBe(true)
    if (s.size > 0) {
      expect(s.avgDepth).toBeGreaterThanOrEqual(0)
      expect(s.avgDepth).toBeLessThanOrEqual(s.maxDepth)
    }
    if (s.dataNodes > 1) expect(s.modelNodes).toBeGreaterThanOrEqual(1)
  }
}

function runScenario(setup: Setup, ops: readonly Op[]): void {
  new Scenario(setup).run(ops)
}

function runScenarioCheckingDepth(setup: Setup, ops: readonly Op[]): void {
  const scenario = new Scenario(setup)
  scenario.run(ops)
  scenario.expectLogarithmicDepth()
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/** Sequences per distribution; ALEX_MODEL_RUNS=5000 npx vitest run test/alex/model.test.ts for a soak. */
const RUNS_PER_DISTRIBUTION = Number(process.env['ALEX_MODEL_RUNS'] ?? 600)

/**
 * Shrinking replays whole scenarios and can take minutes when a failure needs hundreds of keys;
 * stop it after a minute (longer for a soak) and report the counterexample shrunk so far. A run that times out before
 * finding anything fails too, so a slow machine cannot silently skip runs.
 */
const ASSERT_PARAMS = {
  interruptAfterTimeLimit: 60_000 * Math.max(1, RUNS_PER_DISTRIBUTION / 600),
  markInterruptAsFailure: true,
}

describe('AlexIndex agrees with a sorted-array reference model on random command sequences', () => {
  for (const name of Object.keys(DISTRIBUTIONS) as DistributionName[]) {
    const key = DISTRIBUTIONS[name]
    it(`${name} keys: bulkLoad, set, delete, get, has, lowerBound, ranges, clear match the model`, () => {
      fc.assert(
        fc.property(setupArb(key, 1500), fc.array(opArb(key), { maxLength: 60, size: 'max' }), runScenario),
        { ...ASSERT_PARAMS, numRuns: RUNS_PER_DISTRIBUTION },
      )
    })
  }

  it('keys mixed from every distribution, including -0 and +-1e300, match the model', () => {
    fc.assert(
      fc.property(setupArb(mixed, 1500), fc.array(opArb(mixed), { maxLength: 60, size: 'max' }), runScenario),
      { ...ASSERT_PARAMS, numRuns: RUNS_PER_DISTRIBUTION },
    )
  })

  it('long append-heavy sequences on 64-slot nodes and fanout 2 match the model', () => {
    const key = DISTRIBUTIONS.sequential
    const setup = fc.record({
      maxDataNodeSlots: fc.constant(64),
      maxFanout: fc.constantFrom(2, 4),
      bulk: fc.option(fc.record({ keys: fc.array(key, { maxLength: 400, size: 'max' }), typed: fc.boolean() }), { nil: null }),
    })
    const appendOp: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: opArb(key) },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant('setRun' as const),
          from: fc.constantFrom('above' as const, 'below' as const),
          key,
          count: fc.integer({ min: 50, max: 400 }),
          step: fc.constantFrom(1, 1e-3, 1e9),
        }),
      },
    )
    fc.assert(fc.property(setup, fc.array(appendOp, { maxLength: 40, size: 'max' }), runScenario), { ...ASSERT_PARAMS, numRuns: 150 })
  })
})

describe('AlexIndex tree shape on random command sequences', () => {
  it('depth stays logarithmic in the number of keys, for every distribution and small node sizes', () => {
    fc.assert(
      fc.property(
        setupArb(mixed, 1500),
        fc.array(opArb(mixed), { maxLength: 60, size: 'max' }),
        runScenarioCheckingDepth,
      ),
      { ...ASSERT_PARAMS, numRuns: 200 },
    )
  })

  it('depth stays logarithmic on outlier-heavy sequences (+-1e300 beside small integers)', () => {
    const key = DISTRIBUTIONS.outliers
    fc.assert(
      fc.property(setupArb(key, 1500), fc.array(opArb(key), { maxLength: 60, size: 'max' }), runScenarioCheckingDepth),
      { ...ASSERT_PARAMS, numRuns: 200 },
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Example-based checks of the documented semantics
// ---------------------------------------------------------------------------------------------

describe('AlexIndex.getBatch and prefetch', () => {
  it('getBatch answers as a Map does (NaN for absent keys), and neither it nor prefetch changes the index', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 400 }),
        fc.array(fc.integer({ min: -1200, max: 1200 }), { minLength: 1, maxLength: 200 }),
        fc.constantFrom<AlexOptions>({}, { maxDataNodeSlots: 64, maxFanout: 4 }),
        (stored, asked, options) => {
          const index = new AlexIndex<number>(options)
          const model = new Map<number, number>()
          stored.forEach((key, i) => {
            index.set(key, i * 3 + 0.5)
            model.set(key, i * 3 + 0.5)
          })
          const before = [...index.entries()]
          const statsBefore = JSON.stringify(index.stats())
          const keys = Float64Array.from(asked)
          index.prefetch(keys, 0, keys.length)
          const out = new Float64Array(64)
          for (let from = 0; from < keys.length; from += 64) {
            const count = Math.min(64, keys.length - from)
            out.fill(-1)
            index.getBatch(keys, from, count, out)
            for (let i = 0; i < count; i++) {
              const expected = model.get(keys[from + i]!)
              if (expected === undefined ? !Number.isNaN(out[i]) : out[i] !== expected) return false
            }
          }
          // Lookups by an index that adapts to reads count searches; contents and shape stay.
          const statsAfter = JSON.parse(JSON.stringify(index.stats())) as Record<string, unknown>
          const statsThen = JSON.parse(statsBefore) as Record<string, unknown>
          for (const name of ['size', 'dataNodes', 'modelNodes', 'maxDepth', 'dataSlots']) if (statsAfter[name] !== statsThen[name]) return false
          return entriesDiff([...index.entries()], before) === 'same'
        },
      ),
      { numRuns: 300 },
    )
  })

  it('getBatch rejects a bad key with INVALID_ARGUMENT before writing any answer', () => {
    const index = AlexIndex.bulkLoad([1, 2, 3], [10, 20, 30])
    const out = new Float64Array(4).fill(7)
    expect(() => index.getBatch([1, 2, NaN, 3], 0, 4, out)).toThrow(/finite number/)
    expect([...out]).toEqual([7, 7, 7, 7])
    index.getBatch([3, 1, 4], 0, 3, out)
    expect([out[0], out[1], Number.isNaN(out[2])]).toEqual([30, 10, true])
  })
})

describe('AlexIndex documented semantics', () => {
  it('stores -0 as 0: keys() yields +0 and get(0), get(-0), has(0) find it', () => {
    const index = new AlexIndex<string>()
    index.set(-0, 'zero')
    expect(Object.is([...index.keys()][0], 0)).toBe(true)
    expect(index.get(0)).toBe('zero')
    expect(index.get(-0)).toBe('zero')
    expect(index.has(0)).toBe(true)
    expect(Object.is(index.lowerBound(-1), 0)).toBe(true)
    index.set(0, 'plus')
    expect(index.size).toBe(1)
    expect(index.delete(-0)).toBe(true)
    expect(index.size).toBe(0)
  })

  it('bulkLoad folds -0 into 0 and treats -0 and 0 as the same key (last one wins)', () => {
    const index = AlexIndex.bulkLoad([0, 5, -0], ['plus', 'five', 'minus'])
    expect(index.size).toBe(2)
    const entries = [...index.entries()]
    expect(entries).toEqual([[0, 'minus'], [5, 'five']])
    expect(Object.is(entries[0]?.[0], 0)).toBe(true)
  })

  it('bulkLoad with unsorted keys carries each value with its key and lets the last duplicate win', () => {
    const keys = [5, 3, 9, 3, -1, 5, 7, 3]
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const expected = [...new Map(keys.map((k, i) => [k, values[i] as string]))].sort((a, b) => a[0] - b[0])
    expect([...AlexIndex.bulkLoad(keys, values).entries()]).toEqual(expected)
    expect([...AlexIndex.bulkLoad(Float64Array.from(keys), values, { maxDataNodeSlots: 64 })]).toEqual(expected)
  })

  it('bulkLoad of many duplicates of a few keys keeps the last value of each', () => {
    const keys: number[] = []
    const values: number[] = []
    for (let i = 0; i < 5000; i++) {
      keys.push(i % 7)
      values.push(i)
    }
    const lastValueOf = new Map<number, number>()
    keys.forEach((k, i) => lastValueOf.set(k, values[i] as number))
    const index = AlexIndex.bulkLoad(keys, values, { maxDataNodeSlots: 64, maxFanout: 2 })
    expect([...index]).toEqual([0, 1, 2, 3, 4, 5, 6].map((k) => [k, lastValueOf.get(k)]))
    index.check()
  })

  it('stores undefined and null values: has() is true and size counts them', () => {
    const index = new AlexIndex<undefined | null>()
    index.set(1, undefined).set(2, null)
    expect(index.size).toBe(2)
    expect(index.has(1)).toBe(true)
    expect(index.get(1)).toBeUndefined()
    expect(index.get(2)).toBeNull()
    expect([...index.entries()]).toEqual([[1, undefined], [2, null]])
  })

  it('set overwrites the value of an existing key without changing size', () => {
    const index = new AlexIndex<string>()
    index.set(1, 'a').set(1, 'b')
    expect(index.size).toBe(1)
    expect(index.get(1)).toBe('b')
  })

  it('delete reports whether the key existed; clear empties and the index stays usable', () => {
    const index = AlexIndex.bulkLoad([1, 2, 3], ['a', 'b', 'c'], { maxDataNodeSlots: 64 })
    expect(index.delete(2)).toBe(true)
    expect(index.delete(2)).toBe(false)
    expect(index.delete(42)).toBe(false)
    index.clear()
    expect(index.size).toBe(0)
    expect([...index]).toEqual([])
    expect(index.lowerBound(-1e300)).toBeUndefined()
    index.check()
    index.set(10, 'x')
    expect([...index]).toEqual([[10, 'x']])
    index.check()
  })

  it('an empty index answers every query with nothing', () => {
    for (const index of [new AlexIndex<number>(), AlexIndex.bulkLoad<number>([], [])]) {
      expect(index.size).toBe(0)
      expect(index.get(0)).toBeUndefined()
      expect(index.has(0)).toBe(false)
      expect(index.delete(0)).toBe(false)
      expect(index.lowerBound(-Number.MAX_VALUE)).toBeUndefined()
      expect([...index.entries({ reverse: true })]).toEqual([])
      index.check()
      expect(index.stats().size).toBe(0)
    }
  })

  it('stats of an empty and of a fresh index are finite numbers', () => {
    const index = new AlexIndex<number>()
    for (const [name, value] of Object.entries(index.stats())) {
      expect(Number.isFinite(value), `stats().${name} = ${value}`).toBe(true)
    }
    index.set(1, 1)
    index.delete(1)
    for (const [name, value] of Object.entries(index.stats())) {
      expect(Number.isFinite(value), `stats().${name} = ${value}`).toBe(true)
    }
  })

  it('an iterator continues after its last key: keys inserted behind are skipped, keys ahead are seen', () => {
    const index = AlexIndex.bulkLoad([10, 20, 30, 40], ['a', 'b', 'c', 'd'], { maxDataNodeSlots: 64 })
    const it1 = index.keys()
    expect(it1.next().value).toBe(10)
    expect(it1.next().value).toBe(20)
    index.set(15, 'behind')
    index.set(25, 'ahead')
    index.delete(30)
    expect([...it1]).toEqual([25, 40])

    const it2 = index.keys({ reverse: true })
    expect(it2.next().value).toBe(40)
    index.set(45, 'behind')
    index.set(35, 'ahead')
    index.delete(25)
    expect([...it2]).toEqual([35, 20, 15, 10])
  })

  it('an iterator survives the node splits caused by 5000 inserts ahead of its cursor', () => {
    const index = new AlexIndex<number>({ maxDataNodeSlots: 64, maxFanout: 2 })
    for (let k = 0; k < 100; k++) index.set(k, k)
    const iterator = index.keys()
    for (let k = 0; k < 50; k++) expect(iterator.next().value).toBe(k)
    for (let k = 0; k < 5000; k++) index.set(49.5 + k / 10000, k) // all between 49.5 and 50
    for (let k = 0; k < 5000; k++) index.set(-k - 1, k) // all behind
    const expected = [
      ...Array.from({ length: 5000 }, (_, k) => 49.5 + k / 10000),
      ...Array.from({ length: 50 }, (_, k) => 50 + k),
    ]
    expect([...iterator]).toEqual(expected)
    index.check()
  })

  it('each documented range bound combination selects the right keys', () => {
    const keys = [-5, -1, 0, 1, 2, 3, 10]
    const index = AlexIndex.bulkLoad(keys, keys.map(String), { maxDataNodeSlots: 64 })
    const cases: [AlexRange, number[]][] = [
      [{}, keys],
      [{ gte: 0 }, [0, 1, 2, 3, 10]],
      [{ gt: 0 }, [1, 2, 3, 10]],
      [{ lte: 1 }, [-5, -1, 0, 1]],
      [{ lt: 1 }, [-5, -1, 0]],
      [{ gte: -1, lte: 2 }, [-1, 0, 1, 2]],
      [{ gt: -1, lt: 2 }, [0, 1]],
      [{ gte: -1, lt: 2 }, [-1, 0, 1]],
      [{ gt: -1, lte: 2 }, [0, 1, 2]],
      [{ gte: 2, lte: 2 }, [2]],
      [{ gt: 2, lt: 2 }, []],
      [{ gte: 3, lte: 1 }, []],
      [{ gt: -0 }, [1, 2, 3, 10]],
      [{ gte: -0, lt: 0.5, reverse: true }, [0]],
      [{ gte: -1.5, lte: 2.5, reverse: true }, [2, 1, 0, -1]],
      [{ reverse: false }, keys],
      [{ reverse: true }, [...keys].reverse()],
      [{ gte: -1e300, lte: 1e300 }, keys],
      [{ gt: 10 }, []],
      [{ lt: -5 }, []],
    ]
    for (const [range, expected] of cases) {
      expect([...index.keys(range)], JSON.stringify(range)).toEqual(expected)
      expect([...index.values(range)], JSON.stringify(range)).toEqual(expected.map(String))
    }
  })
})

