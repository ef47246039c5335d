/**
 * Bulk load: builds an ALEX tree top-down from sorted, distinct keys.
 *
 * At each node the cost model chooses between a data node (if the keys fit one) and a model node,
 * and for a model node, its fanout: fanouts 2, 4, 8, ... are evaluated in turn (the "fanout tree"
 * of the paper, level by level) and the cheapest one is taken, where the cost of a fanout is
 *   NODE_LOOKUP_WEIGHT + sum over children (keys_i / keys) * cost_i + the cost of the pointers,
 * cost_i being the expected cost of child i as a data node (plus one more lookup if it is too big to
 * be one). Evaluation stops after the cost has risen twice in a row. Then adjacent aligned children
 * are merged into one data node (its pointer repeated) wherever the merged node costs no more per
 * key: this is what keeps the index small on clustered keys, where most slots would be empty.
 * Large partitions are costed on an evenly spaced sample of their keys.
 */

import {
  INIT_DENSITY,
  MIN_DENSITY,
  MODEL_SIZE_WEIGHT,
  NODE_LOOKUP_WEIGHT,
} from './cost.js'
import { DataNode, Placement, capacityFor, expectedCost } from './data-node.js'
import type { LeafMemory } from './leaf-store.js'
import { TRIM_FRACTION, copyModel, fitEndpoints, fitModel, fitModelRobust, type LinearModel } from './linear-model.js'
import { ModelNode, type AlexNode } from './model-node.js'

/** Keys a candidate fanout is costed on, at most (larger ranges are sampled). */
const FANOUT_SAMPLE_KEYS = 1 << 20
/** Keys costed per candidate partition, at most (larger partitions are sampled). */
const COST_SAMPLE_KEYS = 1 << 14
/** Assumed fill of the leaves of a subtree not yet built, as a fraction of a data node's maximum keys. */
const SUBTREE_LEAF_FILL = 0.7
/** Assumed cost of the subtree under a child too big for a data node, past its own model node. */
const TOO_BIG_CHILD_COST = 2 * NODE_LOOKUP_WEIGHT
/** Bytes charged for one data node's header and model, when comparing costs. */
export const DATA_NODE_HEADER_BYTES = 112
/** Bytes charged for one model node's header and model, plus 8 per child pointer. */
export const MODEL_NODE_HEADER_BYTES = 64

export interface BuildLimits {
  maxDataNodeSlots: number
  maxFanout: number
  /** Where new data nodes keep their bytes. */
  memory: LeafMemory
}

/** Largest key count that a data node can hold at the initial density. */
export function maxDataNodeKeys(limits: BuildLimits): number {
  return Math.floor(limits.maxDataNodeSlots * INIT_DENSITY)
}

export function buildDataNode(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  density: number,
  limits: BuildLimits,
  placement: Placement = Placement.SPREAD,
): DataNode {
  const n = hi - lo
  let capacity = capacityFor(n, density)
  if (capacity > limits.maxDataNodeSlots) capacity = Math.max(limits.maxDataNodeSlots, n + 1)
  const node = new DataNode(capacity, true, limits.memory)
  node.build(keys, values, lo, hi, placement)
  return node
}

/**
 * Expected cost of keys[lo..hi) as one data node, sampling large ranges; if they are too many for one,
 * the cost of the subtree they need when its model nodes have `fanout` children. When the keys are
 * themselves every `scale`-th key of the real ones, sizes and errors are scaled back up.
 */
function dataCost(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
  fanout = limits.maxFanout,
  scale = 1,
): number {
  const n = hi - lo
  if (n === 0) return 0
  let cost: number
  if (n <= COST_SAMPLE_KEYS) {
    cost = expectedCost(keys, lo, hi, capacityFor(n, INIT_DENSITY), 1, scale)
  } else {
    const stride = Math.ceil(n / COST_SAMPLE_KEYS)
    const sample = new Float64Array(Math.ceil(n / stride))
    let m = 0
    for (let i = lo; i < hi; i += stride) sample[m++] = keys[i]!
    cost = expectedCost(sample, 0, m, capacityFor(m, INIT_DENSITY), 1, stride * scale)
  }
  const real = n * scale
  return real > maxDataNodeKeys(limits) ? tooBigCost(real, cost, limits, fanout) : cost
}

