/**
 * Opens a comparison system by name. The 'per-write' variant exists for RocksDB only: each put is its
 * own synchronous write instead of one write per event-loop turn (rocksdb.ts explains both).
 */
import type { KvSystem, SystemConfig, SystemName } from '../types.js'
import { openLmdb } from './lmdb.js'
import { openOurs } from './ours.js'
import { openRocksDbCached } from './rocksdb-cached.js'
import { openRocksDb, openRocksDbPerWrite } from './rocksdb.js'

export type SystemVariant = 'per-write'

export function openSystem(name: SystemName, config: SystemConfig, variant?: SystemVariant): Promise<KvSystem> {
  if (variant !== undefined && name !== 'rocksdb') {
    return Promise.reject(new Error(`the ${variant} variant exists for rocksdb only, not ${name}`))
  }
  switch (name) {
    case 'learned-storage':
      return openOurs(config)
    case 'rocksdb':
      return variant === 'per-write' ? openRocksDbPerWrite(config) : openRocksDb(config)
    case 'rocksdb+cache':
      return openRocksDbCached(config)
    case 'lmdb':
      return openLmdb(config)
  }
}
