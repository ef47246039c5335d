/**
 * Where a worker thread's module is, as JavaScript: beside the calling module when it runs built
 * (dist/, as users, the bench and the crash suite run it); the built one in dist/ when the caller runs
 * from its TypeScript source (vitest), since a worker thread loads JavaScript only. Then that build
 * must be there and no older than src/, or the tests would run a thread made from other code: this
 * says so (`npm test` builds first).
 *
 *   callerUrl: the caller's import.meta.url (src/<dir>/<file>.ts or dist/<dir>/<file>.js)
 *   file:      the thread module's name in the same directory, as built ('bulk-writer-thread.js')
 */

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { assert } from '../errors.js'

const found = new Map<string, URL>()

export function threadModule(callerUrl: string, file: string, what: string): URL {
  const key = `${callerUrl}\n${file}`
  const known = found.get(key)
  if (known !== undefined) return known
  let url: URL
  if (callerUrl.endsWith('.js')) {
    url = new URL(`./${file}`, callerUrl)
  } else {
    const callerDir = path.dirname(fileURLToPath(callerUrl))
    const sourceDir = path.dirname(callerDir)
    const builtPath = path.join(path.dirname(sourceDir), 'dist', path.basename(callerDir), file)
    assert(fs.existsSync(builtPath), `${builtPath} is missing: ${what} runs built; run \`npm run build\` first (npm test does)`)
    assert(fs.statSync(builtPath).mtimeMs + 1000 >= newestMtimeMs(sourceDir), `${builtPath} is older than ${sourceDir}: run \`npm run build\` first (npm test does)`)
    url = pathToFileURL(builtPath)
  }
  found.set(key, url)
  return url
}

function newestMtimeMs(dir: string): number {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(at) : fs.statSync(at).mtimeMs)
  }
  return newest
}