/**
 * A child too big for a data node becomes a subtree over well-chosen children: it costs the lookups
 * of the levels it needs (at least one) plus what a good data node costs, not what one linear model
 * over all of it would.
 */
function tooBigCost(n: number, asOneNode: number, limits: BuildLimits, fanout: number): number {
  return NODE_LOOKUP_WEIGHT * levelsFor(n, limits, fanout) + Math.min(asOneNode, TOO_BIG_CHILD_COST)
}

/** Model-node levels a subtree of n keys needs with model nodes of `fanout` children. */
function levelsFor(n: number, limits: BuildLimits, fanout: number): number {
  const leaves = n / maxDataNodeKeys(limits)
  return leaves <= 1 ? 0 : Math.max(1, Math.ceil(Math.log(leaves) / Math.log(Math.max(2, fanout))))
}

/**
 * Boundaries of the partition of keys[lo..hi) by `model` over `fanout` slots: keys of slot s are
 * [bounds[s], bounds[s + 1]). Keys are sorted and routing is monotone, so each boundary is found by
 * binary search.
 */
export function partitionBounds(model: ModelNode, keys: ArrayLike<number>, lo: number, hi: number): Int32Array {
  const fanout = model.fanout
  const bounds = new Int32Array(fanout + 1)
  bounds[0] = lo
  bounds[fanout] = hi
  let start = lo
  for (let s = 1; s < fanout; s++) {
    // First index in [start, hi) whose slot is >= s.
    let a = start
    let b = hi
    while (a < b) {
      const mid = (a + b) >>> 1
      if (model.slot(keys[mid]!) >= s) b = mid
      else a = mid + 1
    }
    bounds[s] = a
    start = a
  }
  return bounds
}

/** A model node over keys[lo..hi) with `fanout` slots; falls back to the end points if degenerate. */
export function trainModelNode(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  fanout: number,
  unit?: LinearModel,
): ModelNode {
  const node = new ModelNode(new Array<AlexNode>(fanout))
  const n = hi - lo
  if (unit === undefined) {
    fitModelRobust(node, keys, lo, hi, 0, fanout / Math.max(n, 1))
  } else {
    // `unit` maps the keys to [0, 1): scaled by the fanout it maps them to [0, fanout).
    copyModel(unit, node)
    node.m2 = unit.m2 * fanout
    node.b = unit.b * fanout
  }
  if (n >= 2 && (node.slot(keys[lo]!) === node.slot(keys[hi - 1]!))) {
    fitEndpoints(node, keys, lo, hi, 0, fanout / (n - 1))
  }
  return node
}

/** A child too big for a data node may hold at most this fraction of its parent's keys. */
const LOPSIDED_FRACTION = 0.5

/**
 * If `node` leaves almost all of keys[lo..hi) in one child (a linear model over very skewed keys, or
 * one stretched by a few outliers, peels off only a few per level, which makes a deep tree), refits
 * it to the central keys; if that is lopsided too, so that the median is the boundary between the
 * two middle slots: every level then halves the keys at least.
 */
export function balanceIfLopsided(
  node: ModelNode,
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
): void {
  const n = hi - lo
  if (n < 4 || !isLopsided(node, keys, lo, hi, limits)) return
  // A few outliers stretch the line: fit the central keys, and let the outliers clamp to the edges.
  const trim = Math.floor(n * TRIM_FRACTION)
  if (trim >= 1) {
    const fanout = node.fanout
    fitModel(node, keys, lo + trim, hi - trim, (fanout * trim) / n, fanout / n)
    if (!isLopsided(node, keys, lo, hi, limits)) return
  }
  const mid = lo + (n >>> 1)
  const half = node.fanout / 2
  fitEndpoints(node, keys, mid - 1, mid + 1, half - 0.5, 1)
}

/**
 * Lopsided: the largest child is too big for a data node (so it recurses) and holds more than
 * LOPSIDED_FRACTION of the keys (so each level takes off too little).
 */
function isLopsided(node: ModelNode, keys: ArrayLike<number>, lo: number, hi: number, limits: BuildLimits): boolean {
  const largest = largestPartition(node, keys, lo, hi)
  return largest > maxDataNodeKeys(limits) && largest > LOPSIDED_FRACTION * (hi - lo)
}

