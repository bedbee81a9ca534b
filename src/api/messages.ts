import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { Backend, NewMsgOut, QueueResult } from '../backend.js';
import type { Channel } from '../channel.js';
import { smsSegments } from '../gsm7.js';
import { handlerMaxLength, type ChannelHandler } from '../handler.js';
import { MSG_STATUSES, type MsgStatus, type Priority } from '../msg.js';
import { splitText } from '../split-text.js';
import { normalizeUrn, UrnError, urnScheme, type Urn } from '../urn.js';
import type { ApiEnv } from './auth.js';
import { ApiError, invalidFields, zodProblems } from './errors.js';
import { limitParam, pathUuid, readJson, validate } from './request.js';
import type { ApiStore, Caller, MsgView } from './store.js';

/** Most messages one batch request may queue (CONTRACT §3). */
export const MAX_BATCH = 1_000;
const MAX_TEXT = 10_000;

const attachment = z
  .string()
  .regex(/^[a-z]+\/[a-z0-9.+-]+:https?:\/\/\S+$/i, 'must be "content-type:URL", e.g. "image/jpeg:https://example.com/a.jpg"');

export const messageCreate = z
  .strictObject({
    channel: z.uuid('must be a channel uuid').transform((u) => u.toLowerCase()),
    urn: z.string('is required (e.g. "tel:+250788383383")').min(1, 'is required (e.g. "tel:+250788383383")'),
    text: z.string('must be a string').max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`).default(''),
    attachments: z.array(attachment, 'must be an array').max(10, 'at most 10').default([]),
    quick_replies: z.array(z.string().min(1, 'must not be empty').max(64, 'at most 64 characters'), 'must be an array').max(10, 'at most 10').default([]),
    priority: z.enum(['high', 'bulk'], 'must be "high" or "bulk"').optional(),
    send_at: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 time such as "2026-12-01T09:00:00Z"' }).optional(),
    metadata: z.record(z.string(), z.unknown(), 'must be an object').optional(),
  })
  .refine((m) => m.text.trim() !== '' || m.attachments.length > 0, { message: 'a message needs text or attachments', path: ['text'] });

type MessageCreate = z.output<typeof messageCreate>;

export interface MessageRoutesDeps {
  store: ApiStore;
  backend: Backend;
  handlers: ReadonlyMap<string, ChannelHandler>;
}

/**
 * `/messages`: queue one (with `Idempotency-Key`) or a batch, get one with its history, list with
 * a cursor, resend (CONTRACT §3).
 *
 * @example messageRoutes(api, { store, backend, handlers });
 */
export function messageRoutes(api: Hono<ApiEnv>, deps: MessageRoutesDeps): void {
  const { store } = deps;

  api.post('/messages', async (c) => {
    const { raw, value } = await readJson(c);
    const key = c.req.header('idempotency-key');
    if (key !== undefined && (key.trim() === '' || key.length > 255)) {
      throw invalidFields([{ field: 'Idempotency-Key', message: 'must be 1 to 255 characters' }]);
    }
    const caller = c.get('caller');
    const body = validate(messageCreate, value);
    const idempotency = key === undefined ? undefined : { key, requestHash: createHash('sha256').update(raw).digest('hex') };
    if (idempotency) {
      const earlier = await replayed(store, caller, idempotency.key, idempotency.requestHash);
      if (earlier) return c.json(earlier, 202);
    }
    const spec = await outgoingSpec(deps, caller, body, 'high', new Map());
    const [result] = await deps.backend.queueOutgoingBatch([idempotency ? { ...spec, idempotency } : spec], { refuseStopped: true });
    // Another request with this key won the race: answer as if this one came second.
    if (result!.kind === 'idempotency_key_taken') return c.json((await replayed(store, caller, idempotency!.key, idempotency!.requestHash))!, 202);
    if (result!.kind === 'contact_stopped') throw stoppedError(spec.urn);
    return c.json(queuedView(result!), 202);
  });

  api.post('/messages/batch', async (c) => {
    const caller = c.get('caller');
    const body = validate(z.object({ messages: z.array(z.unknown(), 'must be an array of messages').min(1, 'must not be empty') }), (await readJson(c)).value);
    if (body.messages.length > MAX_BATCH) {
      throw new ApiError(413, 'batch_too_large', `a batch holds at most ${MAX_BATCH} messages (got ${body.messages.length})`, [
        { field: 'messages', message: `at most ${MAX_BATCH}` },
      ]);
    }
    // Each item is checked on its own; those that pass are stored together, in one statement.
    const channels = new Map<string, Promise<Channel | null>>();
    const checked = await Promise.all(
      body.messages.map(async (item, i) => {
        try {
          const parsed = messageCreate.safeParse(item);
          if (!parsed.success) throw invalidFields(zodProblems(parsed.error, `messages.${i}`));
          return await outgoingSpec(deps, caller, parsed.data, 'bulk', channels, `messages.${i}.`);
        } catch (err) {
          if (err instanceof ApiError) return err;
          throw err;
        }
      }),
    );
    const specs = checked.filter((x): x is NewMsgOut => !(x instanceof ApiError));
    const queued = specs.length > 0 ? await deps.backend.queueOutgoingBatch(specs, { refuseStopped: true }) : [];
    let next = 0;
    const results = checked.map((x) => (x instanceof ApiError ? x.toJSON() : resultJson(queued[next++]!, x)));
    return c.json({ results }, 202);
  });

  api.get('/messages/:uuid', async (c) => {
    const uuid = pathUuid(c, 'uuid', 'message');
    const msg = await store.getMessage(c.get('caller').orgUuid, uuid);
    if (!msg) throw new ApiError(404, 'message_not_found', `no message with uuid ${uuid}`);
    return c.json(msg);
  });

  api.get('/messages', async (c) => {
    const filter = listFilter(c);
    const results = await store.listMessages(c.get('caller').orgUuid, filter);
    return c.json({ results, next: results.length === filter.limit ? results[results.length - 1]!.uuid : null });
  });

  api.post('/messages/:uuid/resend', async (c) => {
    const { orgUuid } = c.get('caller');
    const uuid = pathUuid(c, 'uuid', 'message');
    const result = await store.resendMessage(orgUuid, uuid);
    if (result === 'not_found') throw new ApiError(404, 'message_not_found', `no message with uuid ${uuid}`);
    if (result === 'not_resendable') throw new ApiError(409, 'not_resendable', 'only failed or errored outgoing messages can be resent');
    return c.json((await store.getMessage(orgUuid, uuid))!, 202);
  });
}

/** The message stored earlier under this key: the same one for the same body, else a 409. */
async function replayed(store: ApiStore, caller: Caller, key: string, requestHash: string): Promise<MsgView | null> {
  const earlier = await store.findIdempotent(caller.orgUuid, key);
  if (!earlier) return null;
  if (earlier.requestHash !== requestHash) {
    throw new ApiError(409, 'idempotency_conflict', `Idempotency-Key "${key}" was used with a different request body`);
  }
  return store.getMessage(caller.orgUuid, earlier.uuid);
}

/**
 * Checks one message against its channel (which must be the caller's org's) and builds what the
 * backend stores: a 4xx ApiError naming the field otherwise. `channels` memoises lookups within
 * one request.
 */
async function outgoingSpec(
  deps: MessageRoutesDeps,
  caller: Caller,
  body: MessageCreate,
  defaultPriority: Priority,
  channels: Map<string, Promise<Channel | null>>,
  fieldPrefix = '',
): Promise<NewMsgOut> {
  let lookup = channels.get(body.channel);
  if (!lookup) channels.set(body.channel, (lookup = deps.backend.getChannel(body.channel)));
  const channel = await lookup;
  if (!channel || channel.orgUuid !== caller.orgUuid) {
    throw new ApiError(422, 'unknown_channel', `no channel with uuid ${body.channel}`, [{ field: `${fieldPrefix}channel`, message: 'no such channel' }]);
  }
  const handler = deps.handlers.get(channel.type);
  if (!handler) throw new ApiError(422, 'unknown_channel', `channel ${channel.uuid} has type "${channel.type}", which this server does not serve`);
  let urn: Urn;
  try {
    urn = normalizeUrn(body.urn, channel.country);
  } catch (err) {
    if (err instanceof UrnError) throw invalidFields([{ field: `${fieldPrefix}urn`, message: err.message }]);
    throw err;
  }
  if (!handler.schemes.includes(urnScheme(urn))) {
    throw invalidFields([{ field: `${fieldPrefix}urn`, message: `${handler.name} channels send to ${handler.schemes.join(', ')} URNs, not ${urnScheme(urn)}` }]);
  }
  return {
    orgUuid: caller.orgUuid,
    channel,
    urn,
    text: body.text,
    attachments: body.attachments,
    quickReplies: body.quick_replies,
    priority: body.priority ?? defaultPriority,
    ...(body.send_at ? { sendAt: new Date(body.send_at) } : {}),
    ...(body.metadata ? { metadata: body.metadata } : {}),
    cost: sendCost(body.text, urn, handlerMaxLength(handler, channel)),
  };
}

/** A queued message as the API shows it, or the error that kept it from being queued. */
function resultJson(result: QueueResult, spec: NewMsgOut) {
  if (result.kind === 'queued') return queuedView(result);
  if (result.kind === 'contact_stopped') return stoppedError(spec.urn).toJSON();
  return new ApiError(409, 'idempotency_conflict', 'the idempotency key was already used').toJSON();
}

function queuedView({ msg, contact }: Extract<QueueResult, { kind: 'queued' }>): MsgView {
  const at = msg.createdOn.toISOString();
  return {
    uuid: msg.uuid,
    direction: 'out',
    channel: msg.channelUuid,
    urn: msg.urn,
    contact,
    text: msg.text,
    attachments: msg.attachments,
    quick_replies: msg.quickReplies,
    status: msg.status,
    external_id: null,
    priority: msg.priority,
    error_count: msg.errorCount,
    failed_reason: null,
    metadata: msg.metadata ?? null,
    created_on: at,
    sent_on: null,
    modified_on: at,
    history: [{ status: 'queued', at }],
  };
}

function stoppedError(urn: Urn): ApiError {
  return new ApiError(409, 'contact_stopped', `the contact ${urn} is stopped; unstop it before sending`);
}

/** What a message costs against its channel's TPS: its SMS parts for phone numbers, else its text parts. */
function sendCost(text: string, urn: Urn, maxLength: number): number {
  if (text === '') return 1;
  if (urnScheme(urn) === 'tel') return Math.max(1, smsSegments(text).segments);
  return Math.max(1, splitText(text, maxLength).length);
}

function listFilter(c: Context) {
  const q = c.req.query();
  const problems: Array<{ field: string; message: string }> = [];
  const known = new Set(['direction', 'channel', 'status', 'urn', 'after', 'limit']);
  for (const key of Object.keys(q)) if (!known.has(key)) problems.push({ field: key, message: `unknown filter (known: ${[...known].join(', ')})` });
  if (q.direction !== undefined && q.direction !== 'in' && q.direction !== 'out') problems.push({ field: 'direction', message: 'must be "in" or "out"' });
  if (q.channel !== undefined && !z.uuid().safeParse(q.channel).success) problems.push({ field: 'channel', message: 'must be a channel uuid' });
  if (q.status !== undefined && !(MSG_STATUSES as readonly string[]).includes(q.status)) problems.push({ field: 'status', message: `must be one of ${MSG_STATUSES.join(', ')}` });
  if (q.after !== undefined && !z.uuid().safeParse(q.after).success) problems.push({ field: 'after', message: 'must be a message uuid (the previous page\'s "next")' });
  let urn: Urn | undefined;
  if (q.urn !== undefined) {
    try {
      urn = normalizeUrn(q.urn, null);
    } catch (err) {
      problems.push({ field: 'urn', message: (err as Error).message });
    }
  }
  if (problems.length > 0) throw invalidFields(problems);
  return {
    limit: limitParam(c, 100, 500),
    ...(q.direction ? { direction: q.direction as 'in' | 'out' } : {}),
    ...(q.channel ? { channel: q.channel.toLowerCase() } : {}),
    ...(q.status ? { status: q.status as MsgStatus } : {}),
    ...(urn ? { urn } : {}),
    ...(q.after ? { after: q.after.toLowerCase() } : {}),
  };
}
