import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { Backend } from './backend.js';
import type { Sender } from './sender.js';

export interface ForemanOptions {
  backend: Backend;
  sender: Sender;
  /** Concurrent sends (`HERALD_MAX_WORKERS`). */
  maxWorkers: number;
  logger: Logger;
  /** How long to wait for work when the queue has nothing due; a push in this process wakes it sooner. */
  idleWaitMs?: number;
  /** Pops run at once; default 2. */
  poppers?: number;
  /** The most messages one pop takes; default 64. */
  batch?: number;
}

/**
 * Pops outgoing messages while a sender slot is free and hands each to the Sender. A slot is
 * held while the provider is called; the outcome is recorded after the slot is freed, so a
 * worker's next message does not wait for the last one's commit (up to `maxWorkers` outcomes may
 * be recording beyond the sends; more hold back popping). `stop` waits for both.
 *
 * It never sleeps while work is waiting: a pop takes as many messages as there are free sender
 * slots (up to `batch`) in one queue step and one claim, and is followed at once by the next; a
 * message queued in this process, or a send finishing, wakes it through `wake()`. A pop is a few
 * round trips (the queue, then the claim in the database), so up to `poppers` pops run at once
 * (2 by default): while one waits for its claim, the other takes the slots freed meanwhile.
 * When the queue has nothing due (or every channel is at its TPS limit or paused), it waits up to
 * `idleWaitMs`, which bounds how late a scheduled message or the next TPS second is noticed. A
 * queue or database error backs off for a second and tries again.
 */
export class Foreman {
  private readonly limit: LimitFunction;
  private readonly idleWaitMs: number;
  private readonly batch: number;
  private running = false;
  private loops: Promise<void>[] = [];
  /** Outcomes handed to the Sender to record and not recorded yet. */
  private recording = 0;
  /** Messages asked for by the pops under way: each will need a sender slot. */
  private popping = 0;
  private readonly wakeUps = new Set<() => void>();
  /** A wake() that came while the loop was busy, so the next idle wait returns at once. */
  private woken = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly opts: ForemanOptions) {
    this.limit = pLimit(opts.maxWorkers);
    this.idleWaitMs = opts.idleWaitMs ?? 100;
    this.batch = Math.max(1, opts.batch ?? 64);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const poppers = Math.max(1, Math.min(this.opts.poppers ?? 2, this.opts.maxWorkers));
    this.loops = Array.from({ length: poppers }, () => this.run());
  }

  /** Ends every idle wait at once: there may be work. */
  wake(): void {
    if (this.wakeUps.size === 0) {
      this.woken = true;
      return;
    }
    const waiting = [...this.wakeUps];
    this.wakeUps.clear();
    for (const wake of waiting) wake();
  }

  /** Stops popping, then waits for every in-flight send to be recorded. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Outcomes being recorded hold no sender slot, but more of them than there are workers
      // (the database slower than the providers) hold back popping.
      const recordingBeyond = Math.max(0, this.recording - this.opts.maxWorkers);
      const free = this.opts.maxWorkers - this.limit.activeCount - this.limit.pendingCount - this.popping - recordingBeyond;
      if (free <= 0) {
        await this.idle(this.idleWaitMs);
        continue;
      }
      const take = Math.min(free, this.batch);
      let jobs;
      this.popping += take;
      try {
        jobs = await this.opts.backend.popOutgoing(take);
      } catch (err) {
        this.popping -= take;
        this.opts.logger.error({ err }, 'could not pop the next outgoing messages');
        await this.idle(1_000);
        continue;
      }
      this.popping -= take;
      if (jobs.length === 0) {
        await this.idle(this.idleWaitMs);
        continue;
      }
      for (const job of jobs) {
        const sending = this.limit(() => this.opts.sender.attempt(job))
          .then((attempt) => {
            // The slot is free once the provider answered: the next message need not wait for
            // this outcome's commit.
            this.recording++;
            this.wake();
            return this.opts.sender.record(attempt).finally(() => this.recording--);
          })
          .catch((err: unknown) => this.opts.logger.error({ err, msg: job.msg.uuid }, 'send failed unexpectedly'))
          .finally(() => {
            this.inFlight.delete(sending);
            this.wake();
          });
        this.inFlight.add(sending);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    if (!this.running || this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakeUps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakeUps.add(wake);
    });
  }
}
