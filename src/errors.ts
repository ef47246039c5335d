/**
 * Typed errors. Programmer errors inside the engine are assertions (`assert` below, which throws a
 * plain Error); errors a caller can act on carry a stable `code`.
 */

export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  CORRUPTION: 'CORRUPTION',
  IO: 'IO',
  LOCKED: 'LOCKED',
  CLOSED: 'CLOSED',
  READ_ONLY: 'READ_ONLY',
  VALUE_TOO_LARGE: 'VALUE_TOO_LARGE',
  NO_SPACE: 'NO_SPACE',
  /** The store was written by a newer format version than this build reads (docs/FORMAT.md). */
  FORMAT_VERSION: 'FORMAT_VERSION',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class StoreError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
    this.code = code
  }
}

/** Throws a plain Error: for invariants that only a bug in this code can break. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}

/** Describes a bad value for an error message without throwing on exotic inputs (symbols, proxies). */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null) return 'null'
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object'
  return typeof value
}

/**
 * Checks that `key` is a finite number and returns it with -0 folded into 0. Everything else
 * (NaN, +-Infinity, bigint, strings, objects) throws INVALID_ARGUMENT before anything changes.
 */
export function checkKey(key: unknown, what = 'key'): number {
  if (typeof key !== 'number' || !Number.isFinite(key)) {
    throw new StoreError(
      ErrorCode.INVALID_ARGUMENT,
      `${what} must be a finite number, got ${describeValue(key)}`,
    )
  }
  return key === 0 ? 0 : key
}
