/**
 * An ALEX model (inner) node: a linear model that maps a key to one of `children.length` slots (a
 * power of two), and the child array. A child may fill several consecutive slots: a child with
 * `dupLog2 = d` fills an aligned block of 2^d slots (its pointer is repeated), so a node can split
 * sideways into halves without touching its parent's model.
 *
 * slot(key) = clamp(floor(((key * m1) - c) * m2 + b) + offset, 0, fanout - 1)
 * `offset` is an integer added after the floor, so that the root can grow to the left (new slots in
 * front) without changing how any existing key is routed: the model's arithmetic is untouched.
 *
 * Invariants (checked by AlexIndex.check):
 *   1. children.length is a power of two, at most the index's maxFanout;
 *   2. every child fills exactly one aligned block of 2^child.dupLog2 slots;
 *   3. routing is monotone (m1, m2 > 0), so children hold increasing, disjoint key ranges in slot order.
 */

import type { DataNode } from './data-node.js'
import type { LinearModel } from './linear-model.js'

export type AlexNode = DataNode | ModelNode

export class ModelNode implements LinearModel {
  readonly isLeaf = false
  dupLog2 = 0
  m1 = 1
  c = 0
  m2 = Number.MIN_VALUE
  b = 0
  offset = 0
  children: AlexNode[]

  constructor(children: AlexNode[]) {
    this.children = children
  }

  get fanout(): number {
    return this.children.length
  }

  /** Unclamped slot (may be negative or >= fanout; +-Infinity for keys far outside the domain). */
  rawSlot(key: number): number {
    return Math.floor((key * this.m1 - this.c) * this.m2 + this.b) + this.offset
  }

  slot(key: number): number {
    const s = Math.floor((key * this.m1 - this.c) * this.m2 + this.b) + this.offset
    if (!(s > 0)) return 0
    const last = this.children.length - 1
    return s < last ? s : last
  }

  /**
   * Doubles the child array: each pointer is repeated twice and the model scaled by 2. Scaling by a
   * power of two is exact in binary floating point, so floor(2p) falls in {2 floor(p), 2 floor(p) + 1}
   * and every key keeps its child.
   */
  expand(): void {
    const old = this.children
    const children: AlexNode[] = new Array<AlexNode>(old.length * 2)
    for (let i = 0; i < old.length; i++) {
      const child = old[i]!
      children[2 * i] = child
      children[2 * i + 1] = child
    }
    let previous: AlexNode | null = null
    for (const child of old) {
      if (child !== previous) child.dupLog2++
      previous = child
    }
    this.children = children
    this.m2 *= 2
    this.b *= 2
    this.offset *= 2
  }
}
