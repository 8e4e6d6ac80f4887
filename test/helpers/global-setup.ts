// Runs once before the whole suite: integration tests spawn the compiled daemon and fixture
// workers import the compiled SDK, so dist/ must exist and must not be older than the sources
// (a stale dist/ would make tests pass or fail against code that is no longer there).

import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')
const BUILT = ['dist/src/cli.js', 'dist/clients/index.js', 'dist/examples/worker.js']
const SOURCE_DIRS = ['src', 'clients', 'protocol', 'examples']

/** Newest mtime of the .ts files under `dir` (bounded depth: the source trees are shallow). */
function newestSource(dir: string, depth = 0): number {
  if (depth > 6 || !existsSync(dir)) return 0
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p, depth + 1))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

export default function setup(): void {
  if (process.env.BROKERD_SKIP_BUILD === '1') return
  const builtPaths = BUILT.map((p) => path.join(root, p))
  const missing = builtPaths.some((p) => !existsSync(p))
  const oldestBuilt = missing ? 0 : Math.min(...builtPaths.map((p) => statSync(p).mtimeMs))
  const newestSrc = Math.max(...SOURCE_DIRS.map((d) => newestSource(path.join(root, d))))
  if (!missing && oldestBuilt >= newestSrc) return
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit', timeout: 120_000 })
  } catch (err) {
    // tsc still emits on type errors; only a missing build is fatal.
    if (builtPaths.some((p) => !existsSync(p))) {
      throw new Error(`dist/ could not be built (npx tsc -p tsconfig.json): ${String(err)}`, { cause: err })
    }
    console.warn('[global-setup] tsc reported errors; testing the dist/ it emitted anyway')
  }
}
