/**
 * Hard memory caps for the comparison's children, through the kernel's memory cgroup controller
 * (BENCH.md rule 8: "Memory = X" means the whole engine lives in X, page cache included).
 *
 * Where the groups go: below the bench's own memory cgroup (read from /proc/self/cgroup), never at
 * the hierarchy's root, so that a child stays inside whatever group the bench was started in and its
 * usage still counts there (v1 `memory.use_hierarchy`, always so in v2). Each group is named
 * `learned-storage-bench-<bench pid>-<n>-<what>`; the bench writes only to groups it made, and
 * removes each one (rmdir) when its child is gone, at exit, and on SIGINT / SIGTERM. A group left by
 * a bench that was killed (its pid gone) is removed by the next bench that starts, if it is empty.
 *
 * A child joins its group before it runs any code: it is started as
 * `sh -c 'echo $$ > <group>/cgroup.procs && exec node ...'` (`wrapInGroup`), so every page it
 * touches is charged to the group; nothing to race with.
 *
 * What each version gives:
 *   v1: limit memory.limit_in_bytes (and, where swap is on, memory.memsw.limit_in_bytes to the same
 *       value: no swap beyond the cap); peak memory.max_usage_in_bytes; OOM kills from memory.oom_control's
 *       `oom_kill`; hits on the limit memory.failcnt; page cache dropped with memory.force_empty.
 *       Usage counts anonymous memory, page cache (file pages the group brought in or wrote) and
 *       kernel memory charged to the group.
 *   v2: memory.max (and memory.swap.max = 0); peak memory.peak (Linux 5.19+); OOM kills from
 *       memory.events `oom_kill`; hits on the limit from memory.events `max`; page cache dropped by
 *       writing a large number to memory.reclaim (5.19+). v2 lets a group with processes in it have no
 *       child groups with controllers, so where the bench's own group holds processes (the bench
 *       itself) the memory controller cannot be enabled below it: the probe says so and the bench runs
 *       uncapped. (Not tried on a machine with v2; this one has v1.)
 *
 * Nothing here needs a package: the files are plain text, read and written synchronously.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export const GROUP_PREFIX = 'learned-storage-bench-'

export interface MemoryController {
  version: 1 | 2
  /** The bench's own memory cgroup directory: groups are made inside it. */
  parentDir: string
}

export type ControllerProbe = { usable: true; controller: MemoryController; description: string } | { usable: false; reason: string }

/** Whether (and where) this process may make capped memory groups, and if not, why. */
export function probeMemoryController(): ControllerProbe {
  if (process.platform !== 'linux') return { usable: false, reason: `no memory cgroups on ${process.platform}` }
  if (process.getuid?.() !== 0) return { usable: false, reason: 'not root (uid != 0): the bench may not make cgroups' }
  let membership: string
  try {
    membership = readFileSync('/proc/self/cgroup', 'utf8')
  } catch (error) {
    return { usable: false, reason: `cannot read /proc/self/cgroup (${messageOf(error)})` }
  }
  const mounts = readMounts()
  const v1 = findV1(membership, mounts)
  if (v1 !== undefined) return tryController({ version: 1, parentDir: v1 }, 'cgroup v1 memory controller')
  const v2 = findV2(membership, mounts)
  if (v2 === undefined) return { usable: false, reason: 'no memory cgroup controller mounted (neither a v1 memory hierarchy nor a v2 one listing memory)' }
  if (!readText(path.join(v2, 'cgroup.controllers'))?.split(/\s+/).includes('memory')) {
    return { usable: false, reason: `cgroup v2 at ${v2} does not offer the memory controller` }
  }
  try {
    writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+memory')
  } catch (error) {
    return { usable: false, reason: `cgroup v2: cannot enable memory below ${v2} (${messageOf(error)}; a v2 group holding processes may not have controlled children)` }
  }
  return tryController({ version: 2, parentDir: v2 }, 'cgroup v2 memory controller')
}

interface Mount {
  /** The mount's root within its hierarchy, and where it is mounted. */
  root: string
  point: string
  fsType: string
  superOptions: string[]
}

function readMounts(): Mount[] {
  const text = readText('/proc/self/mountinfo') ?? ''
  const mounts: Mount[] = []
  for (const line of text.split('\n')) {
    // id parent major:minor root point options [optional...] - fstype source superOptions
    const [left, right] = line.split(' - ')
    if (left === undefined || right === undefined) continue
    const fields = left.split(' ')
    const [fsType, , superOptions] = right.split(' ')
    if (fields[3] === undefined || fields[4] === undefined || fsType === undefined) continue
    mounts.push({ root: unescapeMount(fields[3]), point: unescapeMount(fields[4]), fsType, superOptions: (superOptions ?? '').split(',') })
  }
  return mounts
}

