/** learned-storage: an embedded storage engine built on ALEX, an updatable learned index. */
export { AlexIndex } from './alex/alex-index.js'
export type { AlexOptions, AlexRange, AlexStats } from './alex/api.js'
export { StoreError, ErrorCode } from './errors.js'
