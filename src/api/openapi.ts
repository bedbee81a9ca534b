import { z } from 'zod';
import { channelCreate, channelPatch } from './channels.js';
import { messageCreate } from './messages.js';
import { orgCreate, orgPatch } from './orgs.js';

type Schema = Record<string, unknown>;

const str = { type: 'string' };
const nullableStr = { type: ['string', 'null'] };
const time = { type: 'string', format: 'date-time' };
const uuid = { type: 'string', format: 'uuid' };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const page = (item: string) => ({
  type: 'object',
  properties: { results: { type: 'array', items: ref(item) }, next: { type: ['string', 'null'], description: 'cursor of the next page; null on the last' } },
});

const components: Record<string, Schema> = {
  Error: {
    type: 'object',
    properties: {
      error: {
        type: 'object',
        properties: {
          code: str,
          message: str,
          details: { type: 'array', items: { type: 'object', properties: { field: str, message: str } } },
        },
        required: ['code', 'message'],
      },
    },
  },
  Channel: {
    type: 'object',
    properties: {
      uuid,
      type: str,
      name: str,
      address: str,
      country: nullableStr,
      tps: { type: 'integer' },
      config: { type: 'object', description: 'secret values are shown as "********"' },
      callback_urls: { type: 'object', additionalProperties: str },
      created_on: time,
    },
  },
  Message: {
    type: 'object',
    properties: {
      uuid,
      direction: { enum: ['in', 'out'] },
      channel: uuid,
      urn: str,
      contact: { type: 'object', properties: { uuid, name: nullableStr } },
      text: str,
      attachments: { type: 'array', items: str },
      quick_replies: { type: 'array', items: str },
      status: { enum: ['pending', 'queued', 'wired', 'sent', 'delivered', 'read', 'errored', 'failed'] },
      external_id: nullableStr,
      priority: { enum: ['high', 'bulk'] },
      error_count: { type: 'integer' },
      failed_reason: nullableStr,
      metadata: { type: ['object', 'null'] },
      created_on: time,
      sent_on: { type: ['string', 'null'], format: 'date-time' },
      modified_on: time,
      history: { type: 'array', items: { type: 'object', properties: { status: str, at: time, reason: str } } },
    },
  },
  Contact: {
    type: 'object',
    properties: { uuid, name: nullableStr, urns: { type: 'array', items: str }, stopped: { type: 'boolean' }, stopped_on: nullableStr, stopped_reason: nullableStr, created_on: time },
  },
  Org: { type: 'object', properties: { uuid, name: str, webhook_url: nullableStr, webhook_secret: nullableStr, created_on: time } },
  NewOrg: { type: 'object', properties: { uuid, name: str, token: { type: 'string', description: 'shown once; only its hash is kept' } } },
  Event: {
    type: 'object',
    properties: {
      id: str,
      type: { enum: ['message.received', 'message.status', 'channel.event', 'contact.stopped', 'contact.unstopped'] },
      created_on: time,
      data: { type: 'object' },
      delivery: { type: 'object', properties: { attempts: { type: 'integer' }, last_error: nullableStr, delivered_on: nullableStr, failed_on: nullableStr } },
    },
  },
  ChannelLog: {
    type: 'object',
    properties: {
      uuid,
      type: str,
      msg_uuid: uuid,
      is_error: { type: 'boolean' },
      elapsed_ms: { type: 'integer' },
      created_on: time,
      http_logs: { type: 'array', items: { type: 'object', properties: { method: str, url: str, status_code: { type: ['integer', 'null'] }, request: str, response: str, elapsed_ms: { type: 'integer' } } } },
      errors: { type: 'array', items: { type: 'object', properties: { code: str, message: str } } },
    },
  },
  BatchResults: { type: 'object', properties: { results: { type: 'array', items: { oneOf: [ref('Message'), ref('Error')] } } } },
};

const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const requestBody = (schema: z.ZodType) => ({ required: true, ...json(z.toJSONSchema(schema, { io: 'input' }) as Schema) });
const ok = (status: number, schema?: Schema, description = 'success') => ({ [status]: { description, ...(schema ? json(schema) : {}) } });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, { description: 'error', ...json(ref('Error')) }]));
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, schema: str, description });
const query = (name: string, description: string) => ({ name, in: 'query', required: false, schema: str, description });

/**
 * The OpenAPI 3.1 document of the upstream API, served at `/api/v1/openapi.json`. Request bodies
 * come from the same zod schemas the routes validate with, so the two cannot drift apart.
 *
 * @example openApiDocument('https://herald.example.com').paths['/messages'].post
 */