/** Keys in the fullest child of `node` over keys[lo..hi). */
function largestPartition(node: ModelNode, keys: ArrayLike<number>, lo: number, hi: number): number {
  const bounds = partitionBounds(node, keys, lo, hi)
  let largest = 0
  for (let s = 0; s < node.fanout; s++) largest = Math.max(largest, bounds[s + 1]! - bounds[s]!)
  return largest
}

function fanoutCost(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  fanout: number,
  limits: BuildLimits,
  unit: LinearModel,
  scale: number,
  bound: number,
): { cost: number; allFit: boolean } {
  const node = trainModelNode(keys, lo, hi, fanout, unit)
  const bounds = partitionBounds(node, keys, lo, hi)
  const n = (hi - lo) * scale
  const maxKeys = maxDataNodeKeys(limits)
  let cost = NODE_LOOKUP_WEIGHT
  let bytes = MODEL_NODE_HEADER_BYTES + 8 * fanout
  let allFit = true
  // Every term below only adds: once the sum so far reaches `bound`, the fanout has lost.
  const floor = (MODEL_SIZE_WEIGHT * bytes) / n
  for (let s = 0; s < fanout; s++) {
    const a = bounds[s]!
    const b = bounds[s + 1]!
    if (b === a) continue
    const keyCount = (b - a) * scale
    // A subtree under this node is assumed to divide as this node does.
    cost += (keyCount / n) * dataCost(keys, a, b, limits, fanout, scale)
    if (cost + floor >= bound) return { cost: Infinity, allFit }
    if (keyCount > maxKeys) {
      // Its subtree's leaves and pointers: leaves about as full as a partition leaves them.
      const leaves = Math.ceil(keyCount / (SUBTREE_LEAF_FILL * maxKeys))
      bytes += (DATA_NODE_HEADER_BYTES + 16) * leaves
      allFit = false
    } else {
      bytes += DATA_NODE_HEADER_BYTES
    }
  }
  return { cost: cost + (MODEL_SIZE_WEIGHT * bytes) / n, allFit }
}

/**
 * The fanout-tree search: fanouts 2, 4, 8, ... in turn, keeping the cheapest. Keeps going while some
 * child is too big for a data node; once all fit, stops after the cost has risen twice in a row.
 * A fanout whose cost reaches `bound` (what the keys cost as one data node, when they fit one) has
 * lost to it: its costing stops there and it counts as Infinity, so two such in a row end the search
 * (a model node is then not taken). At 10M uniform keys this halves the time spent deciding whether
 * a leaf-sized range should be split further.
 */
function bestFanout(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
  bound = Infinity,
): { fanout: number; cost: number } {
  let best = { fanout: 2, cost: Infinity }
  let rises = 0
  let previous = Infinity
  const n = hi - lo
  // No model node costs less than one more lookup plus its smallest size (its header, two pointers
  // and one child's header, every child's data cost being at least 0): a bound already below that
  // beats every fanout, which would all be costed as lost (at 10M uniform keys, nearly every leaf).
  // fanoutCost divides the size by the sampled key count scaled back up, as here.
  const sampleScale = n > FANOUT_SAMPLE_KEYS ? Math.ceil(n / FANOUT_SAMPLE_KEYS) : 1
  const leastBytes = MODEL_NODE_HEADER_BYTES + 16 + DATA_NODE_HEADER_BYTES
  if (bound <= NODE_LOOKUP_WEIGHT + (MODEL_SIZE_WEIGHT * leastBytes) / (Math.ceil(n / sampleScale) * sampleScale)) return best
  // One fit to ranks normalised to [0, 1) serves every candidate fanout (the line is linear in step).
  const unit: LinearModel = { m1: 1, c: 0, m2: 1, b: 0 }
  fitModelRobust(unit, keys, lo, hi, 0, 1 / n)
  // Large ranges are costed on an evenly spaced sample of their keys.
  let sample: ArrayLike<number> = keys
  let sampleLo = lo
  let sampleHi = hi
  let scale = 1
  if (n > FANOUT_SAMPLE_KEYS) {
    scale = Math.ceil(n / FANOUT_SAMPLE_KEYS)
    const picked = new Float64Array(Math.ceil(n / scale))
    let m = 0
    for (let i = lo; i < hi; i += scale) picked[m++] = keys[i]!
    sample = picked
    sampleLo = 0
    sampleHi = m
  }
  for (let fanout = 2; fanout <= limits.maxFanout; fanout *= 2) {
    const { cost, allFit } = fanoutCost(sample, sampleLo, sampleHi, fanout, limits, unit, scale, bound)
    if (cost < best.cost) best = { fanout, cost }
    if (allFit) {
      rises = cost >= previous ? rises + 1 : 0
      if (rises >= 2) break
    }
    previous = cost
    if (fanout >= n * 4) break
  }
  return best
}

