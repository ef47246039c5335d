/** Building a `SystemRun` from what a job names and what was measured (child and parent alike). */
import type { SystemRun } from './types.js'

/** What a job names about its run. */
export type RunIdentity = Pick<SystemRun, 'system' | 'dataset' | 'valueBytes' | 'keyCount' | 'memory' | 'memoryBytes'>

export type Measured = Pick<SystemRun, 'settings' | 'results' | 'diskBytes' | 'peakRssBytes'> & Partial<SystemRun>

/** The run of `job`; `measured` may also override identity fields (recovery names its own key count). */
export function runFor(job: RunIdentity, measured: Measured): SystemRun {
  const keyCount = measured.keyCount ?? job.keyCount
  const valueBytes = measured.valueBytes ?? job.valueBytes
  return {
    system: job.system,
    dataset: job.dataset,
    valueBytes,
    keyCount,
    memory: job.memory,
    memoryBytes: job.memoryBytes,
    rawBytes: keyCount * (8 + valueBytes),
    ...measured,
  }
}
