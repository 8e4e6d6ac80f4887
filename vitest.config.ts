// Test runner settings. Integration tests spawn the real daemon (dist/src/cli.js) as child
// processes and some assert loose latency bounds, so test files run one at a time: on a 2-core
// machine parallel files would starve each other and turn timing bounds into flakes.

import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    teardownTimeout: 30_000,
    fileParallelism: false,
    maxWorkers: 1,
    // Builds dist/ when it is missing or older than the sources (skip with BROKERD_SKIP_BUILD=1).
    globalSetup: ['test/helpers/global-setup.ts'],
    // Kills every broker / worker process a test spawned, even when the test failed.
    setupFiles: ['test/helpers/setup.ts'],
  },
})
