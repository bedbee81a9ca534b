/**
 * Queue benchmark (issue 6's shape): 1,000 channels with 10 high entries each plus one channel with
 * 50,000 bulk entries, pushed and then popped and completed until empty. The in-process
 * MemoryQueue is measured in the same run as the baseline; RedisQueue runs with 1, 32 and 128
 * concurrent workers sharing one connection, as one Herald process would.
 *
 *   npx tsx bench/redis-queue.ts        (HERALD_REDIS_URL, default redis://127.0.0.1:6379)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { MemoryQueue } from '../backends/memory/queue.js';
import { RedisQueue } from '../backends/redis/queue.js';
import type { Queue } from '../src/queue.js';

const SMALL_CHANNELS = 1_000;
const SMALL_ENTRIES = 10;
const BIG_ENTRIES = 50_000;
const TOTAL = SMALL_CHANNELS * SMALL_ENTRIES + BIG_ENTRIES;

interface Result {
  queue: string;
  workers: number;
  pushMs: number;
  popMs: number;
  /** How many pops it took until every small channel was empty: fairness at a glance. */
  smallDoneAfter: number;
}

/** Runs `work` on `workers` concurrent loops until each returns false. */
async function concurrently(workers: number, work: () => Promise<boolean>): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async () => {
    while (await work());
  }));
}

async function measure(name: string, queue: Queue, workers: number): Promise<Result> {
  await queue.clear();
  const pushes: (() => Promise<void>)[] = [];
  for (let c = 0; c < SMALL_CHANNELS; c++) {
    for (let i = 0; i < SMALL_ENTRIES; i++) pushes.push(() => queue.push(`small-${c}`, 0, { id: `s${c}-${i}` }, 'high'));
  }
  for (let i = 0; i < BIG_ENTRIES; i++) pushes.push(() => queue.push('big', 0, { id: `b${i}` }, 'bulk'));

  let started = performance.now();
  let next = 0;
  await concurrently(workers, async () => {
    const push = pushes[next++];
    if (push === undefined) return false;
    await push();
    return true;
  });
  const pushMs = performance.now() - started;
  if ((await queue.size()) !== TOTAL) throw new Error(`${name}: ${await queue.size()} entries queued, expected ${TOTAL}`);

  let popped = 0;
  let smallLeft = SMALL_CHANNELS * SMALL_ENTRIES;
  let smallDoneAfter = 0;
  started = performance.now();
  await concurrently(workers, async () => {
    const item = await queue.pop();
    if (item === null) return false;
    popped++;
    if (item.channel !== 'big' && --smallLeft === 0) smallDoneAfter = popped;
    await queue.complete(item.token);
    return true;
  });
  const popMs = performance.now() - started;
  if (popped !== TOTAL) throw new Error(`${name}: popped ${popped}, expected ${TOTAL}`);
  return { queue: name, workers, pushMs, popMs, smallDoneAfter };
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
}

const redis = new Redis(process.env.HERALD_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const prefix = `herald-bench:${randomUUID()}:`;
try {
  const results = [await measure('MemoryQueue', new MemoryQueue(), 1)];
  for (const workers of [1, 32, 128]) results.push(await measure('RedisQueue', new RedisQueue({ redis, prefix }), workers));

  const baseline = results[0]!;
  const perOp = (ms: number): string => `${((ms * 1000) / TOTAL).toFixed(1)} µs`;
  const perSecond = (ms: number): string => `${Math.round(TOTAL / (ms / 1000)).toLocaleString('en')}/s`;
  console.log(`${TOTAL.toLocaleString('en')} entries: ${SMALL_CHANNELS} channels × ${SMALL_ENTRIES} high + 1 channel × ${BIG_ENTRIES.toLocaleString('en')} bulk\n`);
  console.table(
    results.map((r) => ({
      queue: r.queue,
      workers: r.workers,
      'push total': `${Math.round(r.pushMs)} ms`,
      'push/op': perOp(r.pushMs),
      'pop+complete total': `${Math.round(r.popMs)} ms`,
      'pop+complete/op': perOp(r.popMs),
      'pop+complete rate': perSecond(r.popMs),
      'vs memory': `${(r.popMs / baseline.popMs).toFixed(1)}×`,
      'small channels empty after': `${r.smallDoneAfter.toLocaleString('en')} pops`,
    })),
  );
} finally {
  await deleteKeys(redis, prefix);
  await redis.quit();
}
