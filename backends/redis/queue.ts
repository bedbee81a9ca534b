/**
 * The Redis `Queue`: used in production, where several Herald processes share one Redis and so
 * share fairness, TPS budgets and leases. It has the same semantics as the in-process queue
 * (backends/memory/queue.ts, whose opening comment explains them) and is checked by the same
 * contract suite (`test/queue-contract.ts`).
 *
 * Data layout: every key starts with `<prefix>q:` (Herald passes `HERALD_REDIS_PREFIX` + ':').
 * - `ch:<channel>` hash, one per channel ever seen: `first` (sequence when first seen), `last`
 *   (sequence when last served; 0 = never), `inflight`, `waiting` (entries in its lanes and
 *   schedule, counting every part of a compound item), `high`, `bulk` and `scheduled` (items in
 *   each lane and in the schedule), `paused` (pause end, ms), `tps` (of the latest push), `second`
 *   and `spent` (the TPS cost spent in that wall-clock second), `placed` (0 = in neither set
 *   below, 1 = in `ready`, 2 = in `parked`). A script reads a channel's hash once and writes it
 *   back once; the item counts let it decide without looking at the lists.
 * - `high:<channel>`, `bulk:<channel>` lists: the lanes, head on the left. An element is an item:
 *   one entry, or what is left of a compound push, as lines of `<cost> <entry json>`; its first
 *   line pops next.
 * - `sched:<channel>` sorted set: scheduled items, scored by due time; the member is a 16-digit
 *   sequence, the lane and the item, so equal due times keep push order.
 * - `ready` sorted set: the channels that could be served now, scored by in-flight count; the
 *   member is the 16-digit last-served sequence, the 16-digit first-seen sequence and the
 *   channel, so ties go to the least recently served. Its first member is the next pop.
 * - `parked` sorted set: channels with entries waiting that cannot be served yet, scored by when
 *   that could change (pause end, next due time, next second).
 * - `leases` sorted set: unfinished tokens scored by lease expiry; `tokens` hash: token →
 *   lane, entry line and channel. A token is the 16-digit sequence of its pop, so leases that
 *   expire in the same millisecond sort in pop order.
 * - `seq`: the one counter behind every sequence above (see below). `total`: entries waiting in
 *   all channels.
 * - `sent:<id>`: a sent marker (see `markSent`).
 * - `ext:<channel>:<external id>`: the message a provider id was remembered for (see
 *   `rememberExternalIds`), as `<expiry ms> <message id>`.
 *
 * How a pop works (pop.lua, one EVALSHA): release expired leases (their entries go back to the
 * head of their lanes, earliest popped first); re-place the parked channels whose wake time has
 * passed; then take the first ready channel, check it can really be served now (a scheduled high
 * entry may have fallen due that this second's budget cannot afford; if not, re-place it and take
 * the next), pop its head from `high`, else `bulk`, reschedule the rest of a compound item
 * `compoundDelayMs` later, spend its cost, count it in flight, record its lease, and re-place the
 * channel. `popMany` repeats everything after the re-placing of parked channels (the choice of
 * channel included) up to its count in the same script, so its entries are the ones that many
 * pops in a row would return. Every other operation also starts by releasing expired leases and
 * re-places the channels it changes, exactly as the memory queue does with its heaps.
 *
 * Trade-offs
 * - One round trip and O(log channels) Redis commands per operation, plus the work that is due
 *   anyway (expired leases, scheduled items falling due, channels waking): nothing scans all
 *   channels or all entries. A plain pop runs about 12 commands inside its script, a push 5, a
 *   complete 7; the script's cost is mostly those calls, so the bookkeeping is denormalised (item
 *   counts, the `placed` flag) to keep them few. Redis runs scripts one at a time, so every
 *   process's pops are serialised on the server; that is what makes fairness, TPS and leases
 *   global, and it caps a Redis at the rate one core can run pop.lua (bench/redis-queue.ts).
 * - The scripts build per-channel keys from the prefix: which channel a pop serves, or which
 *   channel an expired lease returns to, is only known inside the script. Only the queue-wide keys
 *   are passed in KEYS. This is fine on one Redis (or a primary with replicas) but not on Redis
 *   Cluster, which would need every key in one hash slot.
 * - Time is the caller's `now`, passed to every script; nothing reads Redis's TIME, so tests
 *   drive the clock. With several processes, clock skew between them shifts TPS seconds, pause
 *   ends and lease expiry by that skew: keep their clocks synchronised.
 * - Redis may lose its data (no persistence, failover). The database rows are the source of
 *   truth: the reconciler re-pushes `queued` rows, and tokens lost with the data finish nothing.
 *   A fresh `seq` starts from the clock (ms × 1000), and `clear` keeps it, so a token issued
 *   before a data loss or a clear is not issued again.
 * - Channel hashes stay after a channel empties (its TPS spend, round-robin position and pause
 *   must survive emptying and refilling): memory grows with the channels ever seen.
 * - `clear` finds the prefix's keys with SCAN inside its script: O(keys in the database), meant
 *   for tests and operators, never a hot path. It touches only keys under `<prefix>q:`.
 *
 * Connection failures reject the operation's promise after the client's own retry policy. Pass a
 * client built with `maxRetriesPerRequest: 1` (ioredis's default of 20 waits through 20 reconnect
 * attempts; `null` waits forever) and, to bound a server that accepts but does not answer,
 * `commandTimeout`. The client must not have a `keyPrefix`: the scripts build keys themselves.
 */
