/**
 * Checking the arguments of the store's calls: a bad key, value, key list or range option is
 * INVALID_ARGUMENT (an oversized value VALUE_TOO_LARGE), thrown before anything is read or written.
 * The options of `open()` are checked in options.ts.
 */

import type { AlexRange } from '../alex/api.js'
import { ErrorCode, StoreError, describeValue } from '../errors.js'
import { VALUE_MAX_BYTES } from '../pages/value-page.js'

export function invalid(message: string): StoreError {
  return new StoreError(ErrorCode.INVALID_ARGUMENT, message)
}

/** The length of a list of keys (an array or typed array), or INVALID_ARGUMENT. */
export function keyListLength(keys: ArrayLike<number>, what: string): number {
  const length = keys !== null && typeof keys === 'object' ? keys.length : undefined
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw invalid(`${what} must be an array of numbers, got ${describeValue(keys)}`)
  return length
}

/** INVALID_ARGUMENT naming the first of keys[from..to) that is not a finite number. */
export function checkKeys(keys: ArrayLike<number>, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const key = keys[i]
    if (typeof key !== 'number' || !Number.isFinite(key)) keyOf(key as number, `key ${i}`)
  }
}

export function keyOf(key: number, what = 'key'): number {
  if (typeof key === 'number' && Number.isFinite(key)) return key === 0 ? 0 : key
  throw invalid(`${what} must be a finite number, got ${describeValue(key)}`)
}

export function checkValue(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array, got ${describeValue(value)}`)
  if (value.byteLength > VALUE_MAX_BYTES) {
    throw new StoreError(ErrorCode.VALUE_TOO_LARGE, `${what} is ${value.byteLength} bytes; the largest value is ${VALUE_MAX_BYTES} bytes`)
  }
}

const RANGE_OPTION_NAMES = new Set(['gte', 'gt', 'lte', 'lt', 'reverse', 'limit'])

export function checkRangeOptions(options: unknown): { bounds: AlexRange; limit: number } {
  if (options === undefined) return { bounds: {}, limit: Infinity }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid(`range options must be an object, got ${describeValue(options)}`)
  const bounds: Record<string, unknown> = {}
  let limit = Infinity
  for (const name in options) {
    if (!Object.hasOwn(options, name)) continue
    const value = (options as Record<string, unknown>)[name]
    if (!RANGE_OPTION_NAMES.has(name)) throw invalid(`unknown range option ${JSON.stringify(name)} (known: ${[...RANGE_OPTION_NAMES].join(', ')})`)
    if (value === undefined) continue
    if (name === 'limit') {
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) throw invalid(`range limit must be a non-negative integer, got ${describeValue(value)}`)
      limit = value
    } else {
      bounds[name] = value
    }
  }
  return { bounds: bounds as AlexRange, limit }
}
