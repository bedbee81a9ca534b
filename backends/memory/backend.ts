import { newUuid } from '../../src/uuid.js';
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
import { ChannelConfig, type Channel } from '../../src/channel.js';
import type { ChannelLog } from '../../src/channel-log.js';
import type { ChannelEvent } from '../../src/event.js';
import type { MsgIn, MsgOut, MsgStatus } from '../../src/msg.js';
import type { Queue } from '../../src/queue.js';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from '../../src/retry.js';
import type { StatusUpdate } from '../../src/status.js';
import { canTransition, reportApplies } from '../../src/status-rules.js';
import type { Urn } from '../../src/urn.js';
import { MemoryQueue } from './queue.js';
import { DEFAULT_ORG_UUID } from '../../src/org.js';

export { DEFAULT_ORG_UUID };


const EXTERNAL_ID_WINDOW_MS = 48 * 3600_000;
const SAME_TEXT_WINDOW_MS = 5_000;

export interface StatusChange {
  status: MsgStatus;
  at: Date;
  reason?: string;
}

/** An outgoing message as the memory store keeps it. */
export interface StoredMsgOut extends MsgOut {
  orgUuid: string;
  history: StatusChange[];
  failedReason?: string;
  sentOn?: Date;
  externalIds: string[];
  claimed: boolean;
  /** What sending it costs against the channel's TPS, kept for its retries. */
  cost: number;
}

export type WriteKind = 'msgs' | 'statuses' | 'events' | 'logs' | 'outgoing';

export interface MemoryBackendOptions {
  queue?: Queue;
  retry?: RetryPolicy;
  now?: () => Date;
}

/**
 * The whole Backend in memory: the mock backend handler and sender tests inspect, with no
 * Postgres and no Redis. Its fields are the inspection helpers: what was written, in order.
 */
export class MemoryBackend implements Backend {
  readonly queue: Queue;
  readonly channels = new Map<string, Channel>();
  readonly msgsIn: MsgIn[] = [];
  readonly statuses: StatusUpdate[] = [];
  readonly events: ChannelEvent[] = [];
  readonly logs: ChannelLog[] = [];
  readonly outgoing = new Map<string, StoredMsgOut>();
  readonly stopped = new Set<string>();
  private readonly byExternalId = new Map<string, string>();
  private readonly idempotencyKeys = new Set<string>();
  private readonly contacts = new Map<string, string>();
  private readonly failures: Array<{ kind: WriteKind | 'any'; error: Error }> = [];
  private readonly listeners: Array<() => void> = [];
  private readonly retry: RetryPolicy;
  private readonly now: () => Date;

  constructor(opts: MemoryBackendOptions = {}) {
    this.queue = opts.queue ?? new MemoryQueue();
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY;
    this.now = opts.now ?? (() => new Date());
  }

  /** Adds (or replaces) a channel; missing fields get test-friendly defaults. */
  addChannel(spec: Partial<Omit<Channel, 'config'>> & { type: string; config?: Record<string, unknown> }): Channel {
    const channel: Channel = {
      uuid: spec.uuid ?? newUuid(),
      orgUuid: spec.orgUuid ?? DEFAULT_ORG_UUID,
      type: spec.type,
      name: spec.name ?? spec.type,
      address: spec.address ?? '',
      country: spec.country ?? null,
      tps: spec.tps ?? 0,
      config: new ChannelConfig(spec.config ?? {}),
    };
    this.channels.set(channel.uuid, channel);
    return channel;
  }

  /**
   * Adds an outgoing message already handed to the provider, as if sent: what a provider's
   * status callback refers to.
   */
  addSentMsg(spec: { channel: Channel; uuid?: string; externalId?: string; status?: MsgStatus; urn?: Urn; text?: string }): StoredMsgOut {
    const now = this.now();
    const status = spec.status ?? 'wired';
    const msg: StoredMsgOut = {
      uuid: spec.uuid ?? newUuid(),
      orgUuid: spec.channel.orgUuid,
      channelUuid: spec.channel.uuid,
      urn: spec.urn ?? 'tel:+250788383383',
      text: spec.text ?? 'hello',
      attachments: [],
      quickReplies: [],
      priority: 'high',
      status,
      errorCount: 0,
      createdOn: now,
      history: [{ status: 'queued', at: now }, { status, at: now }],
      externalIds: spec.externalId ? [spec.externalId] : [],
      ...(spec.externalId ? { externalId: spec.externalId } : {}),
      sentOn: now,
      claimed: false,
      cost: 1,
    };
    this.outgoing.set(msg.uuid, msg);
    if (spec.externalId) this.byExternalId.set(`${msg.channelUuid}|${spec.externalId}`, msg.uuid);
    return msg;
  }

  /** Makes the next write of `kind` (or of any kind) throw `error`, as a database outage would. */
  failNextWrite(kind: WriteKind | 'any' = 'any', error = new Error('simulated write failure')): void {
    this.failures.push({ kind, error });
  }

