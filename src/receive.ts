import { newUuid } from './uuid.js';
import type { Backend } from './backend.js';
import type { Channel } from './channel.js';
import type { ChannelEvent } from './event.js';
import { RequestError, type CommittedItem, type HandleResult } from './handler.js';
import { storableText, type MsgIn } from './msg.js';
import type { StatusUpdate } from './status.js';

/** One item of the JSON answer to a provider (CONTRACT §2). */
export type ResponseItem =
  | {
      type: 'msg';
      channel_uuid: string;
      msg_uuid: string;
      urn: string;
      text: string;
      attachments?: string[];
      external_id?: string;
      received_on: string;
    }
  | { type: 'status'; channel_uuid: string; msg_uuid?: string; external_id?: string; status: string }
  | { type: 'event'; channel_uuid: string; event_type: string; urn: string; received_on: string }
  | { type: 'info'; info: string }
  | { type: 'error'; error: string };

export interface Committed {
  message: 'Message Accepted' | 'Status Update Accepted' | 'Event Accepted' | 'Ignored';
  data: ResponseItem[];
  items: CommittedItem[];
  /** The one message this request was about, for its channel log. */
  msgUuid?: string;
}

/**
 * Stores what a handler found in a provider request: messages (deduplicated by the backend),
 * status updates and channel events, and answers what to tell the provider. Status updates for
 * messages the store does not know are answered "Ignored", so the provider stops retrying.
 */
export async function commitHandled(
  backend: Backend,
  channel: Channel,
  result: Extract<HandleResult, { kind: 'accepted' }>,
  now: Date,
): Promise<Committed> {
  const data: ResponseItem[] = [];
  const items: CommittedItem[] = [];
  const unknown: string[] = [];

  checkStorable(result);

  if (result.msgs.length > 0) {
    const msgs: MsgIn[] = result.msgs.map((m) => ({
      uuid: newUuid(),
      channelUuid: channel.uuid,
      urn: m.urn,
      text: storableText(m.text),
      attachments: (m.attachments ?? []).map(storableText),
      ...(m.externalId ? { externalId: storableText(m.externalId) } : {}),
      ...(m.contactName ? { contactName: storableText(m.contactName) } : {}),
      receivedOn: m.receivedOn ?? now,
    }));
    const stored = await backend.writeMsgs(msgs);
    msgs.forEach((m, i) => {
      const uuid = stored[i] ?? m.uuid;
      items.push({ type: 'msg', msgUuid: uuid });
      data.push({
        type: 'msg',
        channel_uuid: channel.uuid,
        msg_uuid: uuid,
        urn: m.urn,
        text: m.text,
        ...(m.attachments.length > 0 ? { attachments: m.attachments } : {}),
        ...(m.externalId ? { external_id: m.externalId } : {}),
        received_on: m.receivedOn.toISOString(),
      });
    });
  }

  if (result.statuses.length > 0) {
    const updates: StatusUpdate[] = result.statuses.map((s) => ({
      channelUuid: channel.uuid,
      ...(s.msgUuid ? { msgUuid: s.msgUuid } : {}),
      ...(s.externalId ? { externalId: storableText(s.externalId) } : {}),
      status: s.status,
      ...(s.reason ? { reason: storableText(s.reason) } : {}),
      receivedOn: now,
    }));
    const written = await backend.writeStatuses(updates);
    updates.forEach((u, i) => {
      const w = written[i];
      if (!w || w.result === 'unknown') {
        unknown.push(u.msgUuid ? `no message with uuid ${u.msgUuid}` : `no message with external id ${u.externalId}`);
        return;
      }
      items.push({ type: 'status', msgUuid: w.msgUuid ?? undefined });
      data.push({
        type: 'status',
        channel_uuid: channel.uuid,
        ...(w.msgUuid ? { msg_uuid: w.msgUuid } : {}),
        ...(u.externalId ? { external_id: u.externalId } : {}),
        status: u.status,
      });
    });
  }

  if (result.events.length > 0) {
    const events: ChannelEvent[] = result.events.map((e) => ({
      uuid: newUuid(),
      channelUuid: channel.uuid,
      type: e.type,
      urn: e.urn,
      ...(e.contactName ? { contactName: storableText(e.contactName) } : {}),
      ...(e.extra ? { extra: e.extra } : {}),
      receivedOn: e.receivedOn ?? now,
    }));
    await backend.writeEvents(events);
    for (const e of events) {
      items.push({ type: 'event' });
      data.push({
        type: 'event',
        channel_uuid: channel.uuid,
        event_type: e.type,
        urn: e.urn,
        received_on: e.receivedOn.toISOString(),
      });
    }
  }

  const single = items.length === 1 ? items[0]?.msgUuid : undefined;
  if (items.length === 0) {
    const reasons = unknown.length > 0 ? unknown : ['nothing to store in request'];
    return { message: 'Ignored', data: reasons.map((info) => ({ type: 'info', info })), items };
  }
  const message =
    result.msgs.length > 0 ? 'Message Accepted' : data.some((d) => d.type === 'status') ? 'Status Update Accepted' : 'Event Accepted';
  return { message, data, items, ...(single ? { msgUuid: single } : {}) };
}

/** Longest URN or provider id stored: they are indexed, and no real one comes near it. */
const MAX_ID_LENGTH = 255;

/**
 * Refuses (400) what a handler accepted but the store could never hold: a URN or provider id
 * too long to index. Stored, it would fail its write on every retry instead.
 */
function checkStorable(result: Extract<HandleResult, { kind: 'accepted' }>): void {
  const tooLong = (what: string, value: string | undefined) => {
    if (value !== undefined && value.length > MAX_ID_LENGTH) {
      throw new RequestError(400, `${what} is ${value.length} characters long; the limit is ${MAX_ID_LENGTH}`);
    }
  };
  for (const m of result.msgs) {
    tooLong('the sender', m.urn);
    tooLong("the provider's message id", m.externalId);
  }
  for (const s of result.statuses) tooLong("the provider's message id", s.externalId);
  for (const e of result.events) tooLong('the sender', e.urn);
}
