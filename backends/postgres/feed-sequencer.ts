import type postgres from 'postgres';
import type { Logger } from 'pino';

export interface FeedSequencerOptions {
  sql: postgres.Sql;
  logger?: Logger;
  /** How often an idle sequencer looks for new events; default 200 ms. */
  intervalMs?: number;
  /** Events numbered per pass; default 5,000. */
  batch?: number;
}

/**
 * Numbers committed outbox events for the events feed and webhooks (see migration 0005).
 *
 * Why: outbox ids are taken at insert, and the group commit's overlapping transactions commit in
 * any order, so ids are not in the order events become visible. A feed paged by id would skip an
 * event whose transaction committed late. Events are instead numbered here, after they committed:
 * a pass sees only committed rows, numbers them in id order after the last number given, and
 * commits; passes run one at a time (each first locks the single `feed_position` row, and a
 * process that finds it locked skips its turn), so a number once seen is never followed by a
 * smaller one. The price is a short delay, at most `intervalMs` while idle, before an event
 * appears in the feed and goes out as a webhook, and one more write per event.
 *
 * Every Herald process runs one; they share the work through that lock.
 *
 * @example const sequencer = new FeedSequencer({ sql, logger }); sequencer.start();
 */
export class FeedSequencer {
  private readonly sql: postgres.Sql;
  private readonly logger: Logger | undefined;
  private readonly intervalMs: number;
  private readonly batch: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;

  constructor(opts: FeedSequencerOptions) {
    this.sql = opts.sql;
    this.logger = opts.logger;
    this.intervalMs = opts.intervalMs ?? 200;
    this.batch = opts.batch ?? 5_000;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops, after the pass in progress (if any) has committed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * One pass: numbers up to `batch` committed events that have no number yet; answers how many.
   * Answers 0 without waiting when another process is numbering.
   *
   * @example await sequencer.sequence() // 42
   */
  async sequence(): Promise<number> {
    return this.sql.begin(async (tx) => {
      const [position] = await tx`select last_seq from feed_position for update skip locked`;
      if (!position) return 0;
      // A new statement, so a new snapshot: every event committed before the lock was taken.
      const numbered = await tx`
        with next as (
          select id, ${position.last_seq}::bigint + row_number() over (order by id) as seq
          from (select id from outbox where seq is null order by id limit ${this.batch}) pending
        )
        update outbox o set seq = next.seq from next where o.id = next.id
        returning o.seq`;
      if (numbered.count > 0) await tx`update feed_position set last_seq = last_seq + ${numbered.count}`;
      return numbered.count;
    });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const pass = this.sequence().then(
        (count) => this.schedule(count >= this.batch ? 0 : this.intervalMs),
        (err: unknown) => {
          this.logger?.warn({ err: (err as Error).message }, 'events not numbered for the feed yet; retrying');
          this.schedule(Math.max(this.intervalMs, 1_000));
        },
      );
      this.running = pass;
    }, ms);
  }
}
