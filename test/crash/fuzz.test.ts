/**
 * The crafted-file fuzzer at CI size (fuzz.mjs; `node test/crash/fuzz.mjs --trials N --seed S` for
 * long runs): one on-disk field of a real store or log changed and re-sealed per trial, opened
 * read-only and read-write in a child. Every trial must give the right data or CORRUPTION naming the
 * file (FORMAT_VERSION for a newer format), within 2 s and 64 MiB, and a failed open must change no
 * file.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { fuzzTrials } from './fuzz.mjs'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'learned-storage-fuzz-test-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

it('250 crafted-field trials: right data or a named CORRUPTION, bounded, no file changed by a failed open', async () => {
  const figures = await fuzzTrials({ root, seed: 20261216, trials: 250 })
  const report = figures.failures.slice(0, 10).map((f) => `seed ${f.seed} trial ${f.trial} ${f.shape} ${f.field} ${f.truth} -> ${f.value}: ${f.problems.join(' | ')}`)
  expect(report).toEqual([])
  expect(figures.trials).toBeGreaterThan(200)
  // The trials reach the parsers: many are refused, many open right.
  expect(figures.corruption).toBeGreaterThan(50)
  expect(figures.rightData).toBeGreaterThan(50)
  expect(figures.hangs + figures.untyped + figures.wrongValues + figures.changedFiles + figures.memoryOverLimit).toBe(0)
}, 120_000)
