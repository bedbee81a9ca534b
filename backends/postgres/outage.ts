/**
 * Remembers that the database cannot be reached, so that writes go straight to the spool rather
 * than each waiting for its own connection attempt to fail (a cut network makes every attempt
 * wait for the connect timeout). While an outage lasts, one probe runs every `probeMs`; the first
 * that succeeds ends it. The trade-off: for up to `probeMs` after the database is back, writes
 * still go to the spool, from where the flusher stores them.
 *
 * @example
 * const outage = new DatabaseOutage(() => sql`select 1`.execute());
 * if (outage.active) await spool.write('msgs', msgs);
 */
export class DatabaseOutage {
  private since: Date | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly options: { probeMs?: number; onChange?: (active: boolean, since: Date) => void } = {},
  ) {}

  get active(): boolean {
    return this.since !== null;
  }

  /** Starts an outage (a write just failed to connect), unless one is already under way. */
  begin(): void {
    if (this.since !== null || this.closed) return;
    this.since = new Date();
    this.options.onChange?.(true, this.since);
    this.schedule();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      withDeadline(this.probe(), this.options.probeMs ?? 1_000).then(
        () => {
          const since = this.since!;
          this.since = null;
          this.timer = null;
          this.options.onChange?.(false, since);
        },
        () => {
          if (!this.closed) this.schedule();
        },
      );
    }, this.options.probeMs ?? 1_000);
    this.timer.unref();
  }
}

/**
 * `work`, or a rejection once `ms` have passed: a query to a silent database must not hang.
 *
 * @example await withDeadline(sql`select 1`.execute(), 2_000)
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
