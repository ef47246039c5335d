/** Public option, range and statistics types of the ALEX index. */

export interface AlexOptions {
  /**
   * Largest data node, in slots (keys plus gaps). A data node never grows past this; when it is full
   * it splits. The page layer sets it so that one data node fills one page. Default 65536; at least 64.
   */
  maxDataNodeSlots?: number
  /** Largest model-node fanout (length of its child array); a power of two. Default 65536; at least 2. */
  maxFanout?: number
  /**
   * Whether lookups (get, has, lowerBound, iterator seeks) feed the cost model that decides when data
   * nodes expand or split, as in the ALEX paper. Default true. The store turns it off so that the
   * index's shape depends only on its writes: replaying the log from a checkpoint then rebuilds the
   * same index, node for node.
   */
  adaptToReads?: boolean
}

/** Bounds for ordered iteration. At most one of gte/gt and one of lte/lt. */
export interface AlexRange {
  gte?: number
  gt?: number
  lte?: number
  lt?: number
  reverse?: boolean
}

export interface AlexStats {
  /** Number of keys. */
  size: number
  dataNodes: number
  modelNodes: number
  /** Model nodes above the deepest data node (a lone data node as root has depth 0). */
  maxDepth: number
  /** Depth averaged over keys (each key weighs its data node's depth). */
  avgDepth: number
  /** Bytes of the index proper: model nodes (header, model, child pointers) and data-node headers and
   *  models. Excludes key slots, value slots and bitmaps. */
  indexBytes: number
  /** Bytes of key slots (8 B), value slots (8 B) and bitmaps of all data nodes. */
  dataBytes: number
  /** Slots in all data nodes (keys plus gaps). */
  dataSlots: number
  /** Exponential-search iterations per search (lookups and inserts) since the index was built (a
   *  store's index: since the store was opened). */
  avgSearchIterations: number
  /** Slots moved per insert since the index was built (a store's: since it was opened). */
  avgShiftsPerInsert: number
  /** Searches counted since the index was built or the store opened (a store's index counts only its writes' searches). */
  searches: number
  /** Inserts of new keys since the index was built or the store opened. */
  inserts: number
  expansions: number
  retrains: number
  sidewaysSplits: number
  downwardSplits: number
  rootExpansions: number
  contractions: number
  /** Subtrees bulk-loaded again because a path grew far deeper than the key count needs. */
  rebuilds: number
}
