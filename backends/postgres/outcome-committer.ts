import type postgres from 'postgres';
import type { RetryPolicy } from '../../src/retry.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { recordErrored, recordFailed, recordSent, recordThrottled, type OutcomeTarget } from './send-outcomes.js';

/** One Sender's outcome to record (see send-outcomes.ts for what each does to the message). */
export type OutcomeJob =
  | { kind: 'sent'; target: OutcomeTarget; status: 'wired' | 'sent'; externalIds: readonly string[] }
  | { kind: 'errored'; target: OutcomeTarget; reason: string; policy: RetryPolicy }
  | { kind: 'failed'; target: OutcomeTarget; reason: string; stopContact: boolean }
  | { kind: 'throttled'; target: OutcomeTarget };

/**
 * Send outcomes from concurrent Senders, recorded by group commit (see group-commit.ts): the
 * outcomes that arrive together share one transaction, their statements sent together on its
 * connection (pipelined), so 32 Senders finishing at once cost the round trips of one outcome,
 * not 32 times them. Each outcome still locks and moves only its own message. A batch that fails
 * on one bad outcome is retried one outcome at a time, so only that Sender's recording fails.
 */
export class OutcomeCommitter {
  private readonly batches: GroupCommit<OutcomeJob, Date | null>;

  constructor(sql: postgres.Sql, opts: GroupCommitOptions = {}) {
    this.batches = new GroupCommit((jobs) => sql.begin((tx) => Promise.all(jobs.map((job) => recordOutcome(tx, job)))), () => 1, opts);
  }

  /**
   * Records one outcome; answers, for an errored send, when to try it again (null when it
   * failed for good, and for every other outcome).
   *
   * @example const retryAt = await outcomes.record({ kind: 'errored', target, reason: 'connection_failed', policy });
   */
  record(job: OutcomeJob): Promise<Date | null> {
    return this.batches.submit(job);
  }

  /** Resolves once every outcome given so far is committed (or failed). */
  drain(): Promise<void> {
    return this.batches.drain();
  }
}

async function recordOutcome(tx: postgres.TransactionSql, job: OutcomeJob): Promise<Date | null> {
  switch (job.kind) {
    case 'sent':
      await recordSent(tx, job.target, job.status, job.externalIds);
      return null;
    case 'errored':
      return recordErrored(tx, job.target, job.reason, job.policy);
    case 'failed':
      await recordFailed(tx, job.target, job.reason, job.stopContact);
      return null;
    case 'throttled':
      await recordThrottled(tx, job.target);
      return null;
  }
}
