import type { Priority } from './msg.js';

/**
 * The outgoing queue holds pointers to messages, not messages: the database row is the source
 * of truth, the queue only decides what to send next.
 *
 * - One queue per channel, two lanes: `high` always drains before `bulk`.
 * - Fair between channels: `pop` serves the channel with the fewest sends in flight.
 * - Rate-limited: a channel's `tps` (0 = unlimited) caps the cost popped per wall-clock second,
 *   and nothing is popped for it in the last `TPS_GUARD_MS` of a second.
 * - Scheduled entries (`notBefore`) are invisible until due.
 * - A compound item (several entries pushed together) pops one entry at a time, in order; the
 *   rest are rescheduled a few seconds later so the provider sees them in order.
 * - Every popped token is finished exactly once, by `complete` or `putBack`, or the in-flight
 *   counts that fairness relies on would leak. A token not finished within its lease (a
 *   crashed process) is released by the queue itself.
 */
export interface Queue {
  push(channel: string, tps: number, item: QueueEntry | QueueEntry[], priority: Priority, notBefore?: Date): Promise<void>;
  pop(): Promise<Popped | null>;
  /**
   * Up to `max` entries at once, in one step: the same entries, in the same order, as `max` pops
   * in a row would return (each from the fairest channel that can send at that point, within its
   * TPS budget), and fewer when fewer can be sent now.
   */
  popMany(max: number): Promise<Popped[]>;
  complete(token: string): Promise<void>;
  /** Throttled: the entry goes back to the head of its lane and the channel pauses until `until`. */
  putBack(token: string, until: Date): Promise<void>;
  pause(channel: string, until: Date): Promise<void>;
  /** Entries waiting (due or not), for one channel or all. */
  size(channel?: string): Promise<number>;
  clear(): Promise<void>;

  /**
   * Remembers for `ttlMs` that a message was handed to its provider: the guard against sending it
   * again when its outcome could not be recorded yet (the database was down) and its lease lapsed.
   */
  markSent(id: string, ttlMs: number): Promise<void>;
  wasSent(id: string): Promise<boolean>;

  /**
   * Remembers for `ttlMs` which message a channel's provider ids belong to, the moment its send
   * returns: a delivery report that any process sharing this queue receives before the send's
   * outcome is stored still finds its message (DESIGN §3).
   */
  rememberExternalIds(channel: string, externalIds: readonly string[], id: string, ttlMs: number): Promise<void>;
  /** The message each provider id was remembered for, or null, in the order asked. */
  findExternalIds(channel: string, externalIds: readonly string[]): Promise<Array<string | null>>;
}

/**
 * A rate-limited channel sends nothing in the last this-many milliseconds of a wall-clock second:
 * a send popped then would reach its provider in the next second, beside that second's whole
 * budget, and the provider would count one second over the limit. It must exceed the time from
 * a pop to the provider receiving its request (a claim in the database and the request's start:
 * a few ms, tens under load). A channel whose budget is spent at once loses nothing by it; one
 * sending slower than its limit loses up to this share of each second.
 */
export const TPS_GUARD_MS = 50;

/**
 * A channel's TPS second never moves back: a process whose clock is behind spends the latest
 * second any process spent in, so clock skew cannot double a channel's rate. A recorded second
 * more than this many seconds ahead of the caller's is not honoured but started afresh: a clock
 * that far off (or stepped back) would otherwise freeze the channel for as long as the skew.
 */
export const TPS_MAX_SKEW_SECONDS = 2;

export interface QueueEntry {
  /** The message uuid. */
  id: string;
  /** What sending it costs against the channel's TPS (SMS parts); default 1. */
  cost?: number;
}

export interface Popped {
  token: string;
  channel: string;
  entry: QueueEntry;
}

/**
 * The entries of a push, checked the same way by every Queue: `tps` 0 or more, each cost
 * positive. Throws a RangeError naming the bad value; copies the entries.
 *
 * @example const entries = checkedPush(10, [{ id: 'a', cost: 2 }]);
 */
export function checkedPush(tps: number, item: QueueEntry | QueueEntry[]): QueueEntry[] {
  if (!(Number.isFinite(tps) && tps >= 0)) throw new RangeError(`tps must be 0 (unlimited) or a positive number, got ${tps}`);
  return (Array.isArray(item) ? item : [item]).map((entry) => {
    const cost = entry.cost;
    if (cost !== undefined && !(Number.isFinite(cost) && cost > 0)) {
      throw new RangeError(`entry ${entry.id}: cost must be a positive number, got ${cost}`);
    }
    return { ...entry };
  });
}