export function openApiDocument(baseUrl: string): Schema {
  const channelUuid = pathParam('uuid', 'channel uuid');
  const msgUuid = pathParam('uuid', 'message uuid');
  const urn = pathParam('urn', 'URL-encoded URN, e.g. tel%3A%2B250788383383');
  return {
    openapi: '3.1.0',
    info: { title: 'Herald API', version: '1' },
    servers: [{ url: `${baseUrl}/api/v1` }],
    security: [{ bearer: [] }],
    components: { schemas: components, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths: {
      '/openapi.json': { get: { summary: 'This document', security: [], responses: ok(200, { type: 'object' }) } },
      '/channels': {
        post: { summary: 'Create a channel', requestBody: requestBody(channelCreate), responses: { ...ok(201, ref('Channel')), ...errors(400, 401, 409, 413) } },
        get: { summary: "List the org's channels", responses: { ...ok(200, { type: 'object', properties: { results: { type: 'array', items: ref('Channel') } } }), ...errors(401) } },
      },
      '/channels/{uuid}': {
        get: { summary: 'Get a channel', parameters: [channelUuid], responses: { ...ok(200, ref('Channel')), ...errors(401, 404) } },
        patch: { summary: 'Update a channel (config keys set to null are removed)', parameters: [channelUuid], requestBody: requestBody(channelPatch), responses: { ...ok(200, ref('Channel')), ...errors(400, 401, 404) } },
        delete: { summary: 'Delete a channel', parameters: [channelUuid], responses: { ...ok(204, undefined, 'deleted'), ...errors(401, 404) } },
      },
      '/channels/{uuid}/logs': {
        get: {
          summary: "A channel's logs, newest first",
          parameters: [channelUuid, query('limit', '1–500, default 50'), query('before', 'the previous page\'s "next"')],
          responses: { ...ok(200, page('ChannelLog')), ...errors(400, 401, 404) },
        },
      },
      '/messages': {
        post: {
          summary: 'Queue a message',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: str, description: 'the same key and body answer the same message; another body is a 409' }],
          requestBody: requestBody(messageCreate),
          responses: { ...ok(202, ref('Message')), ...errors(400, 401, 409, 413, 422, 503) },
        },
        get: {
          summary: 'List messages, oldest first after the cursor',
          parameters: [query('direction', 'in or out'), query('channel', 'channel uuid'), query('status', 'a status'), query('urn', 'a URN'), query('after', 'the previous page\'s "next"'), query('limit', '1–500, default 100')],
          responses: { ...ok(200, page('Message')), ...errors(400, 401) },
        },
      },
      '/messages/batch': {
        post: {
          summary: 'Queue up to 1,000 messages (default priority bulk)',
          requestBody: { required: true, ...json({ type: 'object', properties: { messages: { type: 'array', maxItems: 1000, items: z.toJSONSchema(messageCreate, { io: 'input' }) } }, required: ['messages'] }) },
          responses: { ...ok(202, ref('BatchResults')), ...errors(400, 401, 413) },
        },
      },
      '/messages/{uuid}': { get: { summary: 'Get a message with its status history', parameters: [msgUuid], responses: { ...ok(200, ref('Message')), ...errors(401, 404) } } },
      '/messages/{uuid}/resend': {
        post: { summary: 'Queue a failed or errored outgoing message again', parameters: [msgUuid], responses: { ...ok(202, ref('Message')), ...errors(401, 404, 409) } },
      },
      '/contacts/{urn}': { get: { summary: 'Get a contact', parameters: [urn], responses: { ...ok(200, ref('Contact')), ...errors(400, 401, 404) } } },
      '/contacts/{urn}/stop': { post: { summary: 'Stop a contact', parameters: [urn], responses: { ...ok(200, ref('Contact')), ...errors(400, 401) } } },
      '/contacts/{urn}/unstop': { post: { summary: 'Unstop a contact', parameters: [urn], responses: { ...ok(200, ref('Contact')), ...errors(400, 401, 404) } } },
      '/orgs': { post: { summary: 'Create an org and its token (admin token only)', requestBody: requestBody(orgCreate), responses: { ...ok(201, ref('NewOrg')), ...errors(400, 401, 403) } } },
      '/org': {
        get: { summary: "The caller's org", responses: { ...ok(200, ref('Org')), ...errors(401) } },
        patch: { summary: 'Set where the org\'s events go', requestBody: requestBody(orgPatch), responses: { ...ok(200, ref('Org')), ...errors(400, 401) } },
      },
      '/events': {
        get: {
          summary: 'Upstream events, oldest first after the cursor, with their webhook delivery state',
          parameters: [query('after', 'the previous page\'s "next"'), query('limit', '1–1000, default 100')],
          responses: { ...ok(200, page('Event')), ...errors(400, 401) },
        },
      },
    },
  };
}
