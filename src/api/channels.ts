import type { Hono } from 'hono';
import { z } from 'zod';
import { ChannelConfig, callbackUrl, type Channel } from '../channel.js';
import type { ChannelHandler } from '../handler.js';
import { newUuid } from '../uuid.js';
import { ChannelConfigError } from '../send-error.js';
import type { ApiEnv } from './auth.js';
import { ApiError, invalidFields } from './errors.js';
import { limitParam, pathUuid, readJson, validate } from './request.js';
import type { ApiStore, ChannelRecord } from './store.js';

/** How secret config values are shown: never echoed (CONTRACT §3). */
export const MASK = '********';

const country = z.string().regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166 alpha-2 code such as "RW"').transform((c) => c.toUpperCase());
const name = z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters');
const address = z.string().trim().max(64, 'must be at most 64 characters');
const tps = z.number().int('must be a whole number').min(0, 'must be 0 (unlimited) or more').max(10_000, 'must be at most 10000');
const config = z.record(z.string(), z.unknown(), 'must be an object of settings');

export const channelCreate = z.strictObject({
  type: z.string('is required'),
  uuid: z.uuid('must be a uuid').transform((u) => u.toLowerCase()).optional(),
  name: name.optional(),
  address: address.optional(),
  country: country.nullable().optional(),
  tps: tps.optional(),
  config: config.default({}),
});

/** Settings given as null are removed; those not given (or given back masked) are kept. */
export const channelPatch = z.strictObject({
  name: name.optional(),
  address: address.optional(),
  country: country.nullable().optional(),
  tps: tps.optional(),
  config: config.optional(),
});

export interface ChannelRoutesDeps {
  store: ApiStore;
  handlers: ReadonlyMap<string, ChannelHandler>;
  baseUrl: string;
}

/**
 * `/channels`: create, list, get, update, delete, and each channel's logs (CONTRACT §3).
 *
 * @example channelRoutes(api, { store, handlers, baseUrl });
 */
export function channelRoutes(api: Hono<ApiEnv>, deps: ChannelRoutesDeps): void {
  const { store, handlers, baseUrl } = deps;
  const view = (record: ChannelRecord) => channelView(record, handlers.get(record.channel.type), baseUrl);

  api.post('/channels', async (c) => {
    const body = validate(channelCreate, (await readJson(c)).value);
    const handler = handlers.get(body.type);
    if (!handler) {
      throw invalidFields([{ field: 'type', message: `unknown channel type "${body.type}" (known: ${[...handlers.keys()].join(', ')})` }]);
    }
    const { orgUuid } = c.get('caller');
    const uuid = body.uuid ?? newUuid();
    checkConfig(handler, { uuid, orgUuid, type: body.type, name: body.name ?? body.type, address: body.address ?? '', country: body.country ?? null, tps: body.tps ?? 0, config: new ChannelConfig(body.config) });
    const created = await store.createChannel(orgUuid, { ...body, uuid });
    if (!created) throw new ApiError(409, 'channel_exists', `a channel with uuid ${uuid} already exists`, [{ field: 'uuid', message: 'is taken' }]);
    return c.json(view(created), 201);
  });

  api.get('/channels', async (c) => {
    const records = await store.listChannels(c.get('caller').orgUuid);
    return c.json({ results: records.map(view) });
  });

  api.get('/channels/:uuid', async (c) => c.json(view(await found(c.get('caller').orgUuid, pathUuid(c, 'uuid', 'channel')))));

  api.patch('/channels/:uuid', async (c) => {
    const { orgUuid } = c.get('caller');
    const uuid = pathUuid(c, 'uuid', 'channel');
    const patch = validate(channelPatch, (await readJson(c)).value);
    const current = await found(orgUuid, uuid);
    // A setting sent back exactly as it was shown (masked) keeps the value it stands for.
    const shown = maskedConfig(current.channel, handlers.get(current.channel.type));
    const given = patch.config
      ? Object.fromEntries(Object.entries(patch.config).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(shown[key])))
      : undefined;
    const merged = given ? withoutNulls({ ...current.channel.config.toJSON(), ...given }) : undefined;
    checkConfig(handlers.get(current.channel.type)!, {
      ...current.channel,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.address !== undefined ? { address: patch.address } : {}),
      ...(patch.country !== undefined ? { country: patch.country } : {}),
      ...(patch.tps !== undefined ? { tps: patch.tps } : {}),
      ...(merged ? { config: new ChannelConfig(merged) } : {}),
    });
    const updated = await store.updateChannel(orgUuid, uuid, { ...patch, ...(merged ? { config: merged } : {}) });
    if (!updated) throw notFound(uuid);
    return c.json(view(updated));
  });

  api.delete('/channels/:uuid', async (c) => {
    const uuid = pathUuid(c, 'uuid', 'channel');
    if (!(await store.deleteChannel(c.get('caller').orgUuid, uuid))) throw notFound(uuid);
    return c.body(null, 204);
  });

  api.get('/channels/:uuid/logs', async (c) => {
    const { orgUuid } = c.get('caller');
    const uuid = pathUuid(c, 'uuid', 'channel');
    await found(orgUuid, uuid);
    const limit = limitParam(c, 50, 500);
    const before = c.req.query('before');
    if (before !== undefined && !z.uuid().safeParse(before).success) throw invalidFields([{ field: 'before', message: 'must be a channel log uuid' }]);
    const results = await store.channelLogs(orgUuid, uuid, { limit, ...(before ? { before } : {}) });
    return c.json({ results, next: results.length === limit ? results[results.length - 1]!.uuid : null });
  });

  async function found(orgUuid: string, uuid: string): Promise<ChannelRecord> {
    const record = await store.getChannel(orgUuid, uuid);
    if (!record) throw notFound(uuid);
    return record;
  }
}

