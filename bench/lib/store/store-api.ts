/**
 * The store as the benchmark sees it: `open` and its types from the package root (self-reference,
 * like index-bench's AlexIndex), so the benchmark type-checks against the published contract.
 */
import { open, type Durability, type OpenOptions, type Store } from 'learned-storage'

export type { Durability }
export type BenchStore = Store
export type BenchOpenOptions = OpenOptions
export type OpenStore = (directory: string, options?: OpenOptions) => Promise<Store>

export const openStore: OpenStore = open
