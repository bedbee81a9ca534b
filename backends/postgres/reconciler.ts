/**
 * The Reconciler keeps the queue in step with the database, which is the source of truth: it
 * pushes `queued`/`errored` outgoing messages that are due, not claimed, and not (or no longer)
 * in the queue. It runs at start-up and then every `intervalMs` (default 60 s).
 *
 * Each pass first releases expired leases (a Sender that crashed mid-send): the message counts as
 * not pushed and goes back to the queue in the same pass.
 *
 * Not flooding the queue with duplicates. The queue cannot say which messages it holds, so each
 * row remembers when it was last pushed (`pushed_on`). Duplicates would be harmless — a Sender
 * claims the row before sending, so the second copy is skipped — but each one wastes a pop and,
 * on a TPS-limited channel, a slot of its budget. So:
 * - Start-up with an empty queue (in-process queue, or a Redis that lost its data): everything
 *   waiting is pushed, due or not (scheduled ones with their due time). Nothing can be in it.
 * - Otherwise (every periodic pass, and start-up with a Redis that kept its data) a message is
 *   pushed when it was never pushed successfully (`pushed_on` is null: its push failed, or its
 *   lease expired), or when it has been due for longer than `repushAfterMs` (default 5 min) since
 *   it was last pushed AND its channel has nothing waiting in the queue. A channel still
 *   draining a backlog may simply be slow (low TPS), so its messages are left alone until it
 *   empties; a message the queue lost is then pushed within one pass. The price: a message lost
 *   from a queue that never empties waits until it does.
 */
import type postgres from 'postgres';
import type { Channel } from '../../src/channel.js';
import type { Queue } from '../../src/queue.js';
import { insertChannelLogs } from './channel-logs.js';
import { recordFailed, unsentLog } from './send-outcomes.js';

/** Advisory lock key of the reconciler's pass (any constant shared by all processes). */
const PASS_LOCK = 7_271_834_001;

export interface ReconcilerOptions {
  intervalMs?: number;
  repushAfterMs?: number;
  /** Rows read per statement. */
  batchSize?: number;
  /**
   * This process is the only one using the database (the embedded default): at start-up every
   * claim belongs to a process that is gone, so it is released at once instead of at its expiry.
   */
  soleProcess?: boolean;
  now?: () => Date;
  onError?: (err: unknown) => void;
}

export interface PassResult {
  released: number;
  pushed: number;
}