/**
 * Builds the subtree for keys[lo..hi); returns its root. Appends data nodes to `leaves` in key order
 * (the caller links them). `knownDataCost`, if not -1, is dataCost(keys, lo, hi, limits), already
 * computed by the caller.
 */
export function buildSubtree(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
  leaves: LeafSink,
  depth = 0,
  knownDataCost = -1,
): AlexNode {
  const n = hi - lo
  const fits = n <= maxDataNodeKeys(limits)
  if (fits) {
    const asOne = knownDataCost >= 0 ? knownDataCost : dataCost(keys, lo, hi, limits)
    const asData = asOne + (MODEL_SIZE_WEIGHT * DATA_NODE_HEADER_BYTES) / Math.max(n, 1)
    const asModel = n >= 64 && depth < 32 ? bestFanout(keys, lo, hi, limits, asData) : null
    if (asModel === null || asData <= asModel.cost) {
      const leaf = buildDataNode(keys, values, lo, hi, INIT_DENSITY, limits)
      leaves.push(leaf)
      return leaf
    }
    if (preferMedian(keys, lo, hi, asModel, limits)) return buildMedianSplit(keys, values, lo, hi, limits, leaves, depth)
    return buildModelNode(keys, values, lo, hi, asModel.fanout, limits, leaves, depth)
  }
  const best = bestFanout(keys, lo, hi, limits)
  if (preferMedian(keys, lo, hi, best, limits)) return buildMedianSplit(keys, values, lo, hi, limits, leaves, depth)
  return buildModelNode(keys, values, lo, hi, best.fanout, limits, leaves, depth)
}

/** The median split wins when the best linear partition leaves most keys in one child and costs more. */
function preferMedian(
  keys: ArrayLike<number>,
  lo: number,
  hi: number,
  best: { fanout: number; cost: number },
  limits: BuildLimits,
): boolean {
  const node = trainModelNode(keys, lo, hi, best.fanout)
  if (largestPartition(node, keys, lo, hi) <= MEDIAN_SPLIT_FRACTION * (hi - lo)) return false
  return medianSplitCost(keys, lo, hi, limits) < best.cost
}

/** A linear partition that leaves more than this fraction of the keys in one child may lose to halving. */
const MEDIAN_SPLIT_FRACTION = 0.5

/**
 * Cost of a two-way split at the median key. Keys that no line fits (log-uniform over many orders of
 * magnitude) make every linear partition peel off only a few keys per level; halving is then the
 * better division, and bounds the depth by log2 of the key count.
 */
function medianSplitCost(keys: ArrayLike<number>, lo: number, hi: number, limits: BuildLimits): number {
  const n = hi - lo
  if (n < 4) return Infinity
  const mid = lo + (n >>> 1)
  const children = 0.5 * dataCost(keys, lo, mid, limits, 2) + 0.5 * dataCost(keys, mid, hi, limits, 2)
  return NODE_LOOKUP_WEIGHT + children + (MODEL_SIZE_WEIGHT * (MODEL_NODE_HEADER_BYTES + 16 + 2 * DATA_NODE_HEADER_BYTES)) / n
}

function buildMedianSplit(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
  leaves: LeafSink,
  depth: number,
): ModelNode {
  const node = new ModelNode(new Array<AlexNode>(2))
  const mid = lo + ((hi - lo) >>> 1)
  fitEndpoints(node, keys, mid - 1, mid + 1, 0.5, 1)
  fillModelNode(node, keys, values, lo, hi, limits, leaves, depth)
  return node
}