import type { Redis } from 'ioredis';
import type { Priority } from '../../src/msg.js';
import { checkedPush, type Popped, type Queue, type QueueEntry } from '../../src/queue.js';
import { defineQueueScripts, QUEUE_KEYS, type QueueOperation, type RunScript } from './scripts.js';

export interface RedisQueueOptions {
  /** The client; see the class comment for the options it should have. */
  redis: Redis;
  /** Prepended to every key; default `herald:`. Queue keys live under `<prefix>q:`. */
  prefix?: string;
  /** Millisecond clock; default `Date.now`. */
  now?: () => number;
  /** How long the rest of a compound item waits after each of its pops; default 3 s. */
  compoundDelayMs?: number;
  /** How long a popped token may stay unfinished before it is released back; default 5 min. */
  leaseMs?: number;
}

/** How long a sent marker's key outlives its expiry time before Redis deletes it. */
const MARKER_GRACE_MS = 60_000;

/**
 * A fair, rate-limited queue in Redis, shared by every process using the same prefix.
 *
 * @example
 * const redis = new Redis(process.env.HERALD_REDIS_URL!, { maxRetriesPerRequest: 1 });
 * const queue = new RedisQueue({ redis, prefix: 'herald:' });
 * await queue.push(channelUuid, 10, { id: msgUuid, cost: 2 }, 'high');
 * const popped = await queue.pop(); // { token, channel, entry } or null
 * if (popped) await queue.complete(popped.token);
 */
export class RedisQueue implements Queue {
  private readonly redis: Redis;
  private readonly namespace: string;
  private readonly keys: string[];
  private readonly run: RunScript;
  private readonly now: () => number;
  private readonly compoundDelayMs: number;
  private readonly leaseMs: number;

  constructor(options: RedisQueueOptions) {
    if (options.redis.options.keyPrefix) {
      throw new Error(`RedisQueue: the Redis client has keyPrefix "${options.redis.options.keyPrefix}"; pass it as the prefix option instead`);
    }
    this.redis = options.redis;
    this.namespace = `${options.prefix ?? 'herald:'}q:`;
    this.keys = QUEUE_KEYS.map((key) => this.namespace + key);
    this.run = defineQueueScripts(options.redis);
    this.now = options.now ?? Date.now;
    this.compoundDelayMs = options.compoundDelayMs ?? 3_000;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
  }

