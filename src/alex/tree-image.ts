/**
 * The model nodes above the leaves, as bytes: what the page layer stores in MODEL pages so that
 * `open` rebuilds the exact tree (same leaves, same routing) without retraining anything.
 *
 * A preorder walk, little-endian. Stream header (56 bytes):
 *   @0  f64  key count (sum of the leaves' numKeys; checked on decode)
 *   @8  u32  model nodes
 *   @12 u32  leaves
 *   @16 5 x f64  the index's adaptation state (`TreeState`): keys seen below and above the root's
 *           domain, the key count at the last left and right root expansion, the deepest subtree
 *           rebuilt; with the leaves' own counters, what the next structure change depends on
 * then one record per node; a model node's record is followed by its distinct children in slot order.
 *   model node (48 bytes): @0 u8 tag 1, @1 u8 dupLog2, @2 u8 log2(fanout), @3 u8 0, @4 u32 0,
 *                          @8 f64 offset, @16 f64 m1, @24 f64 c, @32 f64 m2, @40 f64 b
 *   leaf     (16 bytes):   @0 u8 tag 2, @1 u8 dupLog2, @2 u16 0, @4 u32 leaf id,
 *                          @8 u32 capacity (slots), @12 u32 key count
 * A child with dupLog2 d fills 2^d consecutive slots of its parent; the blocks tile the parent's
 * slots exactly. The leaf's model, costs, counters, keys and values live in its leaf page; its sizes
 * are here too, so that an index can be rebuilt without reading a single leaf (the store's open
 * reads each leaf when first used) and a leaf read later is checked against them.
 */

import { ErrorCode, StoreError } from '../errors.js'
import { DataNode } from './data-node.js'
import type { LeafImage, LeafMemory } from './leaf-store.js'
import { ModelNode, type AlexNode } from './model-node.js'

export const TREE_HEADER_BYTES = 56

/** Index-wide numbers the adaptation rules read (AlexIndex fields of the same names). */
export interface TreeState {
  keysBelowDomain: number
  keysAboveDomain: number
  sizeAtLastLeftExpansion: number
  sizeAtLastRightExpansion: number
  rebuiltDepth: number
}

const STATE_FIELDS = ['keysBelowDomain', 'keysAboveDomain', 'sizeAtLastLeftExpansion', 'sizeAtLastRightExpansion', 'rebuiltDepth'] as const
export const TREE_MODEL_RECORD_BYTES = 48
export const TREE_LEAF_RECORD_BYTES = 16

/** What a tree image says of a leaf besides its id. */
export interface LeafRecord {
  capacity: number
  numKeys: number
}
export const TREE_TAG_MODEL = 1
export const TREE_TAG_LEAF = 2
/** Deepest tree a decoder accepts (the index keeps paths far shorter). */
const TREE_DEPTH_MAX = 64

function distinctChildren(node: ModelNode): AlexNode[] {
  const out: AlexNode[] = []
  let previous: AlexNode | null = null
  for (const child of node.children) {
    if (child !== previous) out.push(child)
    previous = child
  }
  return out
}

