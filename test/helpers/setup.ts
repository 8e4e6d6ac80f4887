// Loaded before every test file (vitest setupFiles): whatever a test spawned or opened through the
// helpers is closed after that test, pass or fail, so no broker or worker outlives its test.

import { afterAll, afterEach } from 'vitest'
import { cleanupAll, dumpLogsOfFailedTest } from './broker.js'

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') dumpLogsOfFailedTest()
  await cleanupAll()
})

afterAll(async () => {
  await cleanupAll()
})
