/**
 * ALEX's cost model and the constants of node adaptation, in one place.
 *
 * The cost of a data node is what an average operation pays in it:
 *   cost = SEARCH_ITERATION_WEIGHT * expected exponential-search iterations
 *        + SHIFT_WEIGHT * expected shifts per insert * fraction of operations that insert
 * Expected iterations are the mean of log2(|predicted slot - actual slot| + 1) over the keys; expected
 * shifts are sum(r^2) / (4 n) over the runs r of consecutive occupied slots (an insert landing in a run
 * of r keys moves about r/4 of them toward the nearer end).
 */

export const SEARCH_ITERATION_WEIGHT = 20
export const SHIFT_WEIGHT = 0.5
/** Cost of passing through one more model node on every lookup. */
export const NODE_LOOKUP_WEIGHT = 20
/**
 * Cost of one byte of index (model-node pointers and models, data-node headers) per key it serves.
 * ALEX weighs model size only lightly; we weigh it so that the index stays about 1/100 of a B+tree's
 * inner nodes (well under 0.01 byte per key), which favours large data nodes over many small ones.
 */
export const MODEL_SIZE_WEIGHT = 400

/** Density right after a bulk load. */
export const INIT_DENSITY = 0.7
/** Density at which a data node is full and must expand or split. */
export const MAX_DENSITY = 0.8
/** Density right after an expansion (and of the halves of a split). */
export const MIN_DENSITY = 0.6
/**
 * Density of the existing keys of an append-mostly node after a resize, packed against one end. The
 * appends that follow land at the same spacing; they must reach MAX_DENSITY of the whole node before
 * running off its end, so this must exceed MAX_DENSITY.
 */
export const APPEND_DENSITY = 0.85
/** Below this density a data node contracts (to INIT_DENSITY). */
export const CONTRACT_DENSITY = 0.3

/** Smallest data node, in slots. */
export const MIN_DATA_NODE_SLOTS = 8
/** Below this many keys, a data node is never judged on its empirical cost (too little evidence). */
export const MIN_KEYS_FOR_COST_CHECK = 50
/** An insert pattern is catastrophic above this many shifts per insert. */
export const CATASTROPHIC_SHIFTS_PER_INSERT = 100
/** Empirical cost deviates significantly when above this factor times the expected cost... */
export const COST_DEVIATION_FACTOR = 1.5
/** ...and above this floor. */
export const COST_DEVIATION_FLOOR = NODE_LOOKUP_WEIGHT
/** A node is append-mostly when this fraction of its inserts since the last resize went past an end. */
export const APPEND_MOSTLY_FRACTION = 0.9
/** ...counting only once it has seen this many inserts. */
export const APPEND_MOSTLY_MIN_INSERTS = 16

/** Out-of-domain inserts at the root: expand after this many... */
export const OUT_OF_DOMAIN_MIN_KEYS = 5
/** ...or at once after this many, whatever the ratio. */
export const OUT_OF_DOMAIN_MAX_KEYS = 1000
/**
 * A domain expansion in place never gives a node more child pointers than one per this many keys in
 * the index (a long tail of keys would otherwise buy a huge pointer array for a few keys).
 */
export const KEYS_PER_POINTER_MIN = 256
/** Root expansion never multiplies the key domain by more than this (outliers stay in edge nodes). */
export const ROOT_EXPANSION_FACTOR_MAX = 1 << 10

export function dataNodeCost(expectedIterations: number, expectedShifts: number, insertFraction: number): number {
  return SEARCH_ITERATION_WEIGHT * expectedIterations + SHIFT_WEIGHT * expectedShifts * insertFraction
}

/** Bit length of a non-negative integer below 2^31: log2(x + 1) rounded up, cheaply. */
export function log2Ceil1p(x: number): number {
  return 32 - Math.clz32(x)
}

if (!(MIN_DENSITY < INIT_DENSITY && INIT_DENSITY < MAX_DENSITY && MAX_DENSITY < APPEND_DENSITY && CONTRACT_DENSITY < MIN_DENSITY / 1.5)) {
  throw new Error('density bounds out of order')
}
