/**
 * PostgresBackend: Postgres is the source of truth, the Queue only a scheduler (DESIGN §3).
 *
 * - Incoming messages, channel events and channel logs go through the WriteBatcher, status
 *   reports through the StatusCommitter: both group commits (see group-commit.ts).
 * - When the database cannot be reached and a spool is given, those four writes go to the spool
 *   instead and still answer success (`spooled` for status reports); `replaySpooled` stores them
 *   later through the same paths, idempotently. Without a spool the error is thrown.
 * - Outgoing: the row is written `queued` first, then pushed; a failed push is left to the
 *   Reconciler. A popped entry is sent only if its row can be claimed (a lease) and its
 *   sent marker is not set: duplicates in the queue are skipped. A claimable row whose marker is
 *   set was accepted by its provider but its outcome was lost: it is recorded `wired` instead.
 * - Migrations are not run here: the composition root calls `migrate(sql)` before `create`.
 */
import type { Logger } from 'pino';
import type postgres from 'postgres';
import type { ChannelFileEntry } from '../../config/config.js';
import {
  outgoingSpec,
  IdempotencyKeyTaken,
  type Backend,
  type HealthChecks,
  type NewMsgOut,
  type OutgoingJob,
  type QueueResult,
  type RecordedOutcome,
  type SendOutcome,
  type StatusWriteResult,
} from '../../src/backend.js';
import type { Channel } from '../../src/channel.js';
import type { ChannelLog } from '../../src/channel-log.js';
import type { ChannelEvent } from '../../src/event.js';
import type { MsgIn, MsgOut } from '../../src/msg.js';
import type { Popped, Queue } from '../../src/queue.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../src/retry.js';
import type { StatusUpdate } from '../../src/status.js';
import type { Urn } from '../../src/urn.js';
import { PermanentSpoolError, type Replay } from '../../spool/flusher.js';
import type { Spool, SpoolKind } from '../../spool/spool.js';
import { ChannelCache } from './channel-cache.js';
import { deleteChannelLogsBefore } from './channel-logs.js';
import { loadChannel, upsertChannels } from './channels.js';
import { isConnectionError } from './connection-error.js';
import { contactKey, ensureContacts, isStopped, stopContacts, unstopContact } from './contacts.js';
import { ExternalIdCache } from './external-id-cache.js';
import { DatabaseOutage, withDeadline } from './outage.js';
import type { GroupCommitOptions } from './group-commit.js';
import { claimOutgoing, insertOutgoing, markNotPushed, type Claimed } from './outgoing-msgs.js';
import { Reconciler, type ReconcilerOptions } from './reconciler.js';
import { OutcomeCommitter } from './outcome-committer.js';
import { unsentLog, type OutcomeTarget } from './send-outcomes.js';
import { parseSpooledEvents, parseSpooledLog, parseSpooledMsgs, parseSpooledStatuses } from './spool-replay.js';
import { insertHistory, StatusCommitter } from './status-committer.js';
import { insertOutbox } from './outbox.js';
import { WriteBatcher } from './write-batcher.js';
import { DEFAULT_ORG_UUID } from '../../src/org.js';

const HOUR_MS = 3600_000;
const HEALTH_TIMEOUT_MS = 2_000;
const CHANNEL_LOOKUP_DEADLINE_MS = 2_000;

export interface PostgresBackendOptions {
  /** A `postgres()` client made by the caller (real Postgres, or the embedded PGlite server). */
  sql: postgres.Sql;
  queue: Queue;
  /** Where writes go while the database is unreachable; without one such writes throw. */
  spool?: Spool;
  retry?: RetryPolicy;
  logger?: Logger;
  /** How long a Sender's claim on a message lasts; default 5 min. */
  leaseMs?: number;
  /** How long the queue remembers a message was handed to its provider; default 1 h. */
  sentMarkerTtlMs?: number;
  /** Pings the Redis server behind the queue, for `health`; absent with an in-process queue. */
  redisPing?: () => Promise<unknown>;
  /** Group commit tuning, for both the write batcher and the status committer. */
  batching?: GroupCommitOptions;
  reconciler?: ReconcilerOptions;
  /** Channel logs older than this are deleted, hourly; default 7. */
  channelLogRetentionDays?: number;
  channelCacheTtlMs?: number;
  now?: () => Date;
}

