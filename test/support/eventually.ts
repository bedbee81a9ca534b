import { afterEach } from 'vitest';

/**
 * Waits until `check` holds, polling every 50 ms; fails naming `what` after `timeoutMs`.
 *
 * @example await eventually('spool empty', async () => (await spoolFiles(dir)) === 0, 60_000);
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Registers an afterEach that runs the steps `defer` collected during the test, in reverse, even
 * when the test failed; answers `defer`.
 *
 * @example const defer = deferredCleanups(); … defer(() => herald.kill());
 */
export function deferredCleanups(): (cleanup: () => Promise<unknown>) => void {
  let cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => console.error('cleanup failed', err));
    cleanups = [];
  });
  return (cleanup) => void cleanups.push(cleanup);
}
