import type postgres from 'postgres';
import type { ChannelLog } from '../../src/channel-log.js';
import type { RetryPolicy } from '../../src/retry.js';
import { insertChannelLogs } from './channel-logs.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { recordErrored, recordFailed, recordSent, recordThrottled, type OutcomeTarget } from './send-outcomes.js';

/** One Sender's outcome to record, with its channel log (see send-outcomes.ts for what each does). */
export type OutcomeJob = { target: OutcomeTarget; log: ChannelLog } & (
  | { kind: 'sent'; status: 'wired' | 'sent'; externalIds: readonly string[] }
  | { kind: 'errored'; reason: string; policy: RetryPolicy }
  | { kind: 'failed'; reason: string; stopContact: boolean }
  | { kind: 'throttled' }
);

/**
 * Send outcomes from concurrent Senders, recorded by group commit (see group-commit.ts): the
 * outcomes that arrive together share one transaction. The common one, a send its provider
 * accepted, is set-based: all of a batch's are one statement (plus one for their provider ids),
 * and all of its channel logs one more, sent together on the transaction's connection
 * (pipelined). The rarer outcomes (errored, failed, throttled) lock and move their own message
 * each, pipelined beside them. A batch that fails on one bad outcome is retried one outcome at a
 * time, so only that Sender's recording fails.
 */
export class OutcomeCommitter {
  private readonly batches: GroupCommit<OutcomeJob, Date | null>;

  constructor(sql: postgres.Sql, opts: GroupCommitOptions = {}) {
    this.batches = new GroupCommit((jobs) => sql.begin((tx) => recordOutcomes(tx, jobs)), () => 1, opts);
  }

  /**
   * Records one outcome; answers, for an errored send, when to try it again (null when it
   * failed for good, and for every other outcome).
   *
   * @example const retryAt = await outcomes.record({ kind: 'errored', target, log, reason: 'connection_failed', policy });
   */
  record(job: OutcomeJob): Promise<Date | null> {
    return this.batches.submit(job);
  }

  /** Resolves once every outcome given so far is committed (or failed). */
  drain(): Promise<void> {
    return this.batches.drain();
  }
}

async function recordOutcomes(tx: postgres.TransactionSql, jobs: readonly OutcomeJob[]): Promise<Array<Date | null>> {
  const sent = jobs.flatMap((job) => (job.kind === 'sent' ? [job] : []));
  // The other outcomes lock their messages one by one, in uuid order like every batch here.
  const byUuid = jobs.map((_, i) => i).sort((a, b) => (jobs[a]!.target.uuid < jobs[b]!.target.uuid ? -1 : 1));
  const [, , ...others] = await Promise.all([
    recordSent(tx, sent),
    insertChannelLogs(tx, jobs.map((job) => job.log)),
    ...byUuid.map((i) => recordOther(tx, jobs[i]!)),
  ]);
  const results = new Array<Date | null>(jobs.length);
  byUuid.forEach((i, k) => (results[i] = others[k]!));
  return results;
}

async function recordOther(tx: postgres.TransactionSql, job: OutcomeJob): Promise<Date | null> {
  switch (job.kind) {
    case 'sent':
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