interface Waiting {
  uuid: string;
  channel_uuid: string;
  priority: 'high' | 'bulk';
  cost: number;
  next_attempt_at: Date | null;
  pushed_on: Date | null;
}

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PassResult> | null = null;
  private readonly intervalMs: number;
  private readonly repushAfterMs: number;
  private readonly batchSize: number;
  private readonly soleProcess: boolean;
  private readonly now: () => Date;
  private readonly onError: (err: unknown) => void;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly queue: Queue,
    private readonly channel: (uuid: string) => Promise<Channel | null>,
    opts: ReconcilerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.repushAfterMs = opts.repushAfterMs ?? 5 * 60_000;
    this.batchSize = opts.batchSize ?? 500;
    this.soleProcess = opts.soleProcess ?? false;
    this.now = opts.now ?? (() => new Date());
    this.onError = opts.onError ?? (() => {});
  }

  /** Runs the start-up pass, then a pass every interval until `stop`. */
  async start(): Promise<void> {
    try {
      await this.pass('startup');
    } catch (err) {
      this.onError(err);
    }
    this.timer = setInterval(() => this.pass('periodic').catch(this.onError), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /**
   * One pass; passes never overlap (a call during a pass waits for it and answers its result).
   *
   * @example const { released, pushed } = await reconciler.pass('periodic');
   */
  pass(mode: 'startup' | 'periodic'): Promise<PassResult> {
    this.running ??= this.run(mode).finally(() => (this.running = null));
    return this.running;
  }

  private async run(mode: 'startup' | 'periodic'): Promise<PassResult> {
    // One pass at a time across every process sharing the database: two overlapping passes would
    // each push the same rows. The lock is held on a reserved connection that stays idle between
    // its two statements, so the pass's own queries (on other connections) never wait for it.
    const lock = await this.sql.reserve();
    try {
      const [{ locked }] = (await lock`select pg_try_advisory_lock(${PASS_LOCK}) as locked`) as unknown as [{ locked: boolean }];
      if (!locked) return { released: 0, pushed: 0 };
      try {
        return await this.runLocked(mode);
      } finally {
        await lock`select pg_advisory_unlock(${PASS_LOCK})`;
      }
    } finally {
      lock.release();
    }
  }

  private async runLocked(mode: 'startup' | 'periodic'): Promise<PassResult> {
    const now = this.now();
    const everyClaim = mode === 'startup' && this.soleProcess;
    // Locked in uuid order, as claims lock theirs, skipping any a claim holds right now (it is
    // being claimed afresh, so it is no longer lapsed): the two cannot deadlock.
    const released = await this.sql`
      update msgs set lease_until = null, pushed_on = null
      where uuid in (
        select uuid from msgs
        where direction = 'out' and status in ('queued', 'errored') and lease_until is not null
          ${everyClaim ? this.sql`` : this.sql`and lease_until < ${now}`}
        order by uuid
        for update skip locked)`;
    const everything = mode === 'startup' && (await this.queue.size()) === 0;
    const emptyChannels = new Map<string, boolean>();
    let pushed = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await this.sql<Waiting[]>`
        select uuid, channel_uuid, priority, cost, next_attempt_at, pushed_on from msgs
        where direction = 'out' and status in ('queued', 'errored') and lease_until is null and uuid > ${after}
          ${everything ? this.sql`` : this.sql`and next_attempt_at <= ${now}
            and (pushed_on is null or greatest(pushed_on, next_attempt_at) < ${new Date(now.getTime() - this.repushAfterMs)})`}
        order by uuid
        limit ${this.batchSize}`;
      const chosen: Waiting[] = [];
      for (const row of rows) {
        if (everything || row.pushed_on === null || (await this.channelIsEmpty(row.channel_uuid, emptyChannels))) chosen.push(row);
      }
      pushed += await this.push(chosen, now);
      if (rows.length < this.batchSize) break;
      after = rows[rows.length - 1]!.uuid;
    }
    return { released: released.count, pushed };
  }

  private async channelIsEmpty(channelUuid: string, seen: Map<string, boolean>): Promise<boolean> {
    let empty = seen.get(channelUuid);
    if (empty === undefined) {
      empty = (await this.queue.size(channelUuid)) === 0;
      seen.set(channelUuid, empty);
    }
    return empty;
  }

  /** Marks rows pushed (unless claimed meanwhile), then pushes them; a failed push unmarks the rest. */
  private async push(rows: readonly Waiting[], now: Date): Promise<number> {
    if (rows.length === 0) return 0;
    const marked = await this.sql<Waiting[]>`
      update msgs set pushed_on = ${now}
      where uuid = any(${rows.map((r) => r.uuid)}::uuid[]) and lease_until is null and status in ('queued', 'errored')
      returning uuid, channel_uuid, priority, cost, next_attempt_at, pushed_on`;
    const order = new Map(rows.map((r, i) => [r.uuid, i]));
    const sorted = [...marked].sort((a, b) => order.get(a.uuid)! - order.get(b.uuid)!);
    for (const [i, row] of sorted.entries()) {
      try {
        const channel = await this.channel(row.channel_uuid);
        if (!channel) {
          const target = { uuid: row.uuid, channelUuid: row.channel_uuid, now };
          const log = unsentLog(target, 'channel_deleted', `channel ${row.channel_uuid} was deleted; message not sent`, true);
          await this.sql.begin((tx) => Promise.all([recordFailed(tx, target, 'channel_deleted', false), insertChannelLogs(tx, [log])]));
          continue;
        }
        const due = row.next_attempt_at && row.next_attempt_at > now ? row.next_attempt_at : undefined;
        await this.queue.push(channel.uuid, channel.tps, { id: row.uuid, cost: row.cost }, row.priority, due);
      } catch (err) {
        await this.sql`update msgs set pushed_on = null where uuid = any(${sorted.slice(i).map((r) => r.uuid)}::uuid[])`;
        throw err;
      }
    }
    return sorted.length;
  }
}
