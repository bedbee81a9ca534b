/**
 * The in-process `Queue`: used by the embedded default and by tests. It has the same semantics as
 * the Redis queue and is checked by the same contract suite (`test/queue-contract.ts`).
 *
 * How it works
 * - Each channel has a `ChannelQueue`: two lanes (`high`, `bulk`) of items, a min-heap of scheduled
 *   items ordered by (due time, push order), its in-flight count, its pause deadline and the cost it
 *   has spent in the current wall-clock second. An item is one entry, or what is left of a compound
 *   push (the entries array plus the index of the next one), so nothing is copied as it drains.
 * - A scheduled item joins the tail of its lane when due. Promotion is lazy: it runs for a channel
 *   before anything is appended to its lanes and whenever the channel is looked at. That gives the
 *   same order as promoting at the exact due instant: an item's place in its lane is the moment it
 *   became visible (its push time, or its due time).
 * - Every channel with entries waiting is in one of two heaps. `ready` holds those that could be
 *   served now (a due head entry, not paused, affordable this second), ordered by (fewest in
 *   flight, least recently served, first seen): its top is the next pop. `parked` holds the others,
 *   ordered by when that could change (pause end, next due time, next second). A channel is placed
 *   again whenever something that decides its place changes: a push, pop, pause, put-back or
 *   release for it, or its wake time passing. Time passing takes a channel out of `ready` only when
 *   a scheduled `high` entry it cannot afford falls due, so `pop` re-checks the top channel before
 *   serving it; besides that it looks only at parked channels whose wake time has passed.
 * - Leases are kept in pop order. Every lease has the same length, so that is also expiry order:
 *   each operation first releases expired tokens by looking at the oldest leases only, dropping
 *   finished ones as it reaches them.
 *
 * Trade-offs
 * - Each operation costs O(log channels), and nothing per entry: a million entries, thousands of
 *   channels, or many channels that are paused, throttled for the second or only hold future
 *   entries do not slow `pop`. The price is bookkeeping: every change to a channel's in-flight
 *   count, pause, budget or head must re-place it, or a heap goes stale. A linear scan over the
 *   channels would be simpler but measured about 60 µs per pop with 1,000 channels holding
 *   scheduled entries; the heaps keep it near a microsecond.
 * - Order is never traded for throughput: a lane's head blocks the entries behind it when the
 *   budget cannot afford it, and a waiting `high` entry blocks `bulk`.
 * - The TPS budget is per wall-clock second with no carry-over: an entry costing more than the
 *   channel's tps goes out alone in its second, and the next second starts afresh.
 * - Channel state (TPS spend, round-robin position, pause) is kept after a channel empties, so
 *   emptying and refilling within a second cannot reset its budget; memory grows with the number
 *   of channels ever seen, not with traffic.
 * - Nothing is persisted. After a restart the reconciler rebuilds the queue from the database rows,
 *   which are the source of truth.
 * - Time comes only from `now`, so tests drive it; it is assumed never to go backwards.
 */
import type { Priority } from '../../src/msg.js';
import { checkedPush, TPS_GUARD_MS, TPS_MAX_SKEW_SECONDS, type Popped, type Queue, type QueueEntry } from '../../src/queue.js';

export interface MemoryQueueOptions {
  /** Millisecond clock; default `Date.now`. */
  now?: () => number;
  /** How long the rest of a compound item waits after each of its pops; default 3 s. */
  compoundDelayMs?: number;
  /** How long a popped token may stay unfinished before it is released back; default 5 min. */
  leaseMs?: number;
}

/** One entry, or what remains of a compound push: `entries[at]` pops next. */
interface Item {
  entries: readonly QueueEntry[];
  at: number;
}

interface Scheduled {
  due: number;
  seq: number;
  lane: Priority;
  item: Item;
}

interface Lease {
  token: string;
  finished: boolean;
  channel: ChannelQueue;
  lane: Priority;
  entry: QueueEntry;
  expiresAt: number;
}

/**
 * An in-process fair, rate-limited queue.
 *
 * @example
 * const queue = new MemoryQueue();
 * await queue.push(channelUuid, 10, { id: msgUuid, cost: 2 }, 'high');
 * const popped = await queue.pop(); // { token, channel, entry } or null
 * if (popped) await queue.complete(popped.token);
 */
