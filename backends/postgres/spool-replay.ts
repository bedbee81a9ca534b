/**
 * Turning spooled documents back into the values they were written from. A spool file is JSON,
 * so Dates come back as strings; anything that does not have the expected shape is a
 * PermanentSpoolError (the flusher quarantines it rather than retrying forever).
 */
import type { ChannelLog, HttpLog } from '../../src/channel-log.js';
import type { ChannelEvent } from '../../src/event.js';
import type { MsgIn } from '../../src/msg.js';
import type { StatusUpdate } from '../../src/status.js';
import { PermanentSpoolError } from '../../spool/flusher.js';

type Doc = Record<string, unknown>;

/** @example parseSpooledMsgs(JSON.parse(text)) // MsgIn[] with Dates */
export function parseSpooledMsgs(payload: unknown): MsgIn[] {
  return list(payload, 'msgs').map((d) => ({ ...(d as unknown as MsgIn), ...need(d, ['uuid', 'channelUuid', 'urn', 'text']), attachments: strings(d.attachments), receivedOn: date(d.receivedOn, 'receivedOn') }));
}

export function parseSpooledStatuses(payload: unknown): StatusUpdate[] {
  return list(payload, 'statuses').map((d) => ({ ...(d as unknown as StatusUpdate), ...need(d, ['channelUuid', 'status']), receivedOn: date(d.receivedOn, 'receivedOn') }));
}

export function parseSpooledEvents(payload: unknown): ChannelEvent[] {
  return list(payload, 'events').map((d) => ({ ...(d as unknown as ChannelEvent), ...need(d, ['uuid', 'channelUuid', 'type', 'urn']), receivedOn: date(d.receivedOn, 'receivedOn') }));
}

export function parseSpooledLog(payload: unknown): ChannelLog {
  if (!isDoc(payload)) throw new PermanentSpoolError('spooled channel log is not an object');
  const d = payload;
  if (!Array.isArray(d.httpLogs) || !Array.isArray(d.errors)) throw new PermanentSpoolError('spooled channel log has no httpLogs/errors arrays');
  return {
    ...(d as unknown as ChannelLog),
    ...need(d, ['uuid', 'type', 'channelUuid']),
    httpLogs: d.httpLogs.map((h: unknown): HttpLog => {
      if (!isDoc(h)) throw new PermanentSpoolError('spooled channel log has an http log that is not an object');
      return { ...(h as unknown as HttpLog), createdOn: date(h.createdOn, 'httpLogs[].createdOn') };
    }),
    createdOn: date(d.createdOn, 'createdOn'),
  };
}

function isDoc(value: unknown): value is Doc {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(payload: unknown, kind: string): Doc[] {
  if (!Array.isArray(payload) || !payload.every(isDoc)) throw new PermanentSpoolError(`spooled ${kind} must be an array of objects`);
  return payload;
}

function need(d: Doc, fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    if (typeof d[f] !== 'string') throw new PermanentSpoolError(`spooled document has no string "${f}"`);
    out[f] = d[f] as string;
  }
  return out;
}

function strings(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new PermanentSpoolError('spooled "attachments" must be an array of strings');
  return value;
}

function date(value: unknown, field: string): Date {
  const d = typeof value === 'string' || value instanceof Date ? new Date(value) : null;
  if (!d || Number.isNaN(d.getTime())) throw new PermanentSpoolError(`spooled "${field}" is not a date`);
  return d;
}
