/**
 * Replays the spool into storage once it is back: at `start`, then `intervalMs` after each pass.
 *
 * Order: oldest first across all kinds, and a document whose `write` is still running holds back
 * every later one until the next pass. With `concurrency` 1, each document is stored before the
 * next is replayed. With `concurrency` above 1, up to that many consecutive documents (of any
 * kind) are read at once and handed to `replay` one after the other, in order, without waiting
 * for each to be stored; the next documents wait until all of them are. Order within that window
 * is then the store's: one that batches each kind's writes in the order given keeps the order
 * within a kind, but documents of different kinds in one window may be committed in either order.
 *
 * Outcomes of `replay(kind, payload)` for one document:
 * - resolves: the document is stored and its file deleted. Deletions run alongside the next
 *   replays and share folder fsyncs; the pass ends only when all of them are durable.
 * - throws PermanentSpoolError, or the file is not readable JSON: the file moves to quarantine
 *   with the reason, and the pass goes on with the next document.
 * - throws anything else (the database is still down): the pass stops there, leaving that
 *   document and every later one in place, in order; the next pass starts again from it.
 *
 * `stop` ends a running pass after the documents being replayed (up to `concurrency`), so
 * shutdown never waits for a whole backlog; what is left is replayed after the next start.
 *
 * Contract for `replay`: it MUST be idempotent. A crash between storing a document and its
 * deletion reaching the disk replays that document again after the restart, so storing the same
 * payload twice must leave the same state as storing it once (e.g. insert a message unless its
 * uuid exists, apply a status only if it moves the message forward).
 */
import { describeError } from './describe-error.js';
import type { Spool, SpoolEntry, SpoolKind } from './spool.js';

const MAX_PENDING_REMOVALS = 256;

/** Thrown by `replay` when a document can never be stored: the flusher quarantines it. */
export class PermanentSpoolError extends Error {
  override name = 'PermanentSpoolError';
}

/** Stores one spooled document; must be idempotent (see the contract above). */
export type Replay = (kind: SpoolKind, payload: unknown) => Promise<void>;

export interface FlushReport {
  replayed: number;
  quarantined: number;
  /** Files still waiting when the pass ended, including any written during it. */
  remaining: number;
  /** The error from `replay` that stopped the pass early, if one did. */
  error?: unknown;
}

export interface SpoolFlusherOptions {
  /** Pause between the end of one pass and the start of the next; default 5000. */
  intervalMs?: number;
  /** Consecutive documents replayed at once; default 1 (strictly one at a time). */
  concurrency?: number;
  /**
   * Told why a pass the timer ran ended early (the replay error) or failed (a disk error).
   * `flush()` callers get the same in its report or rejection. Default: a process warning.
   */
  onError?: (err: unknown) => void;
}

/**
 * Replays a spool through `replay`, on a timer and on demand.
 *
 * @example
 * const flusher = new SpoolFlusher(spool, (kind, payload) => backend.replay(kind, payload), {
 *   onError: (err) => log.warn({ err }, 'spool replay paused'),
 * });
 * flusher.start();
 * // on shutdown
 * await flusher.stop();
 */
export class SpoolFlusher {
  private readonly intervalMs: number;
  private readonly concurrency: number;
  private readonly onError: (err: unknown) => void;
  private running: Promise<FlushReport> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping = false;

  constructor(
    private readonly spool: Spool,
    private readonly replay: Replay,
    options: SpoolFlusherOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 0) throw new RangeError(`intervalMs must be 0 or more, got ${this.intervalMs}`);
    this.onError = options.onError ?? ((err) => process.emitWarning(`spool flush: ${describeError(err)}`));
  }

  /** Replays at once, then `intervalMs` after each pass ends. Calling it again does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.tick();
  }

  /**
   * Stops the timer and waits for a running pass, which ends after the documents it is
   * replaying; the rest stays on disk for the next start.
   */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopping = true;
    try {
      await this.running?.catch(() => undefined);
    } finally {
      this.stopping = false;
    }
  }

  /** Runs one pass now; a call while a pass is running shares that pass and its report. */
  flush(): Promise<FlushReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private tick(): void {
    this.timer = undefined;
    this.flush()
      .then(
        (report) => {
          if (report.error !== undefined) this.onError(report.error);
        },
        (err: unknown) => this.onError(err),
      )
      .finally(() => {
        if (this.started && this.timer === undefined) this.timer = setTimeout(() => this.tick(), this.intervalMs).unref();
      });
  }

  private async pass(): Promise<FlushReport> {
    const report: FlushReport = { replayed: 0, quarantined: 0, remaining: 0 };
    // Deleting a replayed file (unlink, folder fsync) runs alongside the next replays, so folder
    // fsyncs are shared; the pass ends only once every deletion is durable.
    const removals: Promise<void>[] = [];
    let removalError: unknown;
    try {
      const entries = await this.spool.ready();
      for (let at = 0; at < entries.length && !this.stopping; ) {
        const run = entries.slice(at, at + this.concurrency);
        at += run.length;
        const outcomes = await this.replayRun(run);
        outcomes.forEach((outcome, i) => {
          if (outcome === 'quarantined') {
            report.quarantined += 1;
          } else if (outcome === 'stored') {
            report.replayed += 1;
            removals.push(this.spool.remove(run[i]!).catch((err: unknown) => void (removalError ??= err)));
          } else {
            report.error ??= outcome.stoppedBy;
          }
        });
        if (report.error !== undefined) break;
        if (removals.length >= MAX_PENDING_REMOVALS) await Promise.all(removals.splice(0));
      }
    } finally {
      await Promise.all(removals);
    }
    if (removalError !== undefined) throw removalError;
    report.remaining = this.spool.size().files;
    return report;
  }

  /**
   * Replays consecutive documents: all read first, then each handed to `replay` in order, and
   * their outcomes awaited together. Each is stored, quarantined, or the error that must stop the
   * pass.
   */
  private async replayRun(run: readonly SpoolEntry[]): Promise<Array<'stored' | 'quarantined' | { stoppedBy: unknown }>> {
    const payloads = await Promise.all(
      run.map((entry) => this.spool.read(entry).then((payload) => ({ payload }), (err: unknown) => ({ unreadable: err }))),
    );
    const replays = run.map((entry, i) => {
      const read = payloads[i]!;
      if ('unreadable' in read) return Promise.resolve({ unreadable: read.unreadable });
      return this.replay(entry.kind, read.payload).then(
        () => ({ stored: true }) as const,
        (err: unknown) => ({ rejected: err }),
      );
    });
    return Promise.all(
      replays.map(async (replayed, i) => {
        const result = await replayed;
        const entry = run[i]!;
        if ('stored' in result) return 'stored' as const;
        if ('unreadable' in result) {
          await this.spool.quarantine(entry, `cannot be read as JSON: ${describeError(result.unreadable)}`);
          return 'quarantined' as const;
        }
        if (!(result.rejected instanceof PermanentSpoolError)) return { stoppedBy: result.rejected };
        await this.spool.quarantine(entry, `rejected by replay: ${describeError(result.rejected)}`);
        return 'quarantined' as const;
      }),
    );
  }
}