export class MemoryQueue implements Queue {
  private readonly now: () => number;
  private readonly compoundDelayMs: number;
  private readonly leaseMs: number;
  private channels = new Map<string, ChannelQueue>();
  /** Channels that could be served now; the top is the next pop. */
  private ready = channelHeap(servesBefore);
  /** Channels with entries waiting that cannot be served yet, soonest wake first. */
  private parked = channelHeap((a, b) => a.wakeAt < b.wakeAt);
  /** Unfinished tokens. */
  private readonly leases = new Map<string, Lease>();
  /** Sent markers: message id → when the marker lapses. */
  private sent = new Map<string, number>();
  /** Remembered provider ids: [channel, external id] → message id and when it lapses. */
  private externalIds = new Map<string, { id: string; until: number }>();
  /** Leases in pop order, which is also expiry order; finished ones are dropped when reached. */
  private expiry = new Deque<Lease>();
  private total = 0;
  /** One sequence orders channel creation, scheduled items and service (for round-robin). */
  private seq = 0;
  private tokenSeq = 0;

  constructor(options: MemoryQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.compoundDelayMs = options.compoundDelayMs ?? 3_000;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
  }

  async push(channel: string, tps: number, item: QueueEntry | QueueEntry[], priority: Priority, notBefore?: Date): Promise<void> {
    const entries = checkedPush(tps, item);
    if (entries.length === 0) return;
    const now = this.now();
    this.releaseExpired(now);
    const queue = this.channel(channel);
    queue.tps = tps;
    queue.promoteDue(now);
    const queued: Item = { entries, at: 0 };
    const due = notBefore?.getTime() ?? now;
    if (due > now) queue.scheduled.push({ due, seq: ++this.seq, lane: priority, item: queued });
    else queue.lane(priority).pushBack(queued);
    queue.waiting += entries.length;
    this.total += entries.length;
    this.place(queue, now);
  }

  async pop(): Promise<Popped | null> {
    return (await this.popMany(1))[0] ?? null;
  }

  async popMany(max: number): Promise<Popped[]> {
    const now = this.now();
    this.releaseExpired(now);
    for (let next = this.parked.peek(); next !== undefined && next.wakeAt <= now; next = this.parked.peek()) {
      this.place(next, now);
    }
    const popped: Popped[] = [];
    for (let queue = this.ready.peek(); queue !== undefined && popped.length < max; queue = this.ready.peek()) {
      // The top may be stale: a high entry that fell due since it was placed is its new head,
      // and this second's budget may not afford it.
      if (queue.nextServeAt(now) === now) popped.push(this.serve(queue, now));
      this.place(queue, now);
    }
    return popped;
  }

  async complete(token: string): Promise<void> {
    this.releaseExpired(this.now());
    this.finish(token);
  }

  async putBack(token: string, until: Date): Promise<void> {
    const now = this.now();
    this.releaseExpired(now);
    const lease = this.finish(token);
    if (lease === undefined) return;
    this.returnToHead(lease);
    lease.channel.pauseUntil(until.getTime());
    this.place(lease.channel, now);
  }

  async pause(channel: string, until: Date): Promise<void> {
    const now = this.now();
    this.releaseExpired(now);
    const queue = this.channel(channel);
    queue.pauseUntil(until.getTime());
    this.place(queue, now);
  }

  async size(channel?: string): Promise<number> {
    this.releaseExpired(this.now());
    if (channel === undefined) return this.total;
    return this.channels.get(channel)?.waiting ?? 0;
  }

  async markSent(id: string, ttlMs: number): Promise<void> {
    const now = this.now();
    // Markers share one TTL in practice, so insertion order is expiry order: sweep from the front.
    for (const [key, until] of this.sent) {
      if (until > now) break;
      this.sent.delete(key);
    }
    this.sent.delete(id);
    this.sent.set(id, now + ttlMs);
  }

  async wasSent(id: string): Promise<boolean> {
    return (this.sent.get(id) ?? 0) > this.now();
  }

  async rememberExternalIds(channel: string, externalIds: readonly string[], id: string, ttlMs: number): Promise<void> {
    const now = this.now();
    for (const [key, entry] of this.externalIds) {
      if (entry.until > now) break;
      this.externalIds.delete(key);
    }
    for (const externalId of externalIds) {
      const key = JSON.stringify([channel, externalId]);
      this.externalIds.delete(key);
      this.externalIds.set(key, { id, until: now + ttlMs });
    }
  }

  async findExternalIds(channel: string, externalIds: readonly string[]): Promise<Array<string | null>> {
    const now = this.now();
    return externalIds.map((externalId) => {
      const entry = this.externalIds.get(JSON.stringify([channel, externalId]));
      return entry && entry.until > now ? entry.id : null;
    });
  }

  async clear(): Promise<void> {
    this.sent = new Map();
    this.externalIds = new Map();
    this.channels = new Map();
    this.ready = channelHeap(servesBefore);
    this.parked = channelHeap((a, b) => a.wakeAt < b.wakeAt);
    this.leases.clear();
    this.expiry = new Deque();
    this.total = 0;
  }