function buildModelNode(
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  fanout: number,
  limits: BuildLimits,
  leaves: LeafSink,
  depth: number,
): ModelNode {
  const node = trainModelNode(keys, lo, hi, fanout)
  balanceIfLopsided(node, keys, lo, hi, limits)
  fillModelNode(node, keys, values, lo, hi, limits, leaves, depth)
  return node
}

/**
 * Gives `node` (its model and child array length set) children for keys[lo..hi): partitions the
 * keys by its model, merges cheap neighbours into shared blocks, and builds each block's subtree.
 * For a split (`forSplit`), keys are never merged back together (the point is to divide them) and
 * every child is a data node at MIN_DENSITY, with room to grow.
 */
export function fillModelNode(
  node: ModelNode,
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  limits: BuildLimits,
  leaves: LeafSink,
  depth: number,
  forSplit = false,
): void {
  const fanout = node.fanout
  const bounds = partitionBounds(node, keys, lo, hi)
  const blockCosts = new Float64Array(fanout)
  const blocks = mergeBlocks(keys, bounds, fanout, limits, !forSplit, blockCosts)
  for (let s = 0; s < fanout; ) {
    const size = blocks[s]!
    const a = bounds[s]!
    const b = bounds[s + size]!
    let child: AlexNode
    if (forSplit) {
      const leaf = buildDataNode(keys, values, a, b, MIN_DENSITY, limits)
      leaves.push(leaf)
      child = leaf
    } else {
      child = buildSubtree(keys, values, a, b, limits, leaves, depth + 1, blockCosts[s]!)
    }
    child.dupLog2 = Math.log2(size)
    for (let i = s; i < s + size; i++) node.children[i] = child
    s += size
  }
}

/**
 * Chooses the block size of each child: starting from single slots, merges aligned sibling blocks
 * while the merged keys fit one data node and cost no more per key (with the saved node header
 * counted). Never merges all slots into one block (the node would not divide anything). With
 * `mergeKeys` false (a split), only merges where one side is empty, so the keys stay divided.
 * Returns, for each block start, the block's size in slots (0 elsewhere), and sets `blockCost[s]` to
 * dataCost of the block's keys (0 if it has none).
 */
function mergeBlocks(
  keys: ArrayLike<number>,
  bounds: Int32Array,
  fanout: number,
  limits: BuildLimits,
  mergeKeys: boolean,
  blockCost: Float64Array,
): Int32Array {
  const size = new Int32Array(fanout).fill(1)
  const cost = new Float64Array(fanout)
  const maxKeys = maxDataNodeKeys(limits)
  const headerCost = MODEL_SIZE_WEIGHT * DATA_NODE_HEADER_BYTES
  for (let s = 0; s < fanout; s++) {
    const n = bounds[s + 1]! - bounds[s]!
    blockCost[s] = n === 0 ? 0 : dataCost(keys, bounds[s]!, bounds[s + 1]!, limits)
    cost[s] = n * blockCost[s]! + headerCost
  }
  for (let width = 2; width < fanout; width *= 2) {
    const half = width / 2
    for (let s = 0; s < fanout; s += width) {
      if (size[s] !== half || size[s + half] !== half) continue
      const a = bounds[s]!
      const b = bounds[s + width]!
      if (b - a > maxKeys) continue
      if (!mergeKeys && bounds[s + half]! > a && b > bounds[s + half]!) continue
      const mergedData = b > a ? dataCost(keys, a, b, limits) : 0
      const merged = (b - a) * mergedData + headerCost
      if (merged <= cost[s]! + cost[s + half]!) {
        size[s] = width
        size[s + half] = 0
        cost[s] = merged
        blockCost[s] = mergedData
      }
    }
  }
  return size
}

/**
 * Where a build puts each data node once it is complete, in key order: an array, or one that also
 * hands each node on as it comes (the store writes it to its page while the build goes on).
 */
export interface LeafSink {
  push(leaf: DataNode): unknown
}

/** Links leaves (in key order) into the doubly linked list used by iteration. */
export function linkLeaves(leaves: DataNode[]): void {
  for (let i = 0; i < leaves.length; i++) {
    leaves[i]!.prev = i > 0 ? leaves[i - 1]! : null
    leaves[i]!.next = i + 1 < leaves.length ? leaves[i + 1]! : null
  }
}
