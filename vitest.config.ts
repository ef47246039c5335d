import os from 'node:os'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // At least two files at a time (vitest's default is one fewer than the cores: one, on the 2-core
    // machines CI and we run on). 54 files took 581 s one at a time and 436 s two at a time here
    // (2026-12-06).
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
  },
})