  private channel(name: string): ChannelQueue {
    let queue = this.channels.get(name);
    if (queue === undefined) {
      queue = new ChannelQueue(name, ++this.seq);
      this.channels.set(name, queue);
    }
    return queue;
  }

  /** Moves a channel to the heap its state calls for: ready, parked until its wake time, or none. */
  private place(queue: ChannelQueue, now: number): void {
    const at = queue.nextServeAt(now);
    const heap = at === undefined ? undefined : at <= now ? this.ready : this.parked;
    if (at !== undefined) queue.wakeAt = at;
    if (queue.heap === heap) {
      heap?.fix(queue.heapIndex);
      return;
    }
    queue.heap?.removeAt(queue.heapIndex);
    queue.heap = heap;
    queue.heapIndex = -1;
    heap?.push(queue);
  }

  private serve(queue: ChannelQueue, now: number): Popped {
    const lane: Priority = queue.high.size > 0 ? 'high' : 'bulk';
    const item = queue.lane(lane).shift()!;
    const entry = item.entries[item.at]!;
    if (item.at + 1 < item.entries.length) {
      const rest: Item = { entries: item.entries, at: item.at + 1 };
      queue.scheduled.push({ due: now + this.compoundDelayMs, seq: ++this.seq, lane, item: rest });
    }
    queue.waiting--;
    this.total--;
    queue.inFlight++;
    queue.lastServed = ++this.seq;
    queue.spend(costOf(entry), now);

    const token = String(++this.tokenSeq);
    const lease: Lease = { token, finished: false, channel: queue, lane, entry, expiresAt: now + this.leaseMs };
    this.leases.set(token, lease);
    this.expiry.pushBack(lease);
    return { token, channel: queue.name, entry };
  }

  /** Ends a token's lease; a token that is unknown or already finished changes nothing. */
  private finish(token: string): Lease | undefined {
    const lease = this.leases.get(token);
    if (lease === undefined) return undefined;
    this.leases.delete(token);
    lease.finished = true;
    const queue = lease.channel;
    queue.inFlight--;
    if (queue.heap === this.ready) this.ready.fix(queue.heapIndex);
    return lease;
  }

  private releaseExpired(now: number): void {
    const expired: Lease[] = [];
    for (let lease = this.expiry.peek(); lease !== undefined; lease = this.expiry.peek()) {
      if (!lease.finished && lease.expiresAt > now) break;
      this.expiry.shift();
      if (lease.finished) continue;
      this.finish(lease.token);
      expired.push(lease);
    }
    // Latest popped first, so the earliest popped ends up at the head of its lane.
    for (let i = expired.length - 1; i >= 0; i--) this.returnToHead(expired[i]!);
    for (const lease of expired) this.place(lease.channel, now);
  }

  private returnToHead(lease: Lease): void {
    lease.channel.lane(lease.lane).pushFront({ entries: [lease.entry], at: 0 });
    lease.channel.waiting++;
    this.total++;
  }
}

/** One channel's lanes, schedule and the counters fairness and TPS rely on. */
class ChannelQueue {
  readonly high = new Deque<Item>();
  readonly bulk = new Deque<Item>();
  readonly scheduled = new Heap<Scheduled>(dueBefore);
  tps = 0;
  /** Entries in the lanes and the schedule, counting every remaining part of a compound item. */
  waiting = 0;
  inFlight = 0;
  pausedUntil = 0;
  /** When this channel was last served, on the queue's sequence; 0 = never. */
  lastServed = 0;
  /** The heap this channel is in (ready or parked), its index there, and when a parked one wakes. */
  heap: Heap<ChannelQueue> | undefined;
  heapIndex = -1;
  wakeAt = 0;
  private second = Number.NEGATIVE_INFINITY;
  private spent = 0;

  constructor(
    readonly name: string,
    readonly firstSeen: number,
  ) {}

  lane(priority: Priority): Deque<Item> {
    return priority === 'high' ? this.high : this.bulk;
  }

  /**
   * `now` if this channel can be served now; otherwise when that may change (its pause ends, its
   * next scheduled item is due, the next second refills its budget); undefined if nothing waits.
   */
  nextServeAt(now: number): number | undefined {
    if (this.waiting === 0) return undefined;
    if (this.pausedUntil > now) return this.pausedUntil;
    this.promoteDue(now);
    const head = this.high.peek() ?? this.bulk.peek();
    const nextDue = this.scheduled.peek()?.due;
    if (head === undefined) return nextDue;
    const refill = (Math.floor(now / 1000) + 1) * 1000;
    if (this.tps > 0 && now >= refill - TPS_GUARD_MS) return refill;
    if (this.affords(costOf(head.entries[head.at]!), now)) return now;
    // The budget refills next second, unless a cheaper high entry falls due before then.
    return Math.min(refill, nextDue ?? Infinity);
  }

