import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemoryQueue } from '../backends/memory/queue.js';
import { RedisQueue } from '../backends/redis/queue.js';
import type { Queue } from '../src/queue.js';
import { queueContract } from './queue-contract.js';

const prefix = `herald-test:${randomUUID()}:`;
const connect = (): Redis => new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
const redis = connect();

/** Deletes every key under this file's prefix. */
async function cleanup(): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

afterAll(async () => {
  await cleanup();
  await redis.quit();
});

queueContract('RedisQueue', (clock) => new RedisQueue({ redis, prefix, now: clock.now }), cleanup);

describe('RedisQueue', () => {
  let now = Date.UTC(2025, 0, 6, 9, 0, 0);
  const clock = (): number => now;
  afterEach(cleanup);

  it('delays the rest of a compound item by compoundDelayMs', async () => {
    const queue = new RedisQueue({ redis, prefix, now: clock, compoundDelayMs: 500 });
    await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }], 'high');
    expect((await queue.pop())?.entry.id).toBe('c1');
    now += 499;
    expect(await queue.pop()).toBeNull();
    now += 1;
    expect((await queue.pop())?.entry.id).toBe('c2');
  });

  it('releases a token after leaseMs', async () => {
    const queue = new RedisQueue({ redis, prefix, now: clock, leaseMs: 2_000 });
    await queue.push('a', 0, { id: 'a1' }, 'high');
    const first = await queue.pop();
    now += 1_999;
    expect(await queue.pop()).toBeNull();
    now += 1;
    const again = await queue.pop();
    expect(again?.entry.id).toBe('a1');
    await queue.complete(first!.token);
    await queue.complete(again!.token);
    expect(await queue.size()).toBe(0);
  });

  it('keeps entries exactly as pushed, whatever their ids hold', async () => {
    const queue = new RedisQueue({ redis, prefix, now: clock });
    const odd = { id: 'line\nbreak "quoted" \\ ünïcødé 🚀 *?[]', cost: 1.5 };
    await queue.push('chan:with spaces\n', 0, [odd, { id: 'plain' }], 'bulk');
    expect(await queue.pop()).toMatchObject({ channel: 'chan:with spaces\n', entry: odd });
  });

  it('does not issue a token again after Redis loses its data', async () => {
    const queue = new RedisQueue({ redis, prefix, now: clock, leaseMs: 60_000 });
    await queue.push('a', 0, { id: 'a1' }, 'high');
    const before = await queue.pop();
    await cleanup();
    now += 1_000;
    await queue.push('a', 0, { id: 'a2' }, 'high');
    const after = await queue.pop();
    expect(after?.token).not.toBe(before?.token);
    // A late complete from before the loss must not finish the new lease, so a2 still comes back.
    await queue.complete(before!.token);
    now += 60_000;
    expect((await queue.pop())?.entry.id).toBe('a2');
  });

  it('keeps its keys under the prefix, and clear leaves other prefixes alone', async () => {
    const other = `${prefix}other:`;
    const mine = new RedisQueue({ redis, prefix, now: clock });
    const theirs = new RedisQueue({ redis, prefix: other, now: clock });
    await mine.push('a', 0, { id: 'a1' }, 'high');
    await theirs.push('a', 0, { id: 'b1' }, 'high');
    await redis.set(`${prefix}unrelated`, 'kept');
    await mine.clear();
    expect(await mine.size()).toBe(0);
    expect(await theirs.size()).toBe(1);
    expect(await redis.get(`${prefix}unrelated`)).toBe('kept');
  });

  it('gives a sent marker a real TTL, a minute past its expiry, so Redis collects it', async () => {
    const queue = new RedisQueue({ redis, prefix, now: clock });
    await queue.markSent('m1', 10_000);
    const ttl = await redis.pttl(`${prefix}q:sent:m1`);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(70_000);
  });

  it('refuses a client with a keyPrefix, naming it', () => {
    const prefixed = new Redis({ host: '127.0.0.1', port: 6379, keyPrefix: 'x:', lazyConnect: true });
    expect(() => new RedisQueue({ redis: prefixed, prefix })).toThrow(/keyPrefix "x:"/);
    prefixed.disconnect();
  });

  it('rejects, rather than hangs, when Redis cannot be reached', async () => {
    const down = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    down.on('error', () => {});
    const queue = new RedisQueue({ redis: down, prefix, now: clock });
    await expect(queue.pop()).rejects.toThrow();
    await expect(queue.markSent('m1', 1_000)).rejects.toThrow();
    down.disconnect();
  });

  it('decides exactly as the memory queue over random operations', async () => {
    const channel = fc.constantFrom('a', 'b', 'c');
    const at = fc.nat({ max: 20 });
    const operation = fc.oneof(
      fc.record({
        op: fc.constant('push' as const),
        channel,
        tps: fc.constantFrom(0, 1, 2, 3),
        costs: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        priority: fc.constantFrom('high' as const, 'bulk' as const),
        delayMs: fc.constantFrom(0, 0, 500, 2_500),
      }),
      fc.constant({ op: 'pop' as const }),
      fc.constant({ op: 'pop' as const }),
      fc.record({ op: fc.constant('popMany' as const), max: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant('complete' as const), at }),
      fc.record({ op: fc.constant('putBack' as const), at, ms: fc.constantFrom(0, 700) }),
      fc.record({ op: fc.constant('pause' as const), channel, ms: fc.constantFrom(300, 1_500) }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.oneof(fc.constantFrom(1, 999, 3_000, 20_000), fc.integer({ min: 1, max: 1_500 })) }),
      fc.record({ op: fc.constant('size' as const), channel: fc.option(channel) }),
    );
    let pushed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 20, maxLength: 120, size: 'max' }), async (operations) => {
        let time = Date.UTC(2025, 0, 6, 9, 0, 0);
        const options = { now: () => time, leaseMs: 10_000 };
        const queues: Queue[] = [new MemoryQueue(options), new RedisQueue({ redis, prefix, ...options })];
        await queues[1]!.clear();
        /** Tokens held in flight, per queue, in the same order for both. */
        const held: string[][] = [[], []];
        const seen: unknown[][] = [[], []];
        for (const step of operations) {
          if (step.op === 'advance') {
            time += step.ms;
            continue;
          }
          for (const [q, queue] of queues.entries()) {
            const tokens = held[q]!;
            const log = seen[q]!;
            if (step.op === 'push') {
              const entries = step.costs.map((cost, i) => ({ id: `${step.channel}${pushed}.${i}`, cost }));
              await queue.push(step.channel, step.tps, entries.length === 1 ? entries[0]! : entries, step.priority, new Date(time + step.delayMs));
            } else if (step.op === 'pop') {
              const popped = await queue.pop();
              if (popped !== null) tokens.push(popped.token);
              log.push(popped && { channel: popped.channel, entry: popped.entry });
            } else if (step.op === 'popMany') {
              const popped = await queue.popMany(step.max);
              tokens.push(...popped.map((p) => p.token));
              log.push(popped.map((p) => ({ channel: p.channel, entry: p.entry })));
            } else if (step.op === 'complete' || step.op === 'putBack') {
              if (tokens.length === 0) continue;
              const [token] = tokens.splice(step.at % tokens.length, 1);
              if (step.op === 'complete') await queue.complete(token!);
              else await queue.putBack(token!, new Date(time + step.ms));
            } else if (step.op === 'pause') {
              await queue.pause(step.channel, new Date(time + step.ms));
            } else {
              log.push(await queue.size(step.channel ?? undefined));
            }
          }
          pushed++;
        }
        expect(seen[1]).toEqual(seen[0]);
      }),
      { numRuns: 100 },
    );
  });

  describe('two instances on one prefix (two Herald processes)', () => {
    const second = connect();
    afterAll(async () => {
      await second.quit();
    });
    const pair = (options: { leaseMs?: number } = {}): [RedisQueue, RedisQueue] => [
      new RedisQueue({ redis, prefix, now: clock, ...options }),
      new RedisQueue({ redis: second, prefix, now: clock, ...options }),
    ];

    it('share in-flight counts: a token popped by one is completed by the other', async () => {
      const [one, two] = pair();
      for (const id of ['a1', 'a2', 'a3']) await one.push('a', 0, { id }, 'bulk');
      await two.push('b', 0, { id: 'b1' }, 'bulk');
      await two.push('b', 0, { id: 'b2' }, 'bulk');
      const a1 = await one.pop();
      const b1 = await two.pop();
      const a2 = await one.pop();
      expect([a1?.entry.id, b1?.entry.id, a2?.entry.id]).toEqual(['a1', 'b1', 'a2']);
      // a: 2 in flight, b: 1, so either process serves b next ...
      expect((await two.pop())?.entry.id).toBe('b2');
      // ... until the other process completes a's tokens: a 0, b 2.
      await two.complete(a1!.token);
      await two.complete(a2!.token);
      expect((await one.pop())?.entry.id).toBe('a3');
    });

    it('share the TPS budget of each second', async () => {
      const [one, two] = pair();
      for (const id of ['c1', 'c2', 'c3']) await one.push('c', 2, { id }, 'high');
      expect((await one.pop())?.entry.id).toBe('c1');
      expect((await two.pop())?.entry.id).toBe('c2');
      expect(await one.pop()).toBeNull();
      expect(await two.pop()).toBeNull();
      now += 1_000 - (now % 1_000);
      expect((await two.pop())?.entry.id).toBe('c3');
    });

    it('share the TPS budget when their clocks disagree: a clock behind spends the later second', async () => {
      const base = 1_000_000;
      const ahead = new RedisQueue({ redis, prefix, now: () => base + 1_000 });
      const behind = new RedisQueue({ redis: second, prefix, now: () => base + 900 });
      for (let i = 1; i <= 10; i++) await ahead.push('s', 2, { id: `s${i}` }, 'high');
      const granted: string[] = [];
      for (let i = 0; i < 10; i++) {
        for (const queue of [ahead, behind]) {
          const popped = await queue.pop();
          if (popped) {
            granted.push(popped.entry.id);
            await queue.complete(popped.token);
          }
        }
      }
      expect(granted).toEqual(['s1', 's2']);
    });

    it('do not honour a TPS second far ahead of their clock (a clock stepped back, or far off)', async () => {
      const base = 1_000_000;
      const farAhead = new RedisQueue({ redis, prefix, now: () => base + 3_600_000 });
      const right = new RedisQueue({ redis: second, prefix, now: () => base });
      for (let i = 1; i <= 6; i++) await right.push('f', 2, { id: `f${i}` }, 'high');
      for (let i = 0; i < 2; i++) await farAhead.complete((await farAhead.pop())!.token);
      expect(await farAhead.pop()).toBeNull();
      // More than TPS_MAX_SKEW_SECONDS apart: once the channel is looked at again by the right
      // clock (here a push), its second starts afresh. (Until then it stays parked until the
      // next second of the clock that parked it: keep clocks synchronised.)
      await right.push('f', 2, { id: 'f7' }, 'high');
      const popped = [await right.pop(), await right.pop(), await right.pop()];
      expect(popped.map((p) => p?.entry.id ?? null)).toEqual(['f3', 'f4', null]);
    });

    it('share leases: one releases what the other popped and never finished', async () => {
      const [one, two] = pair({ leaseMs: 60_000 });
      await one.push('a', 0, { id: 'a1' }, 'high');
      const lost = await one.pop();
      expect(await two.pop()).toBeNull();
      now += 60_000;
      const again = await two.pop();
      expect(again?.entry.id).toBe('a1');
      await one.complete(lost!.token);
      await one.putBack(lost!.token, new Date(now + 60_000));
      expect(await two.size()).toBe(0);
      await one.complete(again!.token);
      await two.push('a', 0, { id: 'a2' }, 'high');
      expect((await one.pop())?.entry.id).toBe('a2');
    });

    it('share pauses and sent markers', async () => {
      const [one, two] = pair();
      await one.push('a', 0, { id: 'a1' }, 'high');
      await two.pause('a', new Date(now + 1_000));
      expect(await one.pop()).toBeNull();
      now += 1_000;
      expect((await one.pop())?.entry.id).toBe('a1');
      await one.markSent('a1', 5_000);
      expect(await two.wasSent('a1')).toBe(true);
    });
  });
});
