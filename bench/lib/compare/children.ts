/**
 * Starting one comparison child (compare-child.ts) and collecting what it says: its result, the
 * workloads it finished (a measure child sends each one as it ends), its idle figures, its last
 * progress label and how it exited. A child may be started inside a memory cgroup (memory-cgroup.ts):
 * it then runs as `sh -c 'echo $$ > procs && exec node ...'`, with the same IPC channel.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import type { ChildJob, ChildMessage } from '../../compare-child.js'
import { trackChild, wrapInGroup, type MemoryGroup } from './memory-cgroup.js'
import type { SystemRun, WorkloadResult } from './types.js'

/** Node options of every child: a full collection between repetitions, and no V8 heap limit in the way. */
export const CHILD_EXEC_ARGV: readonly string[] = ['--expose-gc', '--max-old-space-size=16384']
/**
 * Node options of a child under a memory cap: no heap limit of ours, so that node sizes V8's heap
 * from the cgroup's limit (libuv's uv_get_constrained_memory), as it does in any memory-limited
 * container; the idle children that measure the allowance run with the same options.
 */
export const CAPPED_EXEC_ARGV: readonly string[] = ['--expose-gc']
const STDERR_TAIL_CHARS = 4096

/** V8's fatal error when the JavaScript heap cannot grow within its limit. */
export function isV8HeapExhausted(outcome: ChildOutcome): boolean {
  return /JavaScript heap out of memory|Reached heap limit/.test(outcome.stderrTail)
}

export interface ChildOutcome {
  run?: SystemRun
  /** Workloads the child finished, in order, with its peak RSS after each. */
  workloads: { result: WorkloadResult; peakRssBytes: number }[]
  idle?: { rssBytes: number; peakRssBytes: number }
  /** The child's own error message, if it sent one. */
  failure?: string
  lastProgress: string
  code: number | null
  signal: NodeJS.Signals | null
  /** The parent killed it (after `ready`, when asked to). */
  killedOnReady: boolean
  /** The end of what it wrote to stderr (also passed through to ours). */
  stderrTail: string
}

export interface ChildOptions {
  /** Run the child inside this group (it joins before its first instruction). */
  group?: MemoryGroup
  /** SIGKILL the child when it reports `ready` (recovery-write). */
  killOnReady?: boolean
  /** Node options instead of CHILD_EXEC_ARGV. */
  execArgv?: readonly string[]
  onProgress: (label: string) => void
}

export function runChildProcess(childPath: string, job: ChildJob, options: ChildOptions): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const args = [JSON.stringify(job)]
    const execArgv = [...(options.execArgv ?? CHILD_EXEC_ARGV)]
    let child: ChildProcess
    if (options.group === undefined) {
      child = fork(childPath, args, { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    } else {
      const wrapped = wrapInGroup(options.group, process.execPath, [...execArgv, childPath, ...args])
      child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    }
    trackChild(child)
    const outcome: ChildOutcome = { workloads: [], lastProgress: 'starting', code: null, signal: null, killedOnReady: false, stderrTail: '' }
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk)
      outcome.stderrTail = (outcome.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS)
    })
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'progress':
          outcome.lastProgress = message.label
          options.onProgress(message.label)
          break
        case 'result':
          outcome.run = message.run
          break
        case 'workload':
          outcome.workloads.push({ result: message.result, peakRssBytes: message.peakRssBytes })
          break
        case 'idle':
          outcome.idle = { rssBytes: message.rssBytes, peakRssBytes: message.peakRssBytes }
          break
        case 'error':
          outcome.failure = message.message
          break
        case 'ready':
          if (options.killOnReady === true) {
            outcome.killedOnReady = true
            child.kill('SIGKILL')
          }
          break
      }
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      outcome.code = code
      outcome.signal = signal
      resolve(outcome)
    })
  })
}

/** Why a child that sent no result ended. */
export function exitText(outcome: ChildOutcome): string {
  return outcome.failure ?? `child exited with ${outcome.code ?? outcome.signal} and no result (last: ${outcome.lastProgress})`
}
