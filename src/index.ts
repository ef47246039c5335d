/** learned-storage: an embedded storage engine built on ALEX, an updatable learned index. */
export { AlexIndex } from './alex/alex-index.js'
export type { AlexOptions, AlexRange, AlexStats } from './alex/api.js'
export { StoreError, ErrorCode } from './errors.js'
export type { LeafImage, LeafStore, StoredLeaf } from './alex/leaf-store.js'
export { open, Store, RangeIterable } from './store/store.js'
export type { CheckReport } from './store/check.js'
export type { BatchOperation, BufferPoolStats, CompactionStats, Durability, OpenOptions, PageCounts, RangeOptions, RecordCacheStats, RecoveryStats, StoreStats, WalStats } from './store/api.js'
export { VALUE_MAX_BYTES } from './pages/value-page.js'