function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

/** The directory of our v1 memory group, if a v1 memory hierarchy is mounted and we are in it. */
function findV1(membership: string, mounts: readonly Mount[]): string | undefined {
  for (const line of membership.split('\n')) {
    const [, controllers, groupPath] = line.split(':')
    if (controllers === undefined || groupPath === undefined || !controllers.split(',').includes('memory')) continue
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'))
    if (mount !== undefined) return inMount(mount, groupPath)
  }
  return undefined
}

function findV2(membership: string, mounts: readonly Mount[]): string | undefined {
  const line = membership.split('\n').find((l) => l.startsWith('0::'))
  const mount = mounts.find((m) => m.fsType === 'cgroup2')
  return line === undefined || mount === undefined ? undefined : inMount(mount, line.slice(3))
}

function inMount(mount: Mount, groupPath: string): string {
  const relative = mount.root === '/' ? groupPath : groupPath.startsWith(mount.root) ? groupPath.slice(mount.root.length) : groupPath
  return path.join(mount.point, relative)
}

/** Makes and removes a probe group, so that "usable" means a group can really be made here. */
function tryController(controller: MemoryController, what: string): ControllerProbe {
  sweepStaleGroups(controller)
  const probe = path.join(controller.parentDir, `${GROUP_PREFIX}${process.pid}-probe`)
  try {
    mkdirSync(probe)
  } catch (error) {
    return { usable: false, reason: `${what}: cannot make a group in ${controller.parentDir} (${messageOf(error)})` }
  }
  try {
    rmdirSync(probe)
  } catch {
    // left for the sweep of the next bench
  }
  return { usable: true, controller, description: `${what}, groups in ${controller.parentDir}` }
}