export class PostgresBackend implements Backend {
  readonly channels: ChannelCache;
  readonly reconciler: Reconciler;
  private readonly sql: postgres.Sql;
  private readonly queue: Queue;
  private readonly spool: Spool | undefined;
  private readonly retry: RetryPolicy;
  private readonly logger: Logger | undefined;
  private readonly leaseMs: number;
  private readonly sentMarkerTtlMs: number;
  private readonly retentionDays: number;
  private readonly now: () => Date;
  private readonly writes: WriteBatcher;
  private readonly statuses: StatusCommitter;
  private readonly outcomes: OutcomeCommitter;
  private readonly externalIds = new ExternalIdCache();
  private readonly listeners: Array<() => void> = [];
  private readonly outage: DatabaseOutage;
  private readonly redisPing: (() => Promise<unknown>) | undefined;
  /** The last spool write failed: with the database down too, callbacks cannot be accepted. */
  private spoolFailing = false;
  private retentionTimer: NodeJS.Timeout | null = null;

  private constructor(opts: PostgresBackendOptions) {
    this.sql = opts.sql;
    this.queue = opts.queue;
    this.spool = opts.spool;
    this.redisPing = opts.redisPing;
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY;
    this.logger = opts.logger;
    this.leaseMs = opts.leaseMs ?? 5 * 60_000;
    this.sentMarkerTtlMs = opts.sentMarkerTtlMs ?? HOUR_MS;
    this.retentionDays = opts.channelLogRetentionDays ?? 7;
    this.now = opts.now ?? (() => new Date());
    // A lookup that gets no answer in time counts as failed, so the stale entry is served.
    this.channels = new ChannelCache((uuid) => withDeadline(loadChannel(this.sql, uuid), CHANNEL_LOOKUP_DEADLINE_MS), {
      ...(opts.channelCacheTtlMs !== undefined ? { ttlMs: opts.channelCacheTtlMs } : {}),
      offline: () => this.outage.active,
      now: () => this.now().getTime(),
    });
    const channel = (uuid: string) => this.channels.get(uuid);
    this.writes = new WriteBatcher(this.sql, channel, opts.batching);
    this.outcomes = new OutcomeCommitter(this.sql, opts.batching);
    this.statuses = new StatusCommitter(this.sql, this.externalIds, opts.batching, (channelUuid, ids) => this.queue.findExternalIds(channelUuid, ids));
    this.outage = new DatabaseOutage(() => this.sql`select 1`.execute(), {
      onChange: (active, since) =>
        active
          ? this.logger?.warn({ since }, 'database unreachable; writes go to the spool')
          : this.logger?.info({ since, ms: Date.now() - since.getTime() }, 'database reachable again'),
    });
    this.reconciler = new Reconciler(this.sql, this.queue, channel, {
      now: this.now,
      onError: (err) => this.logger?.error({ err }, 'reconciler pass failed'),
      ...opts.reconciler,
    });
  }

  /**
   * Builds the backend and starts its background work: the Reconciler (a start-up pass, then
   * periodic ones) and the hourly channel-log retention. Run `migrate(sql)` first.
   *
   * @example const backend = await PostgresBackend.create({ sql, queue, spool, logger });
   */
  static async create(opts: PostgresBackendOptions): Promise<PostgresBackend> {
    const backend = new PostgresBackend(opts);
    await backend.reconciler.start();
    backend.retentionTimer = setInterval(() => backend.runRetention(), HOUR_MS);
    backend.retentionTimer.unref();
    backend.runRetention();
    return backend;
  }

  getChannel(uuid: string): Promise<Channel | null> {
    return this.channels.get(uuid);
  }

  /**
   * Creates or updates the channels of `HERALD_CHANNELS_FILE` in the default org.
   *
   * @example await backend.upsertChannels(config.channels)
   */
  async upsertChannels(entries: readonly ChannelFileEntry[], orgUuid = DEFAULT_ORG_UUID): Promise<void> {
    const uuids = await upsertChannels(this.sql, entries, orgUuid);
    for (const uuid of uuids) this.channels.invalidate(uuid);
  }

  async writeMsgs(msgs: MsgIn[]): Promise<string[]> {
    return this.writeOrSpool('msgs', msgs, () => this.writes.writeMsgs(msgs), () => msgs.map((m) => m.uuid));
  }

  async writeStatuses(updates: StatusUpdate[]): Promise<StatusWriteResult[]> {
    return this.writeOrSpool(
      'statuses',
      updates,
      () => this.statuses.write(updates),
      () => updates.map((u) => ({ msgUuid: u.msgUuid ?? null, result: 'spooled' as const })),
    );
  }

