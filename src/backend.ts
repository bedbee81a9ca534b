import type { Channel } from './channel.js';
import type { ChannelLog } from './channel-log.js';
import type { ChannelEvent } from './event.js';
import type { MsgIn, MsgOut, Priority } from './msg.js';
import type { StatusUpdate } from './status.js';
import type { Urn } from './urn.js';
import { newUuid } from './uuid.js';

/**
 * Everything the server, the API and the Senders need from storage. Two implementations:
 * `backends/postgres` (Postgres is the source of truth, the queue a scheduler) and
 * `backends/memory` (the mock backend for handler and sender tests).
 */
export interface Backend {
  /** A channel by uuid, cached; null when there is none. */
  getChannel(uuid: string): Promise<Channel | null>;

  /**
   * Stores incoming messages and answers, for each, the uuid it is stored under: a duplicate
   * of a message already received (same provider id, or same text from the same URN moments
   * ago) answers the first message's uuid and is not stored again.
   */
  writeMsgs(msgs: MsgIn[]): Promise<string[]>;
  /** Applies provider status reports; each answer says whether its message was found. */
  writeStatuses(updates: StatusUpdate[]): Promise<StatusWriteResult[]>;
  /** Stores channel events; a `stop_contact` event also stops the contact. */
  writeEvents(events: ChannelEvent[]): Promise<void>;
  writeChannelLog(log: ChannelLog): Promise<void>;

  /**
   * Stores an outgoing message as `queued` and pushes it to the queue, even to a stopped contact
   * (its send then fails as `contact_stopped`). Throws IdempotencyKeyTaken for a key in use.
   */
  queueOutgoing(msg: NewMsgOut): Promise<MsgOut>;
  /**
   * Stores and pushes many outgoing messages at once (a few round trips for all of them) and
   * answers what became of each; with `refuseStopped`, messages to stopped contacts are not stored.
   */
  queueOutgoingBatch(msgs: NewMsgOut[], opts: { refuseStopped: boolean }): Promise<QueueResult[]>;
  /** Pops and claims the next message to send, skipping any already claimed or sent. */
  popNextOutgoing(): Promise<OutgoingJob | null>;
  /**
   * Pops and claims up to `max` messages to send in one go (one queue step and one claim for
   * them all), skipping any already claimed or sent; empty only when nothing can be sent now.
   */
  popOutgoing(max: number): Promise<OutgoingJob[]>;
  /** Records what happened to a send and finishes its queue token. */
  recordSendOutcome(job: OutgoingJob, outcome: SendOutcome, log: ChannelLog): Promise<RecordedOutcome>;
  /** Called whenever a message is queued in this process, so the Foreman can wake at once. */
  onOutgoingQueued(listener: () => void): void;

  stopContact(orgUuid: string, urn: Urn, reason: string): Promise<void>;
  unstopContact(orgUuid: string, urn: Urn): Promise<void>;
  isContactStopped(orgUuid: string, urn: Urn): Promise<boolean>;

  health(): Promise<HealthChecks>;
  close(): Promise<void>;
}

export interface StatusWriteResult {
  /** The message the update was for, when it was found. */
  msgUuid: string | null;
  /**
   * `updated` moved it forward; `unchanged` was not a forward move; `unknown` found no message;
   * `spooled` could not be checked (the database is down) and was saved to the spool, to be
   * applied when it is back: accept it.
   */
  result: 'updated' | 'unchanged' | 'unknown' | 'spooled';
}

export interface NewMsgOut {
  uuid?: string;
  orgUuid?: string;
  channel: Channel;
  urn: Urn;
  text: string;
  attachments?: string[];
  quickReplies?: string[];
  priority?: Priority;
  sendAt?: Date;
  metadata?: Record<string, unknown>;
  /** What sending it costs against the channel's TPS: its number of SMS parts. */
  cost?: number;
  /**
   * The upstream app's `Idempotency-Key` and a hash of its request: a second message with the
   * same key in the same org is refused with IdempotencyKeyTaken.
   */
  idempotency?: { key: string; requestHash: string };
}

/** A NewMsgOut with its defaults filled in: what both backends store. */
export interface OutgoingSpec {
  uuid: string;
  orgUuid: string;
  channelUuid: string;
  urn: Urn;
  text: string;
  attachments: string[];
  quickReplies: string[];
  priority: Priority;
  cost: number;
  metadata: Record<string, unknown> | null;
  sendAt: Date | null;
  idempotency: { key: string; requestHash: string } | null;
}

/**
 * The defaults of a new outgoing message: a new uuid, the channel's org, no attachments or quick
 * replies, `high` priority (a reply or single send), one SMS part.
 *
 * @example const row = outgoingSpec({ channel, urn: 'tel:+250788383383', text: 'hi' }); // row.priority === 'high'
 */
export function outgoingSpec(spec: NewMsgOut): OutgoingSpec {
  return {
    uuid: spec.uuid ?? newUuid(),
    orgUuid: spec.orgUuid ?? spec.channel.orgUuid,
    channelUuid: spec.channel.uuid,
    urn: spec.urn,
    text: spec.text,
    attachments: spec.attachments ?? [],
    quickReplies: spec.quickReplies ?? [],
    priority: spec.priority ?? 'high',
    cost: spec.cost ?? 1,
    metadata: spec.metadata ?? null,
    sendAt: spec.sendAt ?? null,
    idempotency: spec.idempotency ?? null,
  };
}

/** What became of one message given to `queueOutgoingBatch`. */
export type QueueResult =
  | { kind: 'queued'; msg: MsgOut; contact: { uuid: string; name: string | null } }
  | { kind: 'contact_stopped' }
  | { kind: 'idempotency_key_taken' };

/** Another message of the org was already queued with this idempotency key. */
export class IdempotencyKeyTaken extends Error {
  override readonly name = 'IdempotencyKeyTaken';
  constructor(readonly key: string) {
    super(`idempotency key "${key}" was already used`);
  }
}

export interface OutgoingJob {
  token: string;
  msg: MsgOut;
  channel: Channel;
  /** The contact stopped after this was queued: fail it without sending. */
  contactStopped: boolean;
  /** What sending it costs against the channel's TPS (its SMS parts), kept for its retries. */
  cost: number;
  /** When it was popped, in ms: its cost counts in that wall-clock second of its channel's TPS. */
  poppedAt?: number;
}

export type SendOutcome =
  | { kind: 'sent'; status: 'wired' | 'sent'; externalIds: string[] }
  /** Retried with back-off, then failed after the last retry. */
  | { kind: 'errored'; reason: string }
  | { kind: 'failed'; reason: string; stopContact?: boolean }
  /** Put back at the head of its lane, the channel paused until `until`; not an error. */
  | { kind: 'throttled'; until: Date };

export interface RecordedOutcome {
  /** An `errored` send that was its message's last try: the message failed for good. */
  gaveUp: boolean;
}

export type CheckStatus = 'ok' | 'degraded' | 'down';

export interface HealthChecks {
  database: CheckStatus;
  /** `not_configured` when the queue is in-process. */
  redis?: CheckStatus | 'not_configured';
  queue: CheckStatus;
  /** `degraded` while documents wait in the disk spool, `down` when it cannot be written; absent without a spool. */
  spool?: CheckStatus;
}