  async getChannel(uuid: string): Promise<Channel | null> {
    return this.channels.get(uuid) ?? null;
  }

  async writeMsgs(msgs: MsgIn[]): Promise<string[]> {
    this.maybeFail('msgs');
    return msgs.map((msg) => {
      const duplicate = this.findDuplicate(msg);
      if (duplicate) return duplicate.uuid;
      this.msgsIn.push(msg);
      return msg.uuid;
    });
  }

  async writeStatuses(updates: StatusUpdate[]): Promise<StatusWriteResult[]> {
    this.maybeFail('statuses');
    return updates.map((update) => {
      const uuid = update.msgUuid ?? (update.externalId ? this.byExternalId.get(`${update.channelUuid}|${update.externalId}`) : undefined);
      const msg = uuid ? this.outgoing.get(uuid) : undefined;
      if (!msg || msg.channelUuid !== update.channelUuid) return { msgUuid: null, result: 'unknown' };
      this.statuses.push(update);
      const moved = reportApplies(msg.status, update.status) && this.transition(msg, update.status, update.reason);
      return { msgUuid: msg.uuid, result: moved ? 'updated' : 'unchanged' };
    });
  }

  async writeEvents(events: ChannelEvent[]): Promise<void> {
    this.maybeFail('events');
    for (const event of events) {
      this.events.push(event);
      const channel = this.channels.get(event.channelUuid);
      if (event.type === 'stop_contact' && channel) this.stopped.add(contactKey(channel.orgUuid, event.urn));
    }
  }

  async writeChannelLog(log: ChannelLog): Promise<void> {
    this.maybeFail('logs');
    this.logs.push(log);
  }

  async queueOutgoing(spec: NewMsgOut): Promise<MsgOut> {
    this.maybeFail('outgoing');
    const now = this.now();
    if (spec.idempotency) {
      const key = `${spec.orgUuid ?? spec.channel.orgUuid}|${spec.idempotency.key}`;
      if (this.idempotencyKeys.has(key)) throw new IdempotencyKeyTaken(spec.idempotency.key);
      this.idempotencyKeys.add(key);
    }
    const { uuid, orgUuid, channelUuid, urn, text, attachments, quickReplies, priority, cost, metadata, sendAt } = outgoingSpec(spec);
    const msg: StoredMsgOut = {
      uuid,
      orgUuid,
      channelUuid,
      urn,
      text,
      attachments,
      quickReplies,
      priority,
      status: 'queued',
      errorCount: 0,
      ...(metadata ? { metadata } : {}),
      ...(sendAt ? { sendAt } : {}),
      createdOn: now,
      history: [{ status: 'queued', at: now }],
      externalIds: [],
      claimed: false,
      cost,
    };
    this.outgoing.set(msg.uuid, msg);
    await this.queue.push(spec.channel.uuid, spec.channel.tps, { id: msg.uuid, cost: msg.cost }, msg.priority, spec.sendAt);
    for (const listener of this.listeners) listener();
    return toMsgOut(msg);
  }

  async queueOutgoingBatch(msgs: NewMsgOut[], opts: { refuseStopped: boolean }): Promise<QueueResult[]> {
    const results: QueueResult[] = [];
    for (const spec of msgs) {
      const orgUuid = spec.orgUuid ?? spec.channel.orgUuid;
      if (opts.refuseStopped && this.stopped.has(contactKey(orgUuid, spec.urn))) {
        results.push({ kind: 'contact_stopped' });
        continue;
      }
      try {
        const msg = await this.queueOutgoing(spec);
        results.push({ kind: 'queued', msg, contact: { uuid: this.contactOf(orgUuid, spec.urn), name: null } });
      } catch (err) {
        if (!(err instanceof IdempotencyKeyTaken)) throw err;
        results.push({ kind: 'idempotency_key_taken' });
      }
    }
    return results;
  }

  /** A contact uuid per org and URN, made up the first time it is asked for. */
  private contactOf(orgUuid: string, urn: Urn): string {
    const key = contactKey(orgUuid, urn);
    let uuid = this.contacts.get(key);
    if (!uuid) this.contacts.set(key, (uuid = newUuid()));
    return uuid;
  }

  async popNextOutgoing(): Promise<OutgoingJob | null> {
    for (;;) {
      const popped = await this.queue.pop();
      if (!popped) return null;
      const msg = this.outgoing.get(popped.entry.id);
      const channel = this.channels.get(popped.channel);
      if (!msg || !channel || msg.claimed || (msg.status !== 'queued' && msg.status !== 'errored')) {
        await this.queue.complete(popped.token);
        continue;
      }
      msg.claimed = true;
      return {
        token: popped.token,
        msg: toMsgOut(msg),
        channel,
        contactStopped: this.stopped.has(contactKey(msg.orgUuid, msg.urn)),
        cost: msg.cost,
        poppedAt: this.now().getTime(),
      };
    }
  }

