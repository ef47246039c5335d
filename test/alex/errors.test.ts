/**
 * Bad input: every rejected argument throws StoreError with code INVALID_ARGUMENT and leaves the
 * index exactly as it was (entries compared with a snapshot taken before the call).
 */
import { describe, it, expect } from 'vitest'
import { AlexIndex, StoreError, type AlexOptions, type AlexRange } from '../../src/index.js'

/** Values that are not finite numbers, each under a readable name. */
const BAD_KEYS: [string, unknown][] = [
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['a numeric string', '1'],
  ['an empty string', ''],
  ['a bigint', 1n],
  ['undefined', undefined],
  ['null', null],
  ['a boolean', true],
  ['an object', {}],
  ['an array', [1]],
  ['a boxed number', Object(1) as unknown],
  ['a Date', new Date(0)],
  ['a symbol', Symbol('key')],
  ['a function', () => 1],
]

/** The value that was thrown by `fn`, or a marker if nothing was thrown. */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return 'nothing thrown'
}

function expectInvalidArgument(fn: () => unknown): void {
  const error = thrownBy(fn)
  expect(error).toBeInstanceOf(StoreError)
  expect((error as StoreError).code).toBe('INVALID_ARGUMENT')
}

/** An index with several data nodes and model nodes, plus its content as generated (not as read). */
function fixture(): { index: AlexIndex<string>; snapshot: [number, string][] } {
  const keys: number[] = []
  for (let i = 0; i < 600; i++) keys.push(((i * 7919) % 600) - 300 + i / 1000)
  const values = keys.map((k) => `v${k}`)
  const index = AlexIndex.bulkLoad(keys, values, { maxDataNodeSlots: 64, maxFanout: 4 })
  for (let i = 0; i < 200; i++) index.set(1000 + i, `w${i}`) // grow the right edge after the bulk load
  const snapshot: [number, string][] = keys.map((k, i): [number, string] => [k, values[i] as string])
  for (let i = 0; i < 200; i++) snapshot.push([1000 + i, `w${i}`])
  snapshot.sort((a, b) => a[0] - b[0])
  return { index, snapshot }
}

function expectUnchanged(index: AlexIndex<string>, snapshot: [number, string][]): void {
  expect(index.size).toBe(snapshot.length)
  expect([...index.entries()]).toEqual(snapshot)
  index.check()
}

/** Calls `method` with an arbitrary value, bypassing the static types on purpose. */
type KeyCall = (index: AlexIndex<string>, key: unknown) => unknown

const KEY_METHODS: [string, KeyCall][] = [
  ['get', (index, key) => index.get(key as number)],
  ['has', (index, key) => index.has(key as number)],
  ['set', (index, key) => index.set(key as number, 'new')],
  ['delete', (index, key) => index.delete(key as number)],
  ['lowerBound', (index, key) => index.lowerBound(key as number)],
]

describe('keys that are not finite numbers are rejected by every key method', () => {
  for (const [method, call] of KEY_METHODS) {
    for (const [label, bad] of BAD_KEYS) {
      it(`${method}(${label}) throws INVALID_ARGUMENT and leaves the index unchanged`, () => {
        const { index, snapshot } = fixture()
        expectInvalidArgument(() => call(index, bad))
        expectUnchanged(index, snapshot)
      })
    }
  }

  it('set(NaN) on an empty index leaves it empty', () => {
    const index = new AlexIndex<string>()
    expectInvalidArgument(() => index.set(NaN, 'x'))
    expect(index.size).toBe(0)
    expect([...index]).toEqual([])
    index.check()
  })
})

describe('range bounds that are not finite numbers are rejected', () => {
  const ITERATORS: [string, (index: AlexIndex<string>, range: AlexRange) => Iterable<unknown>][] = [
    ['entries', (index, range) => index.entries(range)],
    ['keys', (index, range) => index.keys(range)],
    ['values', (index, range) => index.values(range)],
  ]
  for (const [method, open] of ITERATORS) {
    for (const bound of ['gte', 'gt', 'lte', 'lt'] as const) {
      for (const [label, bad] of BAD_KEYS) {
        if (bad === undefined) continue // { gte: undefined } reads as "no bound"
        it(`${method}({ ${bound}: ${label} }) throws INVALID_ARGUMENT and leaves the index unchanged`, () => {
          const { index, snapshot } = fixture()
          const range = { [bound]: bad } as unknown as AlexRange
          expectInvalidArgument(() => [...open(index, range)])
          expectUnchanged(index, snapshot)
        })
      }
    }
  }

  it('a bad bound is rejected when the iterator is created, before the first next()', () => {
    const { index, snapshot } = fixture()
    expectInvalidArgument(() => index.entries({ gte: NaN }))
    expectInvalidArgument(() => index.keys({ lt: Infinity }))
    expectInvalidArgument(() => index.values({ gte: 0, gt: 1 }))
    expectInvalidArgument(() => index.entries({ until: 3 } as unknown as AlexRange))
    expectUnchanged(index, snapshot)
  })
})

describe('malformed range objects are rejected', () => {
  const BAD_RANGES: [string, unknown][] = [
    ['both gte and gt', { gte: 1, gt: 2 }],
    ['both lte and lt', { lte: 5, lt: 6 }],
    ['all four bounds', { gte: 1, gt: 1, lte: 5, lt: 5 }],
    ['both lower bounds with reverse', { gte: -1, gt: -1, reverse: true }],
    ['an unknown name', { from: 1 }],
    ['an unknown name beside valid bounds', { gte: 1, lte: 5, limit: 2 }],
    ['a misspelt reverse', { Reverse: true }],
    ['a misspelt bound', { gteq: 0 }],
  ]
  for (const [label, range] of BAD_RANGES) {
    for (const method of ['entries', 'keys', 'values'] as const) {
      it(`${method}() with ${label} throws INVALID_ARGUMENT and leaves the index unchanged`, () => {
        const { index, snapshot } = fixture()
        expectInvalidArgument(() => [...index[method](range as AlexRange)])
        expectUnchanged(index, snapshot)
      })
    }
  }
})

