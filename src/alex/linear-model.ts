/**
 * Linear models over double keys, shared by data nodes (key -> slot) and model nodes (key -> child).
 *
 * A model predicts `((key * m1) - c) * m2 + b`:
 *   - `m1` is a power of two that scales the trained key span to about 1 (as far as the normal range
 *     allows). Multiplying by a power of two is exact (short of overflow and underflow), so scaling
 *     never reorders keys, and a span of a few ulps near 1e-300, or a span of 1e308, is trained in
 *     well-conditioned numbers instead of overflowing the slope (1e6 slots over 1e-310 would be
 *     Infinity as one number).
 *   - `c = x0 * m1` anchors the model at the smallest trained key, so keys that differ only in their
 *     last mantissa bits still get distinct predictions.
 *   - `m2 > 0` and finite, `b` finite. With m1, m2 > 0 the prediction is a composition of monotone
 *     roundings, so it is monotone non-decreasing in the key, and it is never NaN (no 0 * Infinity and
 *     no Infinity - Infinity can arise: c is finite). Model nodes rely on both properties: a child
 *     holds a contiguous key range, and every key routes to exactly one child.
 * Correctness never depends on the model being good: data nodes correct every prediction with an
 * exponential search, model nodes only need monotone routing.
 */

/** The four numbers of a model; stored inline in nodes (fields), passed around as this shape. */
export interface LinearModel {
  m1: number
  c: number
  m2: number
  b: number
}

export function copyModel(from: LinearModel, to: LinearModel): void {
  to.m1 = from.m1
  to.c = from.c
  to.m2 = from.m2
  to.b = from.b
}

/** Raw prediction (a real number, possibly +-Infinity, never NaN). */
export function predictRaw(model: LinearModel, key: number): number {
  return (key * model.m1 - model.c) * model.m2 + model.b
}

/** Prediction clamped into [0, slots - 1] and floored. */
export function predictSlot(model: LinearModel, key: number, slots: number): number {
  const p = (key * model.m1 - model.c) * model.m2 + model.b
  if (!(p > 0)) return 0
  if (p >= slots - 1) return slots - 1
  return Math.floor(p)
}

const SMALLEST_SLOPE = Number.MIN_VALUE
const LARGEST_SLOPE = Number.MAX_VALUE

/**
 * A power of two near 1/span, kept inside the normal range (the slope absorbs the rest: it is fitted
 * to the scaled keys). span is positive, possibly Infinity (the key span overflowed).
 */
function scaleFor(span: number, x0: number, xN: number): number {
  let exponent: number
  if (span === Infinity) exponent = Math.floor(Math.log2(xN * 0.5 - x0 * 0.5)) + 1
  else exponent = Math.floor(Math.log2(span))
  return 2 ** Math.min(1022, Math.max(-1022, -exponent))
}

/**
 * Fits `model` to keys[lo..hi) (strictly increasing) so that key i (0-based from lo) predicts about
 * `first + i * step`: least squares on the scaled keys, with a fallback to the line through the end
 * points when least squares gives a slope that is not positive and finite.
 */
export function fitModel(
  model: LinearModel,
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  first: number,
  step: number,
): void {
  const n = hi - lo
  if (n <= 1) {
    const x0 = n === 1 ? (keys[lo] as number) : 0
    model.m1 = 1
    model.c = x0
    model.m2 = SMALLEST_SLOPE
    model.b = first
    return
  }
  const x0 = keys[lo] as number
  const xN = keys[hi - 1] as number
  const m1 = scaleFor(xN - x0, x0, xN)
  const c = x0 * m1

  // Two passes: means first, then centred sums (stable for large n).
  let sumU = 0
  for (let i = lo; i < hi; i++) sumU += (keys[i] as number) * m1 - c
  const meanU = sumU / n
  const meanY = (n - 1) / 2
  let suu = 0
  let suy = 0
  for (let i = lo; i < hi; i++) {
    const du = (keys[i] as number) * m1 - c - meanU
    suu += du * du
    suy += du * (i - lo - meanY)
  }
  let slope = suy / suu // ranks per scaled-key unit
  let intercept = meanY - slope * meanU
  if (!(slope > 0) || !Number.isFinite(slope) || !Number.isFinite(intercept)) {
    const uN = xN * m1 - c
    slope = (n - 1) / uN
    intercept = 0
  }
  setModel(model, m1, c, slope * step, first + intercept * step, first)
}

/** Stores a model, keeping the invariants: 0 < m2 < Infinity and b finite (else `fallbackB`). */
function setModel(model: LinearModel, m1: number, c: number, m2: number, b: number, fallbackB: number): void {
  model.m1 = m1
  model.c = c
  model.m2 = m2 >= SMALLEST_SLOPE ? (m2 <= LARGEST_SLOPE ? m2 : LARGEST_SLOPE) : SMALLEST_SLOPE
  model.b = Number.isFinite(b) ? b : fallbackB
}

/**
 * Fits the line through the end points: keys[lo] predicts `first`, keys[hi-1] predicts
 * `first + (n - 1) * step`. Used when least squares routes every key to one child.
 */
export function fitEndpoints(
  model: LinearModel,
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  first: number,
  step: number,
): void {
  const n = hi - lo
  if (n <= 1) {
    fitModel(model, keys, lo, hi, first, step)
    return
  }
  const x0 = keys[lo] as number
  const xN = keys[hi - 1] as number
  const m1 = scaleFor(xN - x0, x0, xN)
  const c = x0 * m1
  setModel(model, m1, c, ((n - 1) * step) / (xN * m1 - c), first, first)
}

/** Keys cut from each end, as a fraction, when a fit is refitted without its outliers. */
export const TRIM_FRACTION = 0.01

/**
 * `fitModel`, made robust to a few outliers: least squares is pulled by extreme keys (one key at
 * 1e300 among small ones puts every other key at slot 0). If the fitted line misplaces the median
 * key by more than a quarter of the range, fits the central keys instead (ranks kept) and lets the
 * outliers clamp to the ends.
 */
export function fitModelRobust(
  model: LinearModel,
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  first: number,
  step: number,
): void {
  fitModel(model, keys, lo, hi, first, step)
  const n = hi - lo
  const trim = Math.floor(n * TRIM_FRACTION)
  if (trim < 1) return
  const middle = lo + (n >>> 1)
  const expected = first + (middle - lo) * step
  const error = Math.abs(predictRaw(model, keys[middle]!) - expected)
  if (!(error > (n * step) / 4)) return
  fitModel(model, keys, lo + trim, hi - trim, first + trim * step, step)
}
