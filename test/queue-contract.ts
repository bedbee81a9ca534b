import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Priority } from '../src/msg.js';
import { TPS_GUARD_MS, type Queue, type QueueEntry } from '../src/queue.js';

/** The clock handed to a queue under test: it reads time only through `now`. */
export interface QueueClock {
  now: () => number;
}

/** A clock the tests move by hand. It starts on a second boundary, so TPS seconds are predictable. */
interface ManualClock extends QueueClock {
  advance(ms: number): void;
}

const START = Date.UTC(2025, 0, 6, 9, 0, 0);

function manualClock(): ManualClock {
  let now = START;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

/**
 * The semantics every `Queue` shares (DESIGN.md §3). Each test gets a fresh clock and queue;
 * `cleanup` runs after each test, once the queue has been cleared.
 *
 * What the suite assumes of an implementation beyond the interface: its compound delay is between
 * 1 s and 10 s, and its lease is between 30 s and 1 h.
 *
 * @example
 * queueContract('MemoryQueue', (clock) => new MemoryQueue({ now: clock.now }));
 */
export function queueContract(
  name: string,
  makeQueue: (clock: QueueClock) => Promise<Queue> | Queue,
  cleanup?: () => Promise<void>,
): void {
  describe(`Queue contract: ${name}`, () => {
    let clock: ManualClock;
    let queue: Queue;
    /** The token of each entry's latest pop, by entry id. */
    let tokens: Map<string, string>;

    beforeEach(async () => {
      clock = manualClock();
      queue = await makeQueue({ now: clock.now });
      await queue.clear();
      tokens = new Map();
    });

    afterEach(async () => {
      await queue.clear();
      await cleanup?.();
    });

    const inMs = (ms: number): Date => new Date(clock.now() + ms);

    /** Pushes one entry per id, each as its own item. */
    async function push(channel: string, ids: string[], options: { tps?: number; priority?: Priority; cost?: number } = {}): Promise<void> {
      for (const id of ids) {
        const entry: QueueEntry = options.cost === undefined ? { id } : { id, cost: options.cost };
        await queue.push(channel, options.tps ?? 0, entry, options.priority ?? 'bulk');
      }
    }

    /** Pops one entry and keeps its token in flight; returns its id, or null when nothing is sendable. */
    async function next(): Promise<string | null> {
      const popped = await queue.pop();
      if (popped === null) return null;
      tokens.set(popped.entry.id, popped.token);
      return popped.entry.id;
    }

    /** Pops one entry and completes it at once. */
    async function nextDone(): Promise<string | null> {
      const id = await next();
      if (id !== null) await queue.complete(tokenOf(id));
      return id;
    }

    /** Pops until nothing is sendable, completing each entry unless `hold` is set. */
    async function drain(options: { hold?: boolean } = {}): Promise<string[]> {
      const ids: string[] = [];
      for (let id = await next(); id !== null; id = await next()) {
        ids.push(id);
        if (!options.hold) await queue.complete(tokenOf(id));
      }
      return ids;
    }

    function tokenOf(id: string): string {
      const token = tokens.get(id);
      if (token === undefined) throw new Error(`${id} was never popped`);
      return token;
    }

    const ids = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

    describe('lanes', () => {
      it('pops what was pushed: channel, id and cost', async () => {
        await queue.push('a', 0, { id: 'a1', cost: 3 }, 'high');
        const popped = await queue.pop();
        expect(popped).toMatchObject({ channel: 'a', entry: { id: 'a1', cost: 3 } });
        expect(typeof popped?.token).toBe('string');
        expect(await queue.pop()).toBeNull();
      });

      it('is FIFO within a lane', async () => {
        await push('a', ids('a', 20), { priority: 'high' });
        expect(await drain()).toEqual(ids('a', 20));
        await push('a', ids('b', 20), { priority: 'bulk' });
        expect(await drain()).toEqual(ids('b', 20));
      });

      it('drains high before bulk within a channel', async () => {
        await push('a', ['b1', 'b2'], { priority: 'bulk' });
        await push('a', ['h1', 'h2'], { priority: 'high' });
        expect(await nextDone()).toBe('h1');
        await push('a', ['h3'], { priority: 'high' });
        expect(await drain()).toEqual(['h2', 'h3', 'b1', 'b2']);
      });

      it('ranks lanes within a channel only: fewer in flight beats high priority elsewhere', async () => {
        await push('a', ['a1', 'a2'], { priority: 'high' });
        expect(await next()).toBe('a1');
        await push('b', ['b1'], { priority: 'bulk' });
        expect(await next()).toBe('b1');
        expect(await next()).toBe('a2');
      });

      it('ignores an empty compound push', async () => {
        await queue.push('a', 0, [], 'high');
        expect(await queue.size()).toBe(0);
        expect(await queue.pop()).toBeNull();
      });

      it('rejects a negative tps or a cost that is not positive', async () => {
        await expect(queue.push('a', -1, { id: 'a1' }, 'high')).rejects.toThrow(RangeError);
        await expect(queue.push('a', 1, { id: 'a1', cost: 0 }, 'high')).rejects.toThrow(RangeError);
        await expect(queue.push('a', 1, [{ id: 'a1' }, { id: 'a2', cost: -2 }], 'high')).rejects.toThrow(RangeError);
        expect(await queue.size()).toBe(0);
      });
    });

    describe('fairness', () => {
      it('serves the channel with fewer in flight, so a big bulk channel cannot starve a small one', async () => {
        await push('big', ids('big', 500));
        expect(await next()).toBe('big1');
        expect(await next()).toBe('big2');
        expect(await next()).toBe('big3');
        await push('small', ['s1', 's2']);
        expect(await next()).toBe('s1');
        expect(await next()).toBe('s2');
        expect(await next()).toBe('big4');
      });

      it('keeps serving the small channel while it has fewer in flight, even if served more recently', async () => {
        await push('big', ids('big', 500));
        for (let i = 0; i < 3; i++) await next();
        await push('small', ['s1', 's2', 's3']);
        expect(await nextDone()).toBe('s1');
        expect(await nextDone()).toBe('s2');
        expect(await nextDone()).toBe('s3');
        expect(await next()).toBe('big4');
      });

      it('a channel whose sends complete has fewer in flight at once', async () => {
        await push('a', ids('a', 4));
        expect(await next()).toBe('a1');
        expect(await next()).toBe('a2');
        await push('b', ids('b', 3));
        expect(await next()).toBe('b1');
        await queue.complete(tokenOf('a1'));
        await queue.complete(tokenOf('a2'));
        // a: 0 in flight, b: 1.
        expect(await next()).toBe('a3');
      });

      it('alternates between channels with equal in flight', async () => {
        await push('big', ids('big', 100));
        await push('small', ['s1', 's2', 's3']);
        const served: (string | null)[] = [];
        for (let i = 0; i < 6; i++) served.push(await nextDone());
        expect(served.filter((id) => id?.startsWith('s'))).toEqual(['s1', 's2', 's3']);
        expect(served.filter((id) => id?.startsWith('big'))).toEqual(['big1', 'big2', 'big3']);
      });

      it('breaks ties round-robin: the channel served least recently goes next', async () => {
        for (const channel of ['a', 'b', 'c']) await push(channel, ids(channel, 4));
        const served: string[] = [];
        for (let i = 0; i < 12; i++) served.push((await nextDone())!);
        for (let i = 0; i + 3 <= served.length; i++) {
          expect(new Set(served.slice(i, i + 3).map((id) => id[0])).size).toBe(3);
        }
        expect(served.filter((id) => id.startsWith('a'))).toEqual(ids('a', 4));
      });

      it('round-robin follows the last pop, not the order channels were first seen', async () => {
        await push('a', ids('a', 3));
        await push('b', ids('b', 3));
        const first = (await nextDone())!;
        const other = first.startsWith('a') ? 'b' : 'a';
        expect((await nextDone())!.startsWith(other)).toBe(true);
        expect((await nextDone())!.startsWith(first[0]!)).toBe(true);
      });

      it('gives each of many channels a turn before any gets a second one', async () => {
        const channels = Array.from({ length: 100 }, (_, i) => `ch${i}`);
        for (const channel of channels) await push(channel, ids(`${channel}-`, 5));
        const served = new Set<string>();
        for (let i = 0; i < channels.length; i++) served.add((await next())!.split('-')[0]!);
        expect(served.size).toBe(channels.length);
      });
    });

    describe('tps', () => {
      it('never pops more than tps per second, and the next second refills', async () => {
        await push('a', ids('a', 5), { tps: 2 });
        expect(await drain({ hold: true })).toEqual(['a1', 'a2']);
        clock.advance(999);
        expect(await next()).toBeNull();
        clock.advance(1);
        expect(await drain()).toEqual(['a3', 'a4']);
        clock.advance(1000);
        expect(await drain()).toEqual(['a5']);
      });

      it('counts wall-clock seconds, not a sliding window', async () => {
        clock.advance(900);
        await push('a', ids('a', 4), { tps: 2 });
        expect(await drain()).toEqual(['a1', 'a2']);
        clock.advance(100);
        expect(await drain()).toEqual(['a3', 'a4']);
      });

      it('completing does not refill the budget', async () => {
        await push('a', ids('a', 3), { tps: 2 });
        expect(await drain()).toEqual(['a1', 'a2']);
        expect(await next()).toBeNull();
      });

      it('rate-limits each channel on its own', async () => {
        await push('a', ids('a', 3), { tps: 1 });
        await push('b', ids('b', 3), { tps: 2 });
        expect((await drain()).sort()).toEqual(['a1', 'b1', 'b2']);
      });

      it('spends the cost of each entry, and a head that does not fit blocks its lane', async () => {
        await queue.push('a', 3, { id: 'a1', cost: 2 }, 'bulk');
        await queue.push('a', 3, { id: 'a2', cost: 2 }, 'bulk');
        await queue.push('a', 3, { id: 'a3', cost: 1 }, 'bulk');
        await queue.push('a', 3, { id: 'a4', cost: 1 }, 'bulk');
        expect(await drain()).toEqual(['a1']);
        clock.advance(1000);
        expect(await drain()).toEqual(['a2', 'a3']);
        clock.advance(1000);
        expect(await drain()).toEqual(['a4']);
      });

      it('sends an entry costing more than tps alone in its second', async () => {
        await queue.push('a', 2, { id: 'a1' }, 'high');
        await queue.push('a', 2, { id: 'big', cost: 5 }, 'high');
        await queue.push('a', 2, { id: 'a2' }, 'high');
        expect(await drain()).toEqual(['a1']);
        clock.advance(1000);
        expect(await drain()).toEqual(['big']);
        clock.advance(1000);
        expect(await drain()).toEqual(['a2']);
      });

      it('uses the tps of the latest push', async () => {
        await push('a', ids('a', 3), { tps: 1 });
        expect(await drain()).toEqual(['a1']);
        await push('a', ['a4'], { tps: 3 });
        expect(await drain()).toEqual(['a2', 'a3']);
        clock.advance(1_000);
        await push('a', ['a5'], { tps: 0 });
        expect(await drain()).toEqual(['a4', 'a5']);
      });

      it('pops nothing of a rate-limited channel in the last TPS_GUARD_MS of a second', async () => {
        await push('a', ids('a', 3), { tps: 5 });
        await push('b', ids('b', 2), { tps: 0 });
        clock.advance(1_000 - TPS_GUARD_MS);
        expect(await drain()).toEqual(['b1', 'b2']);
        clock.advance(TPS_GUARD_MS - 1);
        expect(await next()).toBeNull();
        clock.advance(1);
        expect(await drain()).toEqual(['a1', 'a2', 'a3']);
      });

      it('treats tps 0 as unlimited', async () => {
        await push('a', ids('a', 200), { tps: 0, cost: 4 });
        expect(await drain({ hold: true })).toHaveLength(200);
      });

      it('holds the limit under a mixed load of channels, lanes and costs', async () => {
        const limits: Record<string, number> = { a: 1, b: 2, c: 5 };
        const costOf = new Map<string, number>();
        let seed = 42;
        const random = (n: number): number => {
          seed = (seed * 48_271) % 2_147_483_647;
          return seed % n;
        };
        for (const [channel, tps] of Object.entries(limits)) {
          for (let i = 1; i <= 30; i++) {
            const id = `${channel}${i}`;
            const cost = 1 + random(4);
            costOf.set(id, cost);
            await queue.push(channel, tps, { id, cost }, random(3) === 0 ? 'high' : 'bulk');
          }
        }

        const spentBySecond = new Map<string, { cost: number; pops: number }>();
        const popped: string[] = [];
        for (let step = 0; step < 2_000 && popped.length < costOf.size; step++) {
          clock.advance(random(400));
          for (let p = await queue.pop(); p !== null; p = await queue.pop()) {
            popped.push(p.entry.id);
            if (random(2) === 0) await queue.complete(p.token);
            const key = `${p.channel}@${Math.floor(clock.now() / 1000)}`;
            const spent = spentBySecond.get(key) ?? { cost: 0, pops: 0 };
            spent.cost += costOf.get(p.entry.id)!;
            spent.pops += 1;
            spentBySecond.set(key, spent);
          }
        }

        expect(popped.sort()).toEqual([...costOf.keys()].sort());
        for (const [key, spent] of spentBySecond) {
          const tps = limits[key.split('@')[0]!]!;
          if (spent.cost > tps) expect({ key, pops: spent.pops }).toEqual({ key, pops: 1 });
        }
      });
    });

    describe('popMany', () => {
      it('takes up to its count, each entry as that many pops in a row would take it', async () => {
        await push('a', ids('a', 5), { tps: 2 });
        await push('b', ['b1', 'b2'], { priority: 'high' });
        await queue.push('c', 0, [{ id: 'c1' }, { id: 'c2' }], 'bulk');

        // Fewest in flight first, ties to the channel served least recently; a spends its budget
        // of 2 and c's second entry waits out the compound delay: 5 of the 10 asked for.
        const popped = await queue.popMany(10);
        expect(popped.map((p) => p.entry.id)).toEqual(['a1', 'b1', 'c1', 'a2', 'b2']);
        expect(new Set(popped.map((p) => p.token)).size).toBe(5);
        expect(await queue.popMany(10)).toEqual([]);

        clock.advance(1_000);
        expect((await queue.popMany(1)).map((p) => p.entry.id)).toEqual(['a3']);
        expect((await queue.popMany(10)).map((p) => p.entry.id)).toEqual(['a4']);
      });

      it('its tokens are in flight and finish one by one', async () => {
        await push('a', ['a1', 'a2']);
        await push('b', ['b1']);
        const popped = await queue.popMany(2);
        expect(popped.map((p) => [p.channel, p.entry.id])).toEqual([['a', 'a1'], ['b', 'b1']]);
        // a has 1 in flight, b none once b1 completes: b is served first again.
        await push('b', ['b2']);
        await queue.complete(popped[1]!.token);
        expect(await next()).toBe('b2');
        expect(await next()).toBe('a2');
        await queue.complete(popped[0]!.token);
        expect(await queue.size()).toBe(0);
      });
    });

    describe('scheduling', () => {
      it('keeps a scheduled entry invisible until it is due', async () => {
        await queue.push('a', 0, { id: 'a1' }, 'high', inMs(5_000));
        expect(await queue.size('a')).toBe(1);
        expect(await next()).toBeNull();
        clock.advance(4_999);
        expect(await next()).toBeNull();
        clock.advance(1);
        expect(await next()).toBe('a1');
      });

      it('treats a notBefore in the past as due now', async () => {
        await queue.push('a', 0, { id: 'a1' }, 'high', inMs(-60_000));
        expect(await next()).toBe('a1');
      });

      it('joins its lane when due: after what was pushed before, before what is pushed after', async () => {
        await queue.push('a', 0, { id: 'later' }, 'bulk', inMs(2_000));
        await push('a', ['now']);
        clock.advance(3_000);
        await push('a', ['after']);
        expect(await drain()).toEqual(['now', 'later', 'after']);
      });

      it('makes scheduled entries visible in order of due time', async () => {
        await queue.push('a', 0, { id: 'third' }, 'bulk', inMs(3_000));
        await queue.push('a', 0, { id: 'first' }, 'bulk', inMs(1_000));
        await queue.push('a', 0, { id: 'second' }, 'bulk', inMs(2_000));
        clock.advance(5_000);
        expect(await drain()).toEqual(['first', 'second', 'third']);
      });

      it('a scheduled high entry drains before bulk once due', async () => {
        await push('a', ['b1', 'b2']);
        await queue.push('a', 0, { id: 'h1' }, 'high', inMs(1_000));
        expect(await nextDone()).toBe('b1');
        clock.advance(1_000);
        expect(await drain()).toEqual(['h1', 'b2']);
      });

      it('a scheduled high entry that falls due goes ahead of a bulk head the budget cannot afford', async () => {
        await queue.push('a', 3, { id: 'b1', cost: 2 }, 'bulk');
        await queue.push('a', 3, { id: 'b2', cost: 3 }, 'bulk');
        await queue.push('a', 3, { id: 'h1', cost: 1 }, 'high', inMs(500));
        expect(await nextDone()).toBe('b1');
        expect(await next()).toBeNull();
        clock.advance(500);
        expect(await drain()).toEqual(['h1']);
        clock.advance(500);
        expect(await drain()).toEqual(['b2']);
      });

      it('a scheduled high entry that falls due blocks bulk even when this second cannot afford it', async () => {
        await push('a', ['b1', 'b2'], { tps: 3 });
        await queue.push('a', 3, { id: 'h1', cost: 3 }, 'high', inMs(500));
        expect(await nextDone()).toBe('b1');
        clock.advance(500);
        expect(await next()).toBeNull();
        clock.advance(500);
        expect(await drain()).toEqual(['h1']);
        clock.advance(1_000);
        expect(await drain()).toEqual(['b2']);
      });
    });

    describe('compound items', () => {
      it('pops the first entry and delays the rest, in order', async () => {
        await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }], 'high');
        expect(await nextDone()).toBe('c1');
        expect(await queue.size('a')).toBe(2);
        clock.advance(999);
        expect(await next()).toBeNull();
        clock.advance(9_001);
        expect(await nextDone()).toBe('c2');
        expect(await next()).toBeNull();
        clock.advance(10_000);
        expect(await nextDone()).toBe('c3');
        expect(await queue.size('a')).toBe(0);
      });

      it('does not hold up other entries of its lane while the rest waits', async () => {
        await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }], 'bulk');
        await push('a', ['s1']);
        expect(await drain()).toEqual(['c1', 's1']);
        clock.advance(10_000);
        expect(await drain()).toEqual(['c2']);
      });

      it('keeps the rest in its lane', async () => {
        await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }], 'bulk');
        expect(await nextDone()).toBe('c1');
        clock.advance(10_000);
        await push('a', ['h1'], { priority: 'high' });
        expect(await drain()).toEqual(['h1', 'c2']);
      });

      it('schedules the whole item when pushed with notBefore', async () => {
        await queue.push('a', 0, [{ id: 'c1' }, { id: 'c2' }], 'high', inMs(60_000));
        clock.advance(59_999);
        expect(await next()).toBeNull();
        clock.advance(1);
        expect(await drain()).toEqual(['c1']);
        clock.advance(10_000);
        expect(await drain()).toEqual(['c2']);
      });
    });

    describe('putBack and pause', () => {
      it('putBack returns the entry to the head of its lane and pauses the channel', async () => {
        await push('a', ['a1', 'a2', 'a3'], { priority: 'high' });
        expect(await next()).toBe('a1');
        await queue.putBack(tokenOf('a1'), inMs(2_000));
        expect(await queue.size('a')).toBe(3);
        expect(await next()).toBeNull();
        await push('b', ['b1']);
        expect(await drain()).toEqual(['b1']);
        clock.advance(1_999);
        expect(await next()).toBeNull();
        clock.advance(1);
        expect(await drain()).toEqual(['a1', 'a2', 'a3']);
      });

      it('putBack keeps order when several entries come back', async () => {
        await push('a', ['a1', 'a2', 'a3', 'a4']);
        expect(await drain({ hold: true })).toEqual(['a1', 'a2', 'a3', 'a4']);
        await queue.complete(tokenOf('a1'));
        await queue.putBack(tokenOf('a3'), inMs(1_000));
        await queue.putBack(tokenOf('a2'), inMs(1_000));
        clock.advance(1_000);
        expect(await drain()).toEqual(['a2', 'a3']);
      });

      it('putBack finishes the token: in flight drops, and a later complete changes nothing', async () => {
        await push('b', ['b1', 'b2', 'b3']);
        expect(await next()).toBe('b1');
        await push('a', ['a1', 'a2', 'a3']);
        expect(await next()).toBe('a1');
        expect(await next()).toBe('b2');
        expect(await next()).toBe('a2');
        await queue.complete(tokenOf('b1'));
        // a: 2 in flight, served last; b: 1 in flight.
        await queue.putBack(tokenOf('a2'), inMs(0));
        await queue.complete(tokenOf('a2'));
        // a: 1 in flight, served last; b: 1 in flight, so b goes first.
        expect(await next()).toBe('b3');
        expect(await next()).toBe('a2');
      });

      it('putBack of a finished token neither requeues nor pauses', async () => {
        await push('a', ['a1', 'a2']);
        expect(await nextDone()).toBe('a1');
        await queue.putBack(tokenOf('a1'), inMs(60_000));
        expect(await queue.size('a')).toBe(1);
        expect(await drain()).toEqual(['a2']);
      });

      it('pause holds a channel until the given time, while others are served', async () => {
        await push('a', ['a1', 'a2']);
        await push('b', ['b1']);
        await queue.pause('a', inMs(1_500));
        expect(await drain()).toEqual(['b1']);
        expect(await queue.size('a')).toBe(2);
        clock.advance(1_500);
        expect(await drain()).toEqual(['a1', 'a2']);
      });

      it('pause applies to a channel that has nothing queued yet', async () => {
        await queue.pause('a', inMs(1_000));
        await push('a', ['a1']);
        expect(await next()).toBeNull();
        clock.advance(1_000);
        expect(await next()).toBe('a1');
      });

      it('a shorter pause does not cut a longer one short', async () => {
        await push('a', ['a1']);
        await queue.pause('a', inMs(5_000));
        await queue.pause('a', inMs(1_000));
        clock.advance(1_000);
        expect(await next()).toBeNull();
        clock.advance(4_000);
        expect(await next()).toBe('a1');
      });
    });

    describe('size and clear', () => {
      it('counts waiting entries per channel and in total, due or not, not in flight', async () => {
        await push('a', ['a1', 'a2'], { priority: 'high' });
        await queue.push('a', 0, { id: 'a3' }, 'bulk', inMs(60_000));
        await queue.push('b', 0, [{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }], 'bulk');
        expect(await queue.size('a')).toBe(3);
        expect(await queue.size('b')).toBe(3);
        expect(await queue.size('nobody')).toBe(0);
        expect(await queue.size()).toBe(6);

        expect(await drain({ hold: true })).toHaveLength(3);
        expect(await queue.size('a')).toBe(1);
        expect(await queue.size('b')).toBe(2);
        expect(await queue.size()).toBe(3);
      });

      it('clear drops entries, schedules, pauses and in-flight bookkeeping', async () => {
        await push('a', ids('a', 5));
        await queue.push('a', 0, { id: 'later' }, 'bulk', inMs(1_000));
        await queue.pause('b', inMs(60_000));
        expect(await next()).toBe('a1');
        expect(await next()).toBe('a2');
        await queue.clear();

        expect(await queue.size()).toBe(0);
        expect(await next()).toBeNull();
        clock.advance(2_000);
        expect(await next()).toBeNull();
        await queue.complete(tokenOf('a1'));
        await queue.putBack(tokenOf('a2'), inMs(60_000));
        expect(await queue.size()).toBe(0);

        await push('a', ['x1', 'x2']);
        await push('b', ['y1', 'y2']);
        const firstTwo = [await next(), await next()].map((id) => id![0]).sort();
        expect(firstTwo).toEqual(['x', 'y']);
      });
    });

    describe('sent markers', () => {
      it('a marker is visible until its TTL passes by the queue\'s clock', async () => {
        await queue.markSent('m1', 10_000);
        expect(await queue.wasSent('m1')).toBe(true);
        clock.advance(9_999);
        expect(await queue.wasSent('m1')).toBe(true);
        clock.advance(1);
        expect(await queue.wasSent('m1')).toBe(false);
      });

      it('an id never marked was not sent, and markers are per id', async () => {
        expect(await queue.wasSent('unknown')).toBe(false);
        await queue.markSent('m1', 10_000);
        expect(await queue.wasSent('m2')).toBe(false);
      });

      it('marking again restarts the TTL', async () => {
        await queue.markSent('m1', 1_000);
        clock.advance(800);
        await queue.markSent('m1', 1_000);
        clock.advance(800);
        expect(await queue.wasSent('m1')).toBe(true);
        clock.advance(200);
        expect(await queue.wasSent('m1')).toBe(false);
      });

      it('clear drops markers', async () => {
        await queue.markSent('m1', 60_000);
        await queue.clear();
        expect(await queue.wasSent('m1')).toBe(false);
      });
    });

    describe('remembered provider ids', () => {
      it('finds the message of each provider id, per channel, until the TTL passes', async () => {
        await queue.rememberExternalIds('a', ['SM1', 'SM2'], 'm1', 10_000);
        await queue.rememberExternalIds('b', ['SM1'], 'm2', 10_000);
        expect(await queue.findExternalIds('a', ['SM2', 'SM1', 'SM3'])).toEqual(['m1', 'm1', null]);
        expect(await queue.findExternalIds('b', ['SM1', 'SM2'])).toEqual(['m2', null]);
        clock.advance(10_000);
        expect(await queue.findExternalIds('a', ['SM1'])).toEqual([null]);
      });

      it('answers an empty list for no ids, and clear forgets them', async () => {
        expect(await queue.findExternalIds('a', [])).toEqual([]);
        await queue.rememberExternalIds('a', ['SM1'], 'm1', 60_000);
        await queue.clear();
        expect(await queue.findExternalIds('a', ['SM1'])).toEqual([null]);
      });
    });

    describe('finishing tokens', () => {
      it('completing an unknown token changes nothing', async () => {
        await push('a', ['a1']);
        await queue.complete('no-such-token');
        await queue.putBack('no-such-token', inMs(60_000));
        expect(await drain()).toEqual(['a1']);
      });

      it('completes each token once: a second complete does not corrupt fairness', async () => {
        await push('a', ['a1', 'a2', 'a3']);
        expect(await next()).toBe('a1');
        await push('b', ['b1', 'b2', 'b3']);
        expect(await next()).toBe('b1');
        expect(await next()).toBe('a2');
        expect(await next()).toBe('b2');
        // a and b: 2 in flight each; b served last.
        await queue.complete(tokenOf('a1'));
        await queue.complete(tokenOf('b1'));
        await queue.complete(tokenOf('b1'));
        // a and b: 1 in flight each, so a (served less recently) goes first.
        expect(await next()).toBe('a3');
        expect(await next()).toBe('b3');
      });

      it('releases a token whose lease expires: the entry returns to the head of its lane', async () => {
        await push('a', ['a1', 'a2'], { priority: 'high' });
        expect(await next()).toBe('a1');
        const expired = tokenOf('a1');
        clock.advance(30_000);
        expect(await queue.size('a')).toBe(1);
        clock.advance(3_600_000);
        expect(await queue.size('a')).toBe(2);
        expect(await next()).toBe('a1');
        expect(tokenOf('a1')).not.toBe(expired);
        expect(await next()).toBe('a2');
      });

      it('releases tokens that expire together in their original order', async () => {
        await push('a', ['a1', 'a2', 'a3', 'a4']);
        expect(await drain({ hold: true })).toEqual(['a1', 'a2', 'a3', 'a4']);
        await queue.complete(tokenOf('a4'));
        clock.advance(3_600_000);
        expect(await drain()).toEqual(['a1', 'a2', 'a3']);
      });

      it('a lease ends by the clock: a complete arriving after expiry is too late', async () => {
        await push('a', ['a1']);
        expect(await next()).toBe('a1');
        clock.advance(3_600_000);
        await queue.complete(tokenOf('a1'));
        expect(await queue.size('a')).toBe(1);
        expect(await next()).toBe('a1');
      });

      it('an expired token is finished: completing or putting it back later changes nothing', async () => {
        await push('a', ['a1', 'a2', 'a3']);
        expect(await next()).toBe('a1');
        const expired = tokenOf('a1');
        clock.advance(3_600_000);
        await push('b', ['b1', 'b2']);
        expect(await next()).toBe('b1');
        expect(await next()).toBe('a1');
        // a and b: 1 in flight each; b served less recently.
        await queue.complete(expired);
        await queue.putBack(expired, inMs(60_000));
        expect(await queue.size('a')).toBe(2);
        expect(await next()).toBe('b2');
        expect(await next()).toBe('a2');
      });
    });
  });
}