  async push(channel: string, tps: number, item: QueueEntry | QueueEntry[], priority: Priority, notBefore?: Date): Promise<void> {
    const entries = checkedPush(tps, item);
    if (entries.length === 0) return;
    const now = this.now();
    const due = notBefore?.getTime() ?? now;
    const lines = entries.map((entry) => `${entry.cost ?? 1} ${JSON.stringify(entry)}`).join('\n');
    const lane: Priority = priority === 'high' ? 'high' : 'bulk';
    await this.script('push', now, [channel, tps, lane, due > now ? due : now, entries.length, lines]);
  }

  async pop(): Promise<Popped | null> {
    return (await this.popMany(1))[0] ?? null;
  }

  async popMany(max: number): Promise<Popped[]> {
    const flat = (await this.script('pop', this.now(), [this.compoundDelayMs, this.leaseMs, max])) as string[];
    const popped: Popped[] = [];
    for (let i = 0; i < flat.length; i += 3) popped.push({ token: flat[i]!, channel: flat[i + 1]!, entry: JSON.parse(flat[i + 2]!) as QueueEntry });
    return popped;
  }

  async complete(token: string): Promise<void> {
    await this.script('complete', this.now(), [token]);
  }

  async putBack(token: string, until: Date): Promise<void> {
    await this.script('putBack', this.now(), [token, timeOf(until)]);
  }

  async pause(channel: string, until: Date): Promise<void> {
    await this.script('pause', this.now(), [channel, timeOf(until)]);
  }

  async size(channel?: string): Promise<number> {
    return (await this.script('size', this.now(), channel === undefined ? [] : [channel])) as number;
  }

  async clear(): Promise<void> {
    await this.script('clear', this.now(), []);
  }

  /**
   * The marker's value is its expiry time by the queue's clock, which `wasSent` compares with
   * `now` (so a test clock decides); Redis's own TTL, a minute longer, only collects the key.
   */
  async markSent(id: string, ttlMs: number): Promise<void> {
    if (!Number.isFinite(ttlMs)) throw new RangeError(`markSent ${id}: ttlMs must be a finite number, got ${ttlMs}`);
    const expiresAt = this.now() + ttlMs;
    await this.redis.set(this.markerKey(id), String(expiresAt), 'PX', Math.max(1, Math.ceil(ttlMs) + MARKER_GRACE_MS));
  }

  async wasSent(id: string): Promise<boolean> {
    const expiresAt = await this.redis.get(this.markerKey(id));
    return expiresAt !== null && Number(expiresAt) > this.now();
  }

  /** Values carry their expiry by the queue's clock, as markers do; Redis's TTL only collects them. */
  async rememberExternalIds(channel: string, externalIds: readonly string[], id: string, ttlMs: number): Promise<void> {
    if (!Number.isFinite(ttlMs)) throw new RangeError(`rememberExternalIds ${id}: ttlMs must be a finite number, got ${ttlMs}`);
    if (externalIds.length === 0) return;
    const value = `${this.now() + ttlMs} ${id}`;
    const px = Math.max(1, Math.ceil(ttlMs) + MARKER_GRACE_MS);
    const pipeline = this.redis.pipeline();
    for (const externalId of externalIds) pipeline.set(this.externalIdKey(channel, externalId), value, 'PX', px);
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async findExternalIds(channel: string, externalIds: readonly string[]): Promise<Array<string | null>> {
    if (externalIds.length === 0) return [];
    const values = await this.redis.mget(externalIds.map((externalId) => this.externalIdKey(channel, externalId)));
    const now = this.now();
    return values.map((value) => {
      if (value === null) return null;
      const space = value.indexOf(' ');
      return Number(value.slice(0, space)) > now ? value.slice(space + 1) : null;
    });
  }

  private markerKey(id: string): string {
    return `${this.namespace}sent:${id}`;
  }

  private externalIdKey(channel: string, externalId: string): string {
    return `${this.namespace}ext:${channel}:${externalId}`;
  }

  private script(operation: QueueOperation, now: number, args: (string | number)[]): Promise<unknown> {
    return this.run(operation, this.keys, [this.namespace, now, ...args]);
  }
}

/** An invalid date never extends a pause, as in the memory queue. */
function timeOf(date: Date): number {
  const time = date.getTime();
  return Number.isNaN(time) ? 0 : time;
}