/**
 * A channel as the API shows it: secret settings masked, the callback URLs to give the provider.
 *
 * @example channelView(record, handler, 'https://herald.example.com').callback_urls.receive
 */
export function channelView(record: ChannelRecord, handler: ChannelHandler | undefined, baseUrl: string) {
  const { channel } = record;
  const config = maskedConfig(channel, handler);
  const actions = [...new Set(handler?.routes.map((r) => r.action) ?? [])];
  return {
    uuid: channel.uuid,
    type: channel.type,
    name: channel.name,
    address: channel.address,
    country: channel.country,
    tps: channel.tps,
    config,
    callback_urls: Object.fromEntries(actions.map((action) => [action, callbackUrl(baseUrl, channel, action)])),
    created_on: record.createdOn.toISOString(),
  };
}

/**
 * The channel's settings with every secret value masked, wherever it appears: a whole value, a
 * header inside an object, the password inside a URL.
 */
function maskedConfig(channel: Channel, handler: ChannelHandler | undefined): Record<string, unknown> {
  const secrets = [...new Set(handler?.redact(channel).filter((s) => s.length >= 4) ?? [])].sort((a, b) => b.length - a.length);
  const mask = (value: unknown): unknown => {
    if (typeof value === 'string') return secrets.reduce((text, secret) => text.replaceAll(secret, MASK), value);
    if (typeof value === 'number' || typeof value === 'boolean') return secrets.includes(String(value)) ? MASK : value;
    if (Array.isArray(value)) return value.map(mask);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]));
    return value;
  };
  return mask(channel.config.toJSON()) as Record<string, unknown>;
}

function checkConfig(handler: ChannelHandler, channel: Channel): void {
  try {
    handler.checkConfig(channel);
  } catch (err) {
    if (err instanceof ChannelConfigError) throw invalidFields([{ field: 'config', message: err.message }]);
    throw err;
  }
}

function withoutNulls(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([, value]) => value !== null));
}

function notFound(uuid: string): ApiError {
  return new ApiError(404, 'channel_not_found', `no channel with uuid ${uuid}`);
}
