/**
 * Seeded pseudo-random numbers for the benchmark: sfc32 (Chris Doty-Humphrey's Small Fast Chaotic
 * generator, 128-bit state, 32-bit output). Fast in JavaScript because every step is 32-bit integer
 * arithmetic; good enough statistically for drawing keys and queries (it passes PractRand to 2^40+).
 *
 * Every stream is derived from (base seed, purpose label), so adding a new stream never shifts the
 * numbers another stream produces, and a run is reproduced exactly by passing the same --seed.
 */

const TWO_POW_26 = 67108864
const TWO_POW_53 = 9007199254740992

export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number, label: string) {
    // Spread (seed, label) over the 128-bit state with a string hash, then discard early outputs.
    let h = hash32(`${seed}:${label}`)
    this.a = h
    h = hash32(`${label}:${seed}:b`)
    this.b = h
    h = hash32(`c:${seed}:${label}`)
    this.c = h
    this.d = 1
    for (let i = 0; i < 16; i++) this.nextUint32()
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform integer in [0, 2^53), as a double (53 random bits from two outputs). */
  nextUint53(): number {
    return (this.nextUint32() >>> 5) * TWO_POW_26 + (this.nextUint32() >>> 6)
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    return this.nextUint53() / TWO_POW_53
  }

  /** Uniform integer in [0, bound); bound <= 2^53. */
  nextBelow(bound: number): number {
    return Math.floor(this.nextFloat() * bound)
  }

  /** Standard normal deviate (Box-Muller; one of the pair is discarded, which keeps this stateless). */
  nextNormal(): number {
    let u = 0
    while (u === 0) u = this.nextFloat()
    const v = this.nextFloat()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
}

/** FNV-1a over UTF-16 code units, finished with a murmur3 avalanche; never returns 0. */
function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h === 0 ? 0x9e3779b9 : h
}

/** A uniformly random permutation of 0..count-1 (Fisher-Yates). */
export function randomPermutation(count: number, rng: Prng): Uint32Array {
  const permutation = new Uint32Array(count)
  for (let i = 0; i < count; i++) permutation[i] = i
  for (let i = count - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1)
    const tmp = permutation[i]!
    permutation[i] = permutation[j]!
    permutation[j] = tmp
  }
  return permutation
}

/** Fisher-Yates shuffle of a whole array in place. */
export function shuffleInPlace(array: Float64Array, rng: Prng): void {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1)
    const tmp = array[i]!
    array[i] = array[j]!
    array[j] = tmp
  }
}
