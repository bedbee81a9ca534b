/**
 * Group commit: calls from concurrent requests are gathered and written in one transaction, so a
 * burst of a hundred callbacks costs a handful of round trips and one commit (one fsync) instead
 * of a hundred.
 *
 * - A batch is flushed when `maxRows` rows are waiting, or `maxWaitMs` after its first call
 *   arrived, whichever comes first: a lone call waits a few milliseconds at most, a burst fills
 *   batches and goes at once.
 * - At most `maxConcurrent` flushes at a time (default 4). While they run the next batch gathers,
 *   and goes as soon as one ends: under load batches grow by themselves. More than one flush
 *   overlaps one transaction's round trips with the next batch's, which a single writer leaves
 *   idle; the price is that two overlapping batches do not see each other's rows, so a duplicate
 *   delivered twice within a few milliseconds may be stored twice (as across processes).
 * - Each caller's promise settles only after the transaction holding its rows committed (or
 *   failed): an answer to a provider always means the rows are stored.
 * - One bad row (a constraint error) must not fail its batch-mates: a failed batch is retried
 *   one caller at a time, so only the bad caller rejects. The price is a slower path for that
 *   batch. A connection error is not retried here: every caller gets it at once, so each can
 *   fall back to the spool without waiting for retries bound to fail.
 */
import { isConnectionError } from './connection-error.js';

export interface GroupCommitOptions {
  /** Flush once this many rows are waiting; default 100. */
  maxRows?: number;
  /** Flush this long after the first call of a batch arrived; default 2 ms. */
  maxWaitMs?: number;
  /** Transactions in flight at once; default 4. */
  maxConcurrent?: number;
  /** A transaction not committed by then fails its callers with CommitTimeout; default 10 s. */
  timeoutMs?: number;
  /** Told about each committed transaction: for tests and metrics. */
  onCommit?: (stats: CommitStats) => void;
}

export interface CommitStats {
  /** How many calls the transaction held. */
  callers: number;
  rows: number;
}

interface Pending<J, R> {
  job: J;
  rows: number;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<J, R> {
  private waiting: Pending<J, R>[] = [];
  private waitingRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushing = new Set<Promise<void>>();
  private readonly maxRows: number;
  private readonly maxConcurrent: number;
  private readonly timeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly onCommit: ((stats: CommitStats) => void) | undefined;

  /**
   * @param commit writes the jobs in one transaction and answers one result per job, in order
   * @param rowsOf how many rows a job adds to its batch
   * @example const batcher = new GroupCommit((jobs) => writeAll(sql, jobs), (job) => job.length);
   */
  constructor(
    private readonly commit: (jobs: J[]) => Promise<R[]>,
    private readonly rowsOf: (job: J) => number,
    opts: GroupCommitOptions = {},
  ) {
    this.maxRows = opts.maxRows ?? 100;
    this.maxWaitMs = opts.maxWaitMs ?? 2;
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? 4);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.onCommit = opts.onCommit;
  }

  /** Queues a job for the next batch; settles once the batch's transaction has committed. */
  submit(job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const rows = this.rowsOf(job);
      this.waiting.push({ job, rows, resolve, reject });
      this.waitingRows += rows;
      if (this.flushing.size >= this.maxConcurrent) return;
      if (this.waitingRows >= this.maxRows) this.flushNext();
      else this.timer ??= setTimeout(() => this.flushNext(), this.maxWaitMs);
    });
  }

  /** Resolves once everything submitted so far has been committed or rejected. */
  async drain(): Promise<void> {
    while (this.flushing.size > 0 || this.waiting.length > 0) {
      if (this.flushing.size === 0) this.flushNext();
      await Promise.all(this.flushing);
    }
  }

  private flushNext(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.flushing.size >= this.maxConcurrent || this.waiting.length === 0) return;
    let rows = 0;
    let count = 0;
    while (count < this.waiting.length && (count === 0 || rows + this.waiting[count]!.rows <= this.maxRows)) {
      rows += this.waiting[count]!.rows;
      count++;
    }
    const batch = this.waiting.splice(0, count);
    this.waitingRows -= rows;
    const flush: Promise<void> = this.run(batch, rows).finally(() => {
      this.flushing.delete(flush);
      // What gathered meanwhile has already waited a whole flush: send it now.
      if (this.waiting.length > 0) this.flushNext();
    });
    this.flushing.add(flush);
    // A full batch may still be waiting behind this one, and a slot may be free for it.
    if (this.waitingRows >= this.maxRows) this.flushNext();
    else if (this.waiting.length > 0) this.timer ??= setTimeout(() => this.flushNext(), this.maxWaitMs);
  }

  private async run(batch: Pending<J, R>[], rows: number): Promise<void> {
    let results: R[];
    try {
      results = await this.commitInTime(batch.map((p) => p.job));
    } catch (err) {
      if (batch.length === 1 || isConnectionError(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      await this.runOneByOne(batch);
      return;
    }
    this.onCommit?.({ callers: batch.length, rows });
    batch.forEach((p, i) => p.resolve(results[i]!));
  }

  /** After a batch failed on a bad row: each caller alone, so only the bad one rejects. */
  private async runOneByOne(batch: Pending<J, R>[]): Promise<void> {
    for (const [i, p] of batch.entries()) {
      let result: R;
      try {
        [result] = (await this.commitInTime([p.job])) as [R];
      } catch (err) {
        p.reject(err);
        if (isConnectionError(err)) {
          // The database went away meanwhile: the rest would each wait to fail the same way.
          for (const rest of batch.slice(i + 1)) rest.reject(err);
          return;
        }
        continue;
      }
      this.onCommit?.({ callers: 1, rows: p.rows });
      p.resolve(result);
    }
  }

  /**
   * The commit, or a CommitTimeout after `timeoutMs`: a database that stops answering (a network
   * partition rather than a refused connection) must not hold callers for minutes. The
   * transaction may still commit later; callers fall back to the spool, whose replay is
   * idempotent, so that is harmless.
   */
  private commitInTime(jobs: J[]): Promise<R[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CommitTimeout(this.timeoutMs)), this.timeoutMs);
    });
    return Promise.race([this.commit(jobs), timeout]).finally(() => clearTimeout(timer));
  }
}

/** A group-commit transaction that did not finish in time; counts as the database being unreachable. */
export class CommitTimeout extends Error {
  override readonly name = 'CommitTimeout';
  readonly code = 'COMMIT_TIMEOUT';

  constructor(ms: number) {
    super(`the database did not commit within ${ms} ms`);
  }
}