/** Encodes the tree under `root`; every leaf must carry a leaf id (be stored) already. */
export function encodeTree(root: AlexNode, keyCount: number, state: TreeState): Uint8Array {
  let modelNodes = 0
  let leaves = 0
  const count = (node: AlexNode): void => {
    if (node.isLeaf) {
      leaves++
      return
    }
    modelNodes++
    for (const child of distinctChildren(node)) count(child)
  }
  count(root)
  const bytes = new Uint8Array(TREE_HEADER_BYTES + modelNodes * TREE_MODEL_RECORD_BYTES + leaves * TREE_LEAF_RECORD_BYTES)
  const view = new DataView(bytes.buffer)
  view.setFloat64(0, keyCount, true)
  view.setUint32(8, modelNodes, true)
  view.setUint32(12, leaves, true)
  STATE_FIELDS.forEach((field, i) => view.setFloat64(16 + 8 * i, state[field], true))
  let at = TREE_HEADER_BYTES
  const write = (node: AlexNode): void => {
    if (node.isLeaf) {
      if (!(node.leafId >= 0)) throw new Error('assertion failed: encoding a leaf that was never stored')
      view.setUint8(at, TREE_TAG_LEAF)
      view.setUint8(at + 1, node.dupLog2)
      view.setUint32(at + 4, node.leafId, true)
      view.setUint32(at + 8, node.capacity, true)
      view.setUint32(at + 12, node.numKeys, true)
      at += TREE_LEAF_RECORD_BYTES
      return
    }
    view.setUint8(at, TREE_TAG_MODEL)
    view.setUint8(at + 1, node.dupLog2)
    view.setUint8(at + 2, Math.log2(node.fanout))
    view.setFloat64(at + 8, node.offset, true)
    view.setFloat64(at + 16, node.m1, true)
    view.setFloat64(at + 24, node.c, true)
    view.setFloat64(at + 32, node.m2, true)
    view.setFloat64(at + 40, node.b, true)
    at += TREE_MODEL_RECORD_BYTES
    for (const child of distinctChildren(node)) write(child)
  }
  write(root)
  return bytes
}

/** Bounds a leaf's record before anything is sized by it: slots within [1, maxSlots], keys at most the slots. */
function checkLeafRecord(record: LeafRecord, maxSlots: number, fail: (what: string) => never): void {
  if (!(record.capacity >= 1 && record.capacity <= maxSlots)) fail(`capacity ${record.capacity} outside [1, ${maxSlots}]`)
  if (record.numKeys > record.capacity) fail(`${record.numKeys} keys in ${record.capacity} slots`)
}

export interface DecodedTree {
  root: AlexNode
  /** Leaves in key order. */
  leaves: DataNode[]
  keyCount: number
  state: TreeState
}

/**
 * Decodes a tree and loads each leaf through `loadLeaf`. Every structural rule is checked (tags,
 * blocks tiling each parent, sizes, counts); a violation is a CORRUPTION error naming `where`.
 */