  async writeEvents(events: ChannelEvent[]): Promise<void> {
    return this.writeOrSpool('events', events, () => this.writes.writeEvents(events), () => undefined);
  }

  async writeChannelLog(log: ChannelLog): Promise<void> {
    return this.writeOrSpool('logs', log, () => this.writes.writeChannelLog(log), () => undefined);
  }

  /**
   * Stores one spooled document through the normal write paths; for the SpoolFlusher. Idempotent:
   * a message, event or log whose uuid is stored is not stored again, a status applies only if it
   * moves its message forward (and one for a message still unknown is dropped). A document that
   * cannot be stored for any reason but an unreachable database is a PermanentSpoolError.
   *
   * @example new SpoolFlusher(spool, backend.replaySpooled).start()
   */
  readonly replaySpooled: Replay = async (kind, payload) => {
    try {
      switch (kind) {
        case 'msgs':
          await this.writes.writeMsgs(parseSpooledMsgs(payload));
          return;
        case 'statuses':
          await this.statuses.write(parseSpooledStatuses(payload));
          return;
        case 'events':
          await this.writes.writeEvents(parseSpooledEvents(payload));
          return;
        case 'logs':
          await this.writes.writeChannelLog(parseSpooledLog(payload));
          return;
      }
    } catch (err) {
      if (err instanceof PermanentSpoolError || !isRejectedForGood(err)) throw err;
      throw new PermanentSpoolError(`spooled ${kind} cannot be stored: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  async queueOutgoing(spec: NewMsgOut): Promise<MsgOut> {
    const [result] = await this.queueOutgoingBatch([spec], { refuseStopped: false });
    if (result!.kind === 'idempotency_key_taken') throw new IdempotencyKeyTaken(spec.idempotency!.key);
    if (result!.kind !== 'queued') throw new Error(`message not queued: ${result!.kind}`);
    return result!.msg;
  }

  async queueOutgoingBatch(specs: NewMsgOut[], opts: { refuseStopped: boolean }): Promise<QueueResult[]> {
    const now = this.now();
    const rows = specs.map(outgoingSpec);
    const results: QueueResult[] = new Array(rows.length);
    // A URN whose contact another writer was creating is stored by the next statement.
    let pending = rows.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 3) throw new Error(`contacts for ${pending.length} outgoing messages kept being created by other writers`);
      const inserted = await insertOutgoing(this.sql, pending.map((i) => rows[i]!), { now, refuseStopped: opts.refuseStopped });
      pending = pending.filter((i, k) => {
        const r = inserted[k]!;
        if (r.kind !== 'retry') results[i] = r.kind === 'stored' ? { kind: 'queued', msg: r.msg, contact: r.contact } : r;
        return r.kind === 'retry';
      });
    }
    await Promise.all(
      results.map(async (result, i) => {
        if (result.kind !== 'queued') return;
        const { channel, sendAt } = specs[i]!;
        await this.queue.push(channel.uuid, channel.tps, { id: result.msg.uuid, cost: rows[i]!.cost }, result.msg.priority, sendAt).catch(async (err: unknown) => {
          // The row is the source of truth: the Reconciler pushes it once the queue is back.
          this.logger?.warn({ err, msg: result.msg.uuid }, 'queue push failed; left to the reconciler');
          await markNotPushed(this.sql, result.msg.uuid).catch(() => {});
        });
      }),
    );
    if (results.some((r) => r.kind === 'queued')) for (const listener of this.listeners) listener();
    return results;
  }

  async popNextOutgoing(): Promise<OutgoingJob | null> {
    return (await this.popOutgoing(1))[0] ?? null;
  }

  async popOutgoing(max: number): Promise<OutgoingJob[]> {
    for (;;) {
      // The time the queue counts these pops in, for the Sender's check against their TPS second.
      const poppedAt = this.now();
      const popped = await this.queue.popMany(max);
      if (popped.length === 0) return [];
      // The claim's time is read after the pop: a message queued while the pop ran is due by it.
      const claimedAt = this.now();
      let claimed: Map<string, Claimed>;
      let sentBefore: boolean[];
      try {
        // The markers first: nothing is claimed unless it is known whether each was sent.
        sentBefore = await Promise.all(popped.map((p) => this.queue.wasSent(p.entry.id)));
        claimed = await claimOutgoing(this.sql, popped.map((p) => p.entry.id), claimedAt, new Date(claimedAt.getTime() + this.leaseMs));
      } catch (err) {
        // The queue or the database could not say whether to send them (and nothing was
        // claimed): back to the head of their lanes, in order, rather than dropped until the
        // reconciler's next look.
        await this.putBackSoon(popped);
        throw err;
      }
      const jobs = await this.jobsOf(popped, claimed, sentBefore, { poppedAt, claimedAt });
      if (jobs.length > 0) return jobs;
    }
  }

  async recordSendOutcome(job: OutgoingJob, outcome: SendOutcome, log: ChannelLog): Promise<RecordedOutcome> {
    const target: OutcomeTarget = { uuid: job.msg.uuid, channelUuid: job.channel.uuid, now: this.now() };
    let gaveUp = false;
    try {
      switch (outcome.kind) {
        case 'sent': {
          // Set with the outcome, not after it: if the outcome cannot be stored (the database is
          // down), the marker stops a second send once the claim lapses; if the queue is down the
          // outcome is still recorded, which is what really stops a second send. The provider ids
          // too, so a delivery report racing ahead of this outcome finds its message in whichever
          // process receives it.
          for (const id of outcome.externalIds) this.externalIds.set(job.channel.uuid, id, job.msg.uuid);
          const marked = Promise.all([
            this.queue.markSent(job.msg.uuid, this.sentMarkerTtlMs),
            this.queue.rememberExternalIds(job.channel.uuid, outcome.externalIds, job.msg.uuid, this.sentMarkerTtlMs),
          ]).catch((err: unknown) => {
            this.logger?.warn({ err, msg: job.msg.uuid }, 'sent marker not set');
          });
          try {
            await this.outcomes.record({ kind: 'sent', target, log, status: outcome.status, externalIds: outcome.externalIds });
          } finally {
            await marked;
          }
          break;
        }
        case 'errored': {
          const retryAt = await this.outcomes.record({ kind: 'errored', target, log, reason: outcome.reason, policy: this.retry });
          if (retryAt) {
            await this.queue.push(job.channel.uuid, job.channel.tps, { id: job.msg.uuid, cost: job.cost }, job.msg.priority, retryAt).catch(async (err: unknown) => {
              // Stored as errored and due at retryAt: the reconciler pushes it once the queue is back.
              this.logger?.warn({ err, msg: job.msg.uuid }, 'retry push failed; left to the reconciler');
              await markNotPushed(this.sql, job.msg.uuid);
            });
          }
          gaveUp = retryAt === null;
          break;
        }
        case 'failed':
          await this.outcomes.record({ kind: 'failed', target, log, reason: outcome.reason, stopContact: outcome.stopContact ?? false });
          break;
        case 'throttled':
          await this.outcomes.record({ kind: 'throttled', target, log });
          break;
      }
    } finally {
      // After the outcome, not beside it: a process that dies before the outcome is stored leaves
      // the token unfinished, so the queue hands the message out again when its lease ends; and a
      // throttled message back in its lane before its claim is released would be popped, found
      // claimed, and dropped.
      const finish = outcome.kind === 'throttled' ? this.queue.putBack(job.token, outcome.until) : this.queue.complete(job.token);
      await this.finishToken(job.token, job.msg.uuid, finish);
    }
    return { gaveUp };
  }

  /**
   * Waits for a token's complete or put-back. The outcome is what matters: a token the queue
   * cannot finish now (Redis down) comes back when its lease ends, and its row, no longer
   * claimable, is then skipped.
   */
  private finishToken(token: string, msgUuid: string, finish: Promise<void>): Promise<void> {
    return finish.catch((err: unknown) => this.logger?.warn({ err, msg: msgUuid, token }, 'queue token not finished; its lease will release it'));
  }

  /**
   * Queues a `failed` or `errored` outgoing message of the org again (the API's resend): back to
   * `queued`, due now, its retries counted from zero, with a history row and a `message.status`
   * event; then pushed. Answers what happened.
   *
   * @example await backend.resendOutgoing(orgUuid, msgUuid) // 'resent'
   */
  async resendOutgoing(orgUuid: string, uuid: string): Promise<'resent' | 'not_found' | 'not_resendable'> {
    const now = this.now();
    const result = await this.sql.begin(async (tx) => {
      const [row] = await tx`select status, direction from msgs where uuid = ${uuid} and org_uuid = ${orgUuid} for update`;
      if (!row) return 'not_found' as const;
      if (row.direction !== 'out' || (row.status !== 'failed' && row.status !== 'errored')) return 'not_resendable' as const;
      const [msg] = await tx`
        update msgs set status = 'queued', error_count = 0, failed_reason = null, next_attempt_at = ${now},
          lease_until = null, pushed_on = ${now}, modified_on = ${now}
        where uuid = ${uuid}
        returning channel_uuid, priority, cost`;
      await insertHistory(tx, [{ msgUuid: uuid, status: 'queued', at: now, reason: 'resend' }]);
      await insertOutbox(tx, [
        { orgUuid, type: 'message.status', data: { msg_uuid: uuid, channel_uuid: msg!.channel_uuid, status: 'queued', reason: 'resend', created_on: now.toISOString() } },
      ]);
      return msg!;
    });
    if (typeof result === 'string') return result;
    const channel = await this.channels.get(result.channel_uuid);
    if (!channel) {
      // Deleted since: the reconciler fails messages of deleted channels.
      await markNotPushed(this.sql, uuid);
      return 'resent';
    }
    await this.queue.push(channel.uuid, channel.tps, { id: uuid, cost: result.cost }, result.priority).catch(async (err: unknown) => {
      this.logger?.warn({ err, msg: uuid }, 'queue push failed; left to the reconciler');
      await markNotPushed(this.sql, uuid);
    });
    for (const listener of this.listeners) listener();
    return 'resent';
  }

  onOutgoingQueued(listener: () => void): void {
    this.listeners.push(listener);
  }

  async stopContact(orgUuid: string, urn: Urn, reason: string): Promise<void> {
    await this.sql.begin(async (tx) => {
      const contacts = await ensureContacts(tx, [{ orgUuid, urn }]);
      await stopContacts(tx, [{ orgUuid, contactUuid: contacts.get(contactKey(orgUuid, urn))!, urn, reason, at: this.now() }]);
    });
  }

  async unstopContact(orgUuid: string, urn: Urn): Promise<void> {
    await this.sql.begin((tx) => unstopContact(tx, orgUuid, urn, this.now()));
  }

  isContactStopped(orgUuid: string, urn: Urn): Promise<boolean> {
    return isStopped(this.sql, orgUuid, urn);
  }

  /**
   * Deletes channel logs older than `days`; answers how many. Runs hourly on its own.
   *
   * @example await backend.deleteOldChannelLogs(7)
   */
  deleteOldChannelLogs(days = this.retentionDays): Promise<number> {
    return deleteChannelLogsBefore(this.sql, new Date(this.now().getTime() - days * 24 * HOUR_MS));
  }

  async health(): Promise<HealthChecks> {
    const [database, redis, queue] = await Promise.all([
      withTimeout(this.sql`select 1`.execute(), HEALTH_TIMEOUT_MS),
      this.redisPing ? withTimeout(this.redisPing(), HEALTH_TIMEOUT_MS) : ('not_configured' as const),
      withTimeout(this.queue.size(), HEALTH_TIMEOUT_MS),
    ]);
    const checks: HealthChecks = { database, redis, queue };
    if (this.spool) checks.spool = this.spoolFailing ? 'down' : this.spool.size().files > 0 ? 'degraded' : 'ok';
    return checks;
  }

  /** Stops the background work, commits what is waiting in the batches, and ends the pool. */
  async close(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    this.outage.stop();
    await this.reconciler.stop();
    await this.drain();
    await this.sql.end({ timeout: 5 });
  }

  /** Resolves once every write accepted so far (channel logs included) is committed or failed. */
  async drain(): Promise<void> {
    await Promise.all([this.writes.drain(), this.statuses.drain(), this.outcomes.drain()]);
  }

  /**
   * The jobs to send among popped entries whose messages were just claimed, in pop order. Every
   * other token is finished here: a message not claimable (claimed elsewhere, already sent, a
   * duplicate entry) is skipped; one whose sent marker is set is recorded `wired`; one whose
   * channel was deleted is failed. An entry that cannot be settled now (the database or the
   * queue failing) goes back to its lane; its claim lapses, and its marker stops a second send.
   */
  private async jobsOf(
    popped: readonly Popped[],
    claimed: Map<string, Claimed>,
    sentBefore: readonly boolean[],
    { poppedAt, claimedAt }: { poppedAt: Date; claimedAt: Date },
  ): Promise<OutgoingJob[]> {
    const settled = await Promise.allSettled(
      popped.map(async ({ token, entry }, i): Promise<OutgoingJob | null> => {
        const job = claimed.get(entry.id);
        // A uuid popped twice in one go is claimed once: the first entry sends it.
        claimed.delete(entry.id);
        const channel = job && (await this.channelToSend(job, sentBefore[i]!, claimedAt));
        if (job && channel) return { token, msg: job.msg, channel, contactStopped: job.contactStopped, cost: entry.cost ?? 1, poppedAt: poppedAt.getTime() };
        await this.finishToken(token, entry.id, this.queue.complete(token));
        return null;
      }),
    );
    const failed = popped.filter((_, i) => settled[i]!.status === 'rejected');
    if (failed.length > 0) {
      this.logger?.warn({ err: (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason, count: failed.length }, 'popped messages not settled; put back');
      await this.putBackSoon(failed);
    }
    return settled.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value] : []));
  }

  /** Puts popped entries back at the head of their lanes, due in a second. */
  private async putBackSoon(popped: readonly Popped[]): Promise<void> {
    const retryAt = new Date(this.now().getTime() + 1_000);
    await Promise.all(popped.map((p) => this.queue.putBack(p.token, retryAt).catch(() => {})));
  }

  /**
   * The channel to send a claimed message through; null when it must not go, its outcome
   * recorded instead: its provider accepted it but the outcome was lost (its sent marker is set),
   * or its channel was deleted.
   */
  private async channelToSend(claimed: Claimed, sentBefore: boolean, now: Date): Promise<Channel | null> {
    const { msg } = claimed;
    if (sentBefore) {
      // The database was down, or the process died, and the claim lapsed. Its external ids are lost.
      const log = unsentLog(msg, 'outcome_lost', 'the provider accepted this message but the outcome was not recorded; marked wired, not sent again', false);
      await this.outcomes.record({ kind: 'sent', target: { uuid: msg.uuid, channelUuid: msg.channelUuid, now }, log, status: 'wired', externalIds: [] });
      return null;
    }
    const channel = await this.channels.get(msg.channelUuid);
    if (!channel) {
      const log = unsentLog(msg, 'channel_deleted', `channel ${msg.channelUuid} was deleted; message not sent`, true);
      await this.outcomes.record({ kind: 'failed', target: { uuid: msg.uuid, channelUuid: msg.channelUuid, now }, log, reason: 'channel_deleted', stopContact: false });
    }
    return channel;
  }

  /**
   * Writes through `write`; when the database cannot be reached and there is a spool, writes the
   * payload to the spool instead and answers `spooled()`. During an outage the database is not
   * tried at all until the outage's probe finds it back.
   */
  private async writeOrSpool<T>(kind: SpoolKind, payload: unknown, write: () => Promise<T>, spooled: () => T): Promise<T> {
    if (this.spool && this.outage.active) {
      await this.spoolWrite(kind, payload);
      return spooled();
    }
    try {
      return await write();
    } catch (err) {
      if (!this.spool || !isConnectionError(err)) throw err;
      this.outage.begin();
      await this.spoolWrite(kind, payload);
      return spooled();
    }
  }

  /** A spool write, remembering whether the last one failed (a full or read-only disk) for health. */
  private async spoolWrite(kind: SpoolKind, payload: unknown): Promise<void> {
    try {
      await this.spool!.write(kind, payload);
      this.spoolFailing = false;
    } catch (err) {
      this.spoolFailing = true;
      throw err;
    }
  }

  private runRetention(): void {
    this.deleteOldChannelLogs().then(
      (deleted) => deleted > 0 && this.logger?.info({ deleted }, 'old channel logs deleted'),
      (err) => this.logger?.warn({ err }, 'channel log retention failed'),
    );
  }
}

async function withTimeout(check: Promise<unknown>, ms: number): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => (timer = setTimeout(() => resolve('down'), ms)));
  try {
    return await Promise.race([check.then(() => 'ok' as const, () => 'down' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether storing a spooled document failed for a reason that retrying cannot fix: the database
 * refused its data (SQLSTATE classes 22, 23 and 54), or Herald's own code refused it (an unknown
 * channel, a malformed document). The database unreachable, out of connections or disk, or a
 * deadlock (any other SQLSTATE) is worth another try.
 */
function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint_name?: unknown } | null;
  return e?.code === '23505' && e.constraint_name === constraint;
}

function isRejectedForGood(err: unknown): boolean {
  if (isConnectionError(err)) return false;
  const code = (err as { code?: unknown } | null)?.code;
  // 22 data exception, 23 integrity constraint, 54 program limit (an index row too large).
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(22|23|54)/.test(code);
  return true;
}
