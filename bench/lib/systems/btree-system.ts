/**
 * sorted-btree's BTree<number, number> at its defaults (node size 32, the library's defaultComparator,
 * which compares finite numbers by subtraction; `a - b` and simpleComparator measured the same), given
 * its fastest paths: the library's own O(n) bulk loader (`sorted-btree/extended/bulkLoad`, default
 * load factor 0.8) fed plain arrays converted outside the timed region, and a pair array reused by
 * the range iterator so scans allocate no pair per entry.
 *
 * Index bytes = internal nodes only (the B+tree's counterpart of ALEX's model nodes), estimated for
 * 64-bit V8 without pointer compression (the default Node build):
 *   per internal node: keys.length * 8 + children.length * 8 + INTERNAL_NODE_HEADER_BYTES
 *   INTERNAL_NODE_HEADER_BYTES = 160: the BNodeInternal object (map, properties, elements and five
 *   fields: 64 B) plus two JSArray headers (32 B each) and their backing-store headers (16 B each).
 * Slack capacity in the arrays' backing stores is not counted, so this is a lower bound — it
 * favours the B+tree in the index-bytes ratio.
 */
import sortedBtree from 'sorted-btree'
import { bulkLoad as btreeBulkLoad } from 'sorted-btree/extended/bulkLoad.js'
import type { IndexSystem } from './system.js'

const BTree = sortedBtree.default
const defaultComparator: (a: number, b: number) => number = sortedBtree.defaultComparator
type NumberTree = InstanceType<typeof BTree<number, number>>

export const BTREE_NODE_SIZE = 32
export const BTREE_POINTER_BYTES = 8
export const BTREE_INTERNAL_NODE_HEADER_BYTES = 160
export const BTREE_INDEX_BYTES_ESTIMATE =
  `internal nodes only: (keys.length + children.length) * ${BTREE_POINTER_BYTES} B + ${BTREE_INTERNAL_NODE_HEADER_BYTES} B ` +
  'header per node (64-bit V8 without pointer compression); slack capacity of the arrays not counted'

interface BNodeShape {
  keys: unknown[]
  children?: BNodeShape[]
}

export class BtreeSystem implements IndexSystem {
  readonly name = 'btree' as const
  readonly supportsInserts = true
  private tree: NumberTree | undefined
  private keyArray: number[] | undefined
  private valueArray: number[] | undefined

  prepareBulkLoad(sortedKeys: Float64Array, values: Float64Array): void {
    this.tree = undefined
    this.keyArray = Array.from(sortedKeys)
    this.valueArray = Array.from(values)
  }

  bulkLoad(): number {
    if (this.keyArray === undefined || this.valueArray === undefined) throw new Error('btree: bulkLoad before prepare')
    this.tree = btreeBulkLoad<number, number>(this.keyArray, this.valueArray, BTREE_NODE_SIZE, defaultComparator)
    return this.tree.size
  }

  startEmpty(): void {
    this.tree = new BTree<number, number>(undefined, defaultComparator, BTREE_NODE_SIZE)
  }

  lookups(queryKeys: Float64Array, queryCount: number): number {
    const tree = this.built()
    let sum = 0
    for (let i = 0; i < queryCount; i++) {
      const value = tree.get(queryKeys[i]!)
      if (value !== undefined) sum += value
    }
    return sum
  }

  rangeScans(startKeys: Float64Array, scanCount: number, scanLength: number): number {
    const tree = this.built()
    const pair: [number, number] = [0, 0]
    let sum = 0
    for (let s = 0; s < scanCount; s++) {
      let visited = 0
      for (const [key, value] of tree.entries(startKeys[s]!, pair)) {
        sum += key + value
        if (++visited === scanLength) break
      }
    }
    return sum
  }

  inserts(keys: Float64Array, values: Float64Array, opCount: number): number {
    const tree = this.built()
    for (let i = 0; i < opCount; i++) tree.set(keys[i]!, values[i]!)
    return tree.size
  }

  insertThenLookup(keys: Float64Array, values: Float64Array, queryKeys: Float64Array, pairCount: number): number {
    const tree = this.built()
    let sum = 0
    for (let j = 0; j < pairCount; j++) {
      tree.set(keys[j]!, values[j]!)
      const value = tree.get(queryKeys[j]!)
      if (value !== undefined) sum += value
    }
    return sum
  }

  size(): number {
    return this.built().size
  }

  indexBytes(): number {
    return this.shape().internalBytes
  }

  describe(): Record<string, number> {
    return { ...this.shape() }
  }

  release(): void {
    this.tree = undefined
    this.keyArray = undefined
    this.valueArray = undefined
  }

  /** Walks the whole tree (through the private _root; sorted-btree has no public node API). */
  private shape(): { height: number; leafNodes: number; internalNodes: number; internalBytes: number } {
    const root = (this.built() as unknown as { _root: BNodeShape })._root
    let leafNodes = 0
    let internalNodes = 0
    let internalBytes = 0
    let height = 0
    let level: BNodeShape[] = [root]
    while (level.length > 0) {
      height++
      const next: BNodeShape[] = []
      for (const node of level) {
        if (node.children === undefined) {
          leafNodes++
          continue
        }
        internalNodes++
        internalBytes +=
          (node.keys.length + node.children.length) * BTREE_POINTER_BYTES + BTREE_INTERNAL_NODE_HEADER_BYTES
        for (const child of node.children) next.push(child)
      }
      level = next
    }
    return { height, leafNodes, internalNodes, internalBytes }
  }

  private built(): NumberTree {
    if (this.tree === undefined) throw new Error('btree: no tree built')
    return this.tree
  }
}