  async popOutgoing(max: number): Promise<OutgoingJob[]> {
    const jobs: OutgoingJob[] = [];
    while (jobs.length < max) {
      const job = await this.popNextOutgoing();
      if (!job) break;
      jobs.push(job);
    }
    return jobs;
  }

  async recordSendOutcome(job: OutgoingJob, outcome: SendOutcome, log: ChannelLog): Promise<RecordedOutcome> {
    const msg = this.outgoing.get(job.msg.uuid);
    this.logs.push(log);
    if (!msg) {
      await this.queue.complete(job.token);
      return { gaveUp: false };
    }
    let gaveUp = false;
    msg.claimed = false;
    switch (outcome.kind) {
      case 'sent':
        msg.externalIds = outcome.externalIds;
        if (outcome.externalIds[0]) msg.externalId = outcome.externalIds[0];
        for (const id of outcome.externalIds) this.byExternalId.set(`${msg.channelUuid}|${id}`, msg.uuid);
        msg.sentOn = this.now();
        this.transition(msg, outcome.status);
        break;
      case 'errored': {
        msg.errorCount += 1;
        const delay = retryDelayMs(msg.errorCount, this.retry);
        if (delay === null) {
          this.transition(msg, 'failed', `${outcome.reason} (after ${this.retry.maxRetries} retries)`);
          gaveUp = true;
          break;
        }
        this.transition(msg, 'errored', outcome.reason);
        const at = new Date(this.now().getTime() + delay);
        await this.queue.push(job.channel.uuid, job.channel.tps, { id: msg.uuid, cost: job.cost }, msg.priority, at);
        break;
      }
      case 'failed':
        this.transition(msg, 'failed', outcome.reason);
        if (outcome.stopContact) {
          // The provider said the person blocked or unsubscribed: the same as a stop_contact event.
          this.stopped.add(contactKey(msg.orgUuid, msg.urn));
          this.events.push({ uuid: newUuid(), channelUuid: msg.channelUuid, type: 'stop_contact', urn: msg.urn, receivedOn: this.now() });
        }
        break;
      case 'throttled':
        await this.queue.putBack(job.token, outcome.until);
        return { gaveUp };
    }
    await this.queue.complete(job.token);
    return { gaveUp };
  }

  onOutgoingQueued(listener: () => void): void {
    this.listeners.push(listener);
  }

  async stopContact(orgUuid: string, urn: Urn, _reason: string): Promise<void> {
    this.stopped.add(contactKey(orgUuid, urn));
  }

  async unstopContact(orgUuid: string, urn: Urn): Promise<void> {
    this.stopped.delete(contactKey(orgUuid, urn));
  }

  async isContactStopped(orgUuid: string, urn: Urn): Promise<boolean> {
    return this.stopped.has(contactKey(orgUuid, urn));
  }

  async health(): Promise<HealthChecks> {
    return { database: 'ok', redis: 'not_configured', queue: 'ok' };
  }

  async close(): Promise<void> {}

  private transition(msg: StoredMsgOut, status: MsgStatus, reason?: string): boolean {
    if (!canTransition(msg.status, status)) return false;
    msg.status = status;
    if (status === 'failed' && reason) msg.failedReason = reason;
    msg.history.push(reason ? { status, at: this.now(), reason } : { status, at: this.now() });
    return true;
  }

  private findDuplicate(msg: MsgIn): MsgIn | undefined {
    const now = msg.receivedOn.getTime();
    for (let i = this.msgsIn.length - 1; i >= 0; i--) {
      const seen = this.msgsIn[i]!;
      if (seen.channelUuid !== msg.channelUuid || seen.urn !== msg.urn) continue;
      const age = Math.abs(now - seen.receivedOn.getTime());
      if (msg.externalId) {
        if (seen.externalId === msg.externalId && age < EXTERNAL_ID_WINDOW_MS) return seen;
      } else if (!seen.externalId && seen.text === msg.text && sameAttachments(seen, msg) && age < SAME_TEXT_WINDOW_MS) {
        return seen;
      }
    }
    return undefined;
  }

  private maybeFail(kind: WriteKind): void {
    const i = this.failures.findIndex((f) => f.kind === kind || f.kind === 'any');
    if (i < 0) return;
    const [failure] = this.failures.splice(i, 1);
    throw failure!.error;
  }
}

function contactKey(orgUuid: string, urn: Urn): string {
  // The display part (`#username`) is not part of a contact's identity.
  return `${orgUuid}|${urn.split('#')[0]}`;
}

function sameAttachments(a: MsgIn, b: MsgIn): boolean {
  return a.attachments.length === b.attachments.length && a.attachments.every((x, i) => x === b.attachments[i]);
}

function toMsgOut(msg: StoredMsgOut): MsgOut {
  const { orgUuid: _org, history: _history, failedReason: _reason, sentOn: _sent, externalIds: _ids, claimed: _claimed, cost: _cost, ...out } = msg;
  return { ...out, attachments: [...out.attachments], quickReplies: [...out.quickReplies] };
}