/** Removes empty groups that earlier benches made (by name) and that outlived them. */
function sweepStaleGroups(controller: MemoryController): void {
  let names: string[]
  try {
    names = readdirSync(controller.parentDir)
  } catch {
    return
  }
  for (const name of names) {
    const match = new RegExp(`^${GROUP_PREFIX}(\\d+)-`).exec(name)
    if (match === null || Number(match[1]) === process.pid || isAlive(Number(match[1]))) continue
    try {
      rmdirSync(path.join(controller.parentDir, name))
    } catch {
      // not empty, or gone: leave it
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Groups made by this process and not yet removed. */
const liveGroups = new Set<MemoryGroup>()
let sequence = 0
let cleanupInstalled = false

/** One memory group the bench made, for one child. */
export class MemoryGroup {
  readonly dir: string
  /** The limit written, or undefined for a group that only measures. */
  readonly limitBytes: number | undefined
  /** What was written to set the limit, for the report. */
  readonly limitFiles: string[] = []

  private constructor(
    private readonly controller: MemoryController,
    label: string,
    limitBytes: number | undefined,
  ) {
    installCleanup()
    this.dir = path.join(controller.parentDir, `${GROUP_PREFIX}${process.pid}-${sequence++}-${label.replace(/[^A-Za-z0-9_.+-]/g, '_')}`)
    mkdirSync(this.dir)
    liveGroups.add(this)
    this.limitBytes = limitBytes
    try {
      if (limitBytes !== undefined) this.setLimit(limitBytes)
    } catch (error) {
      this.remove()
      throw error
    }
  }

  /** Makes a group below the controller's parent; with a limit, page cache and swap included. */
  static create(controller: MemoryController, label: string, limitBytes?: number): MemoryGroup {
    if (limitBytes !== undefined && !(Number.isSafeInteger(limitBytes) && limitBytes > 0)) {
      throw new RangeError(`a memory limit is a positive whole number of bytes, not ${limitBytes}`)
    }
    return new MemoryGroup(controller, label, limitBytes)
  }

  private setLimit(bytes: number): void {
    if (this.controller.version === 1) {
      this.write('memory.limit_in_bytes', String(bytes))
      // memsw is memory + swap; it must be >= the memory limit, so it is written second. Only with
      // swap on: without it memsw adds nothing, and with it set this kernel (6.18) stops counting
      // memory.failcnt (both counters stayed 0 for a child the OOM killer ended).
      if (swapOn() && existsSync(path.join(this.dir, 'memory.memsw.limit_in_bytes'))) this.write('memory.memsw.limit_in_bytes', String(bytes))
    } else {
      this.write('memory.max', String(bytes))
      if (existsSync(path.join(this.dir, 'memory.swap.max'))) this.write('memory.swap.max', '0')
    }
  }

  /** The file a process writes its pid to, to join the group. */
  get procsFile(): string {
    return path.join(this.dir, 'cgroup.procs')
  }

  /** The most the group ever held (v1 max_usage_in_bytes, v2 memory.peak), or undefined. */
  peakBytes(): number | undefined {
    return this.readNumber(this.controller.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak')
  }

  usageBytes(): number | undefined {
    return this.readNumber(this.controller.version === 1 ? 'memory.usage_in_bytes' : 'memory.current')
  }

  /** Processes the kernel's OOM killer killed in this group. */
  oomKills(): number {
    const file = this.controller.version === 1 ? 'memory.oom_control' : 'memory.events'
    return keyedNumber(readText(path.join(this.dir, file)), 'oom_kill') ?? 0
  }

  /** Times usage hit the limit (v1 failcnt, or memsw.failcnt when memory + swap hit it first; v2 events `max`). */
  limitHits(): number | undefined {
    if (this.controller.version === 1) {
      const counts = [this.readNumber('memory.failcnt'), this.readNumber('memory.memsw.failcnt')].filter((n) => n !== undefined)
      return counts.length === 0 ? undefined : Math.max(...counts)
    }
    return keyedNumber(readText(path.join(this.dir, 'memory.events')), 'max')
  }

  /**
   * Drops the page cache charged to this group (v1 memory.force_empty, v2 memory.reclaim): the pages
   * its children read or wrote. Returns how, or undefined if it could not. Call once its processes are gone.
   */
  dropPageCache(): string | undefined {
    try {
      if (this.controller.version === 1) {
        this.write('memory.force_empty', '0')
        return 'memory.force_empty of the load\'s cgroup'
      }
      this.write('memory.reclaim', String(2 ** 50))
      return 'memory.reclaim of the load\'s cgroup'
    } catch {
      return undefined
    }
  }

  /** Removes the group (rmdir); a group still holding a process is retried a few times. */
  remove(): void {
    if (!liveGroups.has(this)) return
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(this.dir)
        break
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT') break
        if (attempt >= 50) throw new Error(`cannot remove memory cgroup ${this.dir}: ${messageOf(error)}`)
        sleepSync(20)
      }
    }
    liveGroups.delete(this)
  }

  private write(file: string, text: string): void {
    writeFileSync(path.join(this.dir, file), text)
    if (file.includes('limit') || file === 'memory.max' || file === 'memory.swap.max') this.limitFiles.push(`${file} = ${text}`)
  }

  private readNumber(file: string): number | undefined {
    const text = readText(path.join(this.dir, file))?.trim()
    if (text === undefined || text === '' || text === 'max') return undefined
    const value = Number(text)
    return Number.isFinite(value) ? value : undefined
  }
}

/**
 * The argv of a command that joins `group` and then runs `command args` in its place:
 * `sh -c 'echo $$ > procs && exec "$@"'`. The pid that joins is the command's (exec keeps it), so
 * everything the command does is charged to the group; if the join fails, the command never runs.
 */
export function wrapInGroup(group: MemoryGroup, command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', group.procsFile, command, ...args] }
}

/** Children running in our groups: killed before their groups are removed on a signal. */
const liveChildren = new Set<{ kill(signal: NodeJS.Signals): boolean }>()

/** Tracks `child` until it exits, so that SIGINT / SIGTERM to the bench can end it and free its group. */
export function trackChild(child: { kill(signal: NodeJS.Signals): boolean; once(event: 'exit', listener: () => void): unknown }): void {
  liveChildren.add(child)
  child.once('exit', () => liveChildren.delete(child))
}

/** Removes every group this process made and still has (at exit, on signals). */
export function removeAllGroups(): void {
  for (const group of [...liveGroups]) {
    try {
      group.remove()
    } catch (error) {
      process.stderr.write(`${messageOf(error)}\n`)
    }
  }
}

function installCleanup(): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', removeAllGroups)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // A group can go once its child has: end the children first (they may have had the terminal's
      // SIGINT already).
      for (const child of liveChildren) child.kill('SIGKILL')
      removeAllGroups()
      process.kill(process.pid, signal)
    })
  }
}

/** Whether any swap area is in use (/proc/swaps lists one below its header). */
function swapOn(): boolean {
  return (readText('/proc/swaps') ?? '').trim().split('\n').length > 1
}

function keyedNumber(text: string | undefined, key: string): number | undefined {
  const line = text?.split('\n').find((l) => l.startsWith(`${key} `))
  if (line === undefined) return undefined
  const value = Number(line.slice(key.length + 1))
  return Number.isFinite(value) ? value : undefined
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