export function decodeTree(
  bytes: Uint8Array,
  /**
   * A leaf's image, or its data node made by the caller from the record (a store's leaves: nodes
   * whose pages are read when first used). `record` has been bounded here.
   */
  loadLeaf: (leafId: number, record: LeafRecord) => LeafImage<number> | DataNode,
  maxFanout: number,
  where: string,
  /** The most slots a leaf may have (the index's maxDataNodeSlots). */
  maxSlots = Infinity,
  /** Where leaves made from images keep their bytes (the index's memory). */
  memory?: LeafMemory,
): DecodedTree {
  const fail = (what: string): never => {
    throw new StoreError(ErrorCode.CORRUPTION, `${where}: ALEX tree image: ${what}`)
  }
  if (bytes.length < TREE_HEADER_BYTES) fail(`${bytes.length} bytes, shorter than its header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const keyCount = view.getFloat64(0, true)
  const modelNodes = view.getUint32(8, true)
  const leafCount = view.getUint32(12, true)
  const expectedBytes = TREE_HEADER_BYTES + modelNodes * TREE_MODEL_RECORD_BYTES + leafCount * TREE_LEAF_RECORD_BYTES
  if (expectedBytes !== bytes.length) fail(`header promises ${expectedBytes} bytes, found ${bytes.length}`)
  const state = {} as TreeState
  STATE_FIELDS.forEach((field, i) => {
    const value = view.getFloat64(16 + 8 * i, true)
    if (!Number.isSafeInteger(value) || value < 0) fail(`${field} is ${value}`)
    state[field] = value
  })
  const leaves: DataNode[] = []
  const seen = new Set<number>()
  let at = TREE_HEADER_BYTES
  let keys = 0
  const read = (depth: number): AlexNode => {
    if (depth > TREE_DEPTH_MAX) fail(`deeper than ${TREE_DEPTH_MAX}`)
    if (at + Math.min(TREE_LEAF_RECORD_BYTES, TREE_MODEL_RECORD_BYTES) > bytes.length) fail(`record at byte ${at} runs past the end`)
    const tag = view.getUint8(at)
    const dupLog2 = view.getUint8(at + 1)
    if (tag === TREE_TAG_LEAF) {
      const leafId = view.getUint32(at + 4, true)
      if (seen.has(leafId)) fail(`leaf ${leafId} appears twice`)
      seen.add(leafId)
      const record: LeafRecord = { capacity: view.getUint32(at + 8, true), numKeys: view.getUint32(at + 12, true) }
      checkLeafRecord(record, maxSlots, (what) => fail(`leaf ${leafId} (record at byte ${at}): ${what}`))
      at += TREE_LEAF_RECORD_BYTES
      const image = loadLeaf(leafId, record)
      if (image.capacity !== record.capacity || image.numKeys !== record.numKeys) {
        fail(`leaf ${leafId} holds ${image.numKeys} keys in ${image.capacity} slots; the tree's record says ${record.numKeys} in ${record.capacity}`)
      }
      const leaf = image instanceof DataNode ? image : DataNode.fromImage(image, leafId, memory)
      leaf.dupLog2 = dupLog2
      keys += leaf.numKeys
      leaves.push(leaf)
      return leaf
    }
    if (tag !== TREE_TAG_MODEL) fail(`unknown tag ${tag} at byte ${at}`)
    if (at + TREE_MODEL_RECORD_BYTES > bytes.length) fail(`model record at byte ${at} runs past the end`)
    const fanoutLog2 = view.getUint8(at + 2)
    if (2 ** fanoutLog2 > maxFanout) fail(`fanout 2^${fanoutLog2} at byte ${at} above ${maxFanout}`)
    const fanout = 2 ** fanoutLog2
    const node = new ModelNode(new Array<AlexNode>(fanout))
    node.dupLog2 = dupLog2
    node.offset = view.getFloat64(at + 8, true)
    node.m1 = view.getFloat64(at + 16, true)
    node.c = view.getFloat64(at + 24, true)
    node.m2 = view.getFloat64(at + 32, true)
    node.b = view.getFloat64(at + 40, true)
    if (!(node.m1 > 0 && node.m2 > 0 && Number.isFinite(node.m2) && Number.isFinite(node.c) && Number.isFinite(node.b) && Number.isInteger(node.offset))) {
      fail(`bad model at byte ${at}`)
    }
    at += TREE_MODEL_RECORD_BYTES
    let slot = 0
    while (slot < fanout) {
      const child = read(depth + 1)
      const span = 2 ** child.dupLog2
      if (child.dupLog2 > fanoutLog2 || slot % span !== 0) fail(`child block of 2^${child.dupLog2} slots misaligned at slot ${slot}`)
      for (let i = 0; i < span; i++) node.children[slot + i] = child
      slot += span
    }
    return node
  }
  const root = read(0)
  if (at !== bytes.length) fail(`${bytes.length - at} bytes left after the root's subtree`)
  if (leaves.length !== leafCount) fail(`header counts ${leafCount} leaves, found ${leaves.length}`)
  if (keys !== keyCount) fail(`header counts ${keyCount} keys, the leaves hold ${keys}`)
  root.dupLog2 = 0
  for (let i = 0; i < leaves.length; i++) {
    leaves[i]!.prev = i > 0 ? leaves[i - 1]! : null
    leaves[i]!.next = i + 1 < leaves.length ? leaves[i + 1]! : null
  }
  return { root, leaves, keyCount, state }
}

/**
 * The leaf ids a tree image names, read off its records in order without building anything; null
 * when the bytes are not a sequence of whole records (the caller decides what damage means).
 */
export function treeLeafIds(bytes: Uint8Array): number[] | null {
  if (bytes.length < TREE_HEADER_BYTES) return null
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ids: number[] = []
  let at = TREE_HEADER_BYTES
  while (at < bytes.length) {
    const tag = view.getUint8(at)
    const size = tag === TREE_TAG_LEAF ? TREE_LEAF_RECORD_BYTES : tag === TREE_TAG_MODEL ? TREE_MODEL_RECORD_BYTES : 0
    if (size === 0 || at + size > bytes.length) return null
    if (tag === TREE_TAG_LEAF) ids.push(view.getUint32(at + 4, true))
    at += size
  }
  return ids
}