describe('bad options are rejected by the constructor and by bulkLoad', () => {
  const BAD_OPTIONS: [string, unknown][] = [
    ['an unknown option name', { maxNodeSlots: 128 }],
    ['a misspelt option beside a valid one', { maxDataNodeSlots: 128, maxFanOut: 4 }],
    ['maxDataNodeSlots 63', { maxDataNodeSlots: 63 }],
    ['maxDataNodeSlots 0', { maxDataNodeSlots: 0 }],
    ['maxDataNodeSlots -64', { maxDataNodeSlots: -64 }],
    ['maxDataNodeSlots 32', { maxDataNodeSlots: 32 }],
    ['maxFanout 3', { maxFanout: 3 }],
    ['maxFanout 6', { maxFanout: 6 }],
    ['maxFanout 100', { maxFanout: 100 }],
    ['maxFanout 0', { maxFanout: 0 }],
    ['maxFanout 1 (a power of two below the minimum 2)', { maxFanout: 1 }],
    ['maxFanout -4', { maxFanout: -4 }],
  ]
  const NON_NUMERIC_OPTIONS: [string, unknown][] = [
    ['maxDataNodeSlots NaN', { maxDataNodeSlots: NaN }],
    ['maxDataNodeSlots as a string', { maxDataNodeSlots: '128' }],
    ['maxDataNodeSlots 64.5', { maxDataNodeSlots: 64.5 }],
    ['maxFanout NaN', { maxFanout: NaN }],
    ['maxFanout 2.5', { maxFanout: 2.5 }],
    ['maxFanout as a string', { maxFanout: '4' }],
    ['adaptToReads as a string', { adaptToReads: 'no' }],
    ['adaptToReads 0', { adaptToReads: 0 }],
  ]
  for (const [label, options] of [...BAD_OPTIONS, ...NON_NUMERIC_OPTIONS]) {
    it(`new AlexIndex with ${label} throws INVALID_ARGUMENT`, () => {
      expectInvalidArgument(() => new AlexIndex<string>(options as AlexOptions))
    })
    it(`bulkLoad with ${label} throws INVALID_ARGUMENT`, () => {
      expectInvalidArgument(() => AlexIndex.bulkLoad([1, 2, 3], ['a', 'b', 'c'], options as AlexOptions))
    })
  }

  it('the smallest valid options (64 slots, fanout 2) are accepted and work', () => {
    const index = new AlexIndex<number>({ maxDataNodeSlots: 64, maxFanout: 2 })
    for (let i = 0; i < 1000; i++) index.set(i, i)
    expect([...index.keys()]).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    index.check()
  })
})

describe('bulkLoad rejects bad key arrays', () => {
  it('keys.length !== values.length throws INVALID_ARGUMENT, either way round', () => {
    expectInvalidArgument(() => AlexIndex.bulkLoad([1, 2, 3], ['a', 'b']))
    expectInvalidArgument(() => AlexIndex.bulkLoad([1, 2], ['a', 'b', 'c']))
    expectInvalidArgument(() => AlexIndex.bulkLoad([], ['a']))
    expectInvalidArgument(() => AlexIndex.bulkLoad(new Float64Array(1000), new Array<string>(999).fill('x')))
  })

  for (const [label, bad] of BAD_KEYS) {
    for (const [where, position] of [
      ['first', 0],
      ['middle', 500],
      ['last', 999],
    ] as const) {
      it(`a key that is ${label} in the ${where} position throws INVALID_ARGUMENT`, () => {
        const keys: unknown[] = Array.from({ length: 1000 }, (_, i) => i)
        keys[position] = bad
        const values = keys.map((_, i) => `v${i}`)
        expectInvalidArgument(() => AlexIndex.bulkLoad(keys as number[], values))
      })
    }
  }

  it('NaN and Infinity inside a Float64Array of keys throw INVALID_ARGUMENT', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const keys = Float64Array.from({ length: 2000 }, (_, i) => i)
      keys[1234] = bad
      expectInvalidArgument(() => AlexIndex.bulkLoad(keys, Array.from({ length: 2000 }, () => 0)))
    }
  })

  it('a failed call does not disturb other indexes built before it', () => {
    const { index, snapshot } = fixture()
    expectInvalidArgument(() => AlexIndex.bulkLoad([1, NaN], ['a', 'b']))
    expectInvalidArgument(() => new AlexIndex({ maxFanout: 3 }))
    expectUnchanged(index, snapshot)
  })
})

describe('a rejected call in the middle of normal use changes nothing', () => {
  it('valid operations keep working after every kind of rejected call', () => {
    const { index, snapshot } = fixture()
    const bad = () => {
      expectInvalidArgument(() => index.set(NaN, 'x'))
      expectInvalidArgument(() => index.delete(Infinity))
      expectInvalidArgument(() => [...index.entries({ gt: 1, gte: 2 })])
    }
    bad()
    index.set(0.5, 'half')
    bad()
    const expected = [...snapshot.filter(([k]) => k !== 0.5), [0.5, 'half'] as [number, string]].sort(
      (a, b) => a[0] - b[0],
    )
    expectUnchanged(index, expected)
  })
})