  /** Moves scheduled items that are due to the tail of their lane, earliest due first. */
  promoteDue(now: number): void {
    for (let next = this.scheduled.peek(); next !== undefined && next.due <= now; next = this.scheduled.peek()) {
      this.scheduled.pop();
      this.lane(next.lane).pushBack(next.item);
    }
  }

  /** An entry costing more than tps alone may go, but only as the first pop of its second. */
  affords(cost: number, now: number): boolean {
    if (this.tps === 0) return true;
    const spent = this.honoured(Math.floor(now / 1000)) ? this.spent : 0;
    return spent === 0 || spent + cost <= this.tps;
  }

  /** Whether the second last spent in still counts for a caller in `second` (see TPS_MAX_SKEW_SECONDS). */
  honoured(second: number): boolean {
    return this.second >= second && this.second <= second + TPS_MAX_SKEW_SECONDS;
  }

  spend(cost: number, now: number): void {
    const second = Math.floor(now / 1000);
    if (!this.honoured(second)) {
      this.second = second;
      this.spent = 0;
    }
    this.spent += cost;
  }

  /** A pause only ever extends: a short retry-after cannot cut a longer one short. */
  pauseUntil(until: number): void {
    if (until > this.pausedUntil) this.pausedUntil = until;
  }
}

/** Fewer in flight first, then the one served least recently. */
function servesBefore(a: ChannelQueue, b: ChannelQueue): boolean {
  if (a.inFlight !== b.inFlight) return a.inFlight < b.inFlight;
  if (a.lastServed !== b.lastServed) return a.lastServed < b.lastServed;
  return a.firstSeen < b.firstSeen;
}

/** Earlier due first; equal due times keep push order. */
function dueBefore(a: Scheduled, b: Scheduled): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

function channelHeap(before: (a: ChannelQueue, b: ChannelQueue) => boolean): Heap<ChannelQueue> {
  return new Heap(before, (queue, index) => {
    queue.heapIndex = index;
  });
}

function costOf(entry: QueueEntry): number {
  return entry.cost ?? 1;
}

/**
 * FIFO with cheap appends at both ends and no `Array.shift`: `back` is read from a head index and
 * compacted now and then; `front` holds items put back at the head, the newest last.
 */
class Deque<T> {
  private front: T[] = [];
  private back: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.front.length + this.back.length - this.head;
  }

  pushBack(value: T): void {
    this.back.push(value);
  }

  pushFront(value: T): void {
    this.front.push(value);
  }

  peek(): T | undefined {
    return this.front.length > 0 ? this.front[this.front.length - 1] : this.back[this.head];
  }

  shift(): T | undefined {
    if (this.front.length > 0) return this.front.pop();
    if (this.head === this.back.length) return undefined;
    const value = this.back[this.head];
    this.back[this.head++] = undefined;
    if (this.head === this.back.length) {
      this.back = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.back.length) {
      this.back = this.back.slice(this.head);
      this.head = 0;
    }
    return value;
  }
}

/**
 * Binary min-heap by `before`. `moved` hears every item's new index, so an item can be re-keyed
 * (`fix`) or removed (`removeAt`) in place.
 */
class Heap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly before: (a: T, b: T) => boolean,
    private readonly moved: (item: T, index: number) => void = () => {},
  ) {}

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    this.items.push(item);
    this.settle(this.items.length - 1, item);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  removeAt(index: number): void {
    const last = this.items.pop()!;
    if (index < this.items.length) this.settle(index, last);
  }

  /** Restores order after the key of the item at `index` changed. */
  fix(index: number): void {
    this.settle(index, this.items[index]!);
  }

  /** Puts `item` at `index`, then moves it up or down to where it belongs. */
  private settle(index: number, item: T): void {
    const items = this.items;
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = items[parent]!;
      if (!this.before(item, above)) break;
      this.put(i, above);
      i = parent;
    }
    for (;;) {
      let child = 2 * i + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && this.before(items[child + 1]!, items[child]!)) child++;
      const below = items[child]!;
      if (!this.before(below, item)) break;
      this.put(i, below);
      i = child;
    }
    this.put(i, item);
  }

  private put(index: number, item: T): void {
    this.items[index] = item;
    this.moved(item, index);
  }
}
