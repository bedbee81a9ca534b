import { serve } from '@hono/node-server';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/backend.js';
import { accepted, ignored, RequestError, type ChannelHandler } from '../src/handler.js';
import { requireParam } from '../src/request-fields.js';
import { createApp } from '../src/server.js';
import { newTelUrn } from '../src/urn.js';
import { testLogger } from './harness/logger.js';

// A minimal provider: `receive` takes `from`, `text`, optional `id`, checks `secret`.
const handler: ChannelHandler = {
  type: 'zz',
  name: 'Test',
  schemes: ['tel'],
  maxLength: 160,
  redact: (ch) => [ch.config.string('secret', '')],
  checkConfig: (ch) => void ch.config.string('secret'),
  routes: [
    {
      method: 'POST',
      action: 'receive',
      handle(ctx) {
        const p = ctx.params();
        if (p.get('secret') !== ctx.channel.config.string('secret')) throw new RequestError(403, 'wrong secret');
        const from = newTelUrn(requireParam(p, 'from'), null);
        const id = p.get('id');
        return accepted({ msgs: [{ urn: from, text: p.get('text') ?? '', ...(id ? { externalId: id } : {}) }] });
      },
    },
    { method: 'POST', action: 'status', handle: (ctx) => accepted({ statuses: [{ msgUuid: requireParam(ctx.params(), 'id'), status: 'delivered' }] }) },
    { method: 'POST', action: 'nothing', handle: () => ignored('no message in request') },
    { method: 'POST', action: 'boom', handle: () => { throw new Error('handler bug'); } },
  ],
  async send() {
    return { externalIds: [] };
  },
};

function setup() {
  const backend = new MemoryBackend();
  const channel = backend.addChannel({ type: 'zz', config: { secret: 'sekret-value' } });
  const app = createApp({ backend, handlers: [handler], baseUrl: 'https://h.example.com', logger: testLogger });
  const post = (action: string, form: Record<string, string>) =>
    app.request(`/c/zz/${channel.uuid}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  return { backend, channel, app, post };
}

describe('callback server', () => {
  it('answers every request with a request id, keeping a plain one the caller sent', async () => {
    const { app, channel } = setup();
    const made = await app.request('/health');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await app.request(`/c/zz/${channel.uuid}/receive`, { method: 'POST', headers: { 'x-request-id': 'lb-1234.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-1234.abc');
    const replaced = await app.request('/health', { headers: { 'x-request-id': 'not a usable id, has spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a duplicate provider message with the first uuid and stores it once', async () => {
    const { backend, post } = setup();
    const form = { secret: 'sekret-value', from: '+250788383383', text: 'hi', id: 'p-1' };
    const first = (await (await post('receive', form)).json()) as { data: Array<{ msg_uuid: string }> };
    const second = (await (await post('receive', form)).json()) as { data: Array<{ msg_uuid: string }> };
    expect(second.data[0]!.msg_uuid).toBe(first.data[0]!.msg_uuid);
    expect(backend.msgsIn).toHaveLength(1);
  });

  it('treats the same text from the same sender moments apart, without provider ids, as one message', async () => {
    const { backend, post } = setup();
    const form = { secret: 'sekret-value', from: '+250788383383', text: 'same words' };
    await post('receive', form);
    await post('receive', form);
    await post('receive', { ...form, text: 'other words' });
    expect(backend.msgsIn.map((m) => m.text)).toEqual(['same words', 'other words']);
  });

  it('answers 503 and stores nothing when the store fails, so the provider retries', async () => {
    const { backend, post } = setup();
    backend.failNextWrite('msgs');
    const res = await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'hi' });
    expect(res.status).toBe(503);
    expect(backend.msgsIn).toEqual([]);
    const retried = await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'hi' });
    expect(retried.status).toBe(200);
    expect(backend.msgsIn).toHaveLength(1);
  });

  it('answers a status for an unknown message as ignored, so the provider stops retrying', async () => {
    const { post } = setup();
    const res = await post('status', { id: '0191e180-7d60-7000-8000-00000000abcd' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      message: 'Ignored',
      data: [{ type: 'info', info: 'no message with uuid 0191e180-7d60-7000-8000-00000000abcd' }],
    });
  });

  it('applies a status for a known message and answers with its uuid', async () => {
    const { backend, channel, post } = setup();
    const msg = backend.addSentMsg({ channel });
    const res = await post('status', { id: msg.uuid });
    expect(await res.json()).toEqual({
      message: 'Status Update Accepted',
      data: [{ type: 'status', channel_uuid: channel.uuid, msg_uuid: msg.uuid, status: 'delivered' }],
    });
    expect(backend.outgoing.get(msg.uuid)!.status).toBe('delivered');
  });

  it('answers ignored requests with the reason', async () => {
    const { post } = setup();
    const res = await post('nothing', {});
    expect(await res.json()).toEqual({ message: 'Ignored', data: [{ type: 'info', info: 'no message in request' }] });
  });

  it('answers a wrong method with 405 naming the allowed one', async () => {
    const { app, channel } = setup();
    const res = await app.request(`/c/zz/${channel.uuid}/receive`);
    expect(res.status).toBe(405);
    expect(await res.text()).toContain('accepts POST');
  });

  it('answers 503, not a stack trace, when a handler fails unexpectedly', async () => {
    const { backend, post } = setup();
    const res = await post('boom', {});
    expect(res.status).toBe(503);
    expect(await res.text()).not.toContain('handler bug');
    expect(backend.logs[0]!.errors[0]!.code).toBe('internal_error');
  });

  it('logs every request to a known channel with secrets scrubbed, rejected ones too', async () => {
    const { backend, post } = setup();
    await post('receive', { secret: 'wrong', from: '+250788383383', text: 'hi' });
    await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'hi' });
    expect(backend.logs.map((l) => l.type)).toEqual(['request_rejected', 'msg_receive']);
    expect(backend.logs[0]!.errors).toEqual([{ code: 'signature_invalid', message: 'wrong secret' }]);
    expect(backend.logs[1]!.msgUuid).toBe(backend.msgsIn[0]!.uuid);
    expect(backend.logs[1]!.httpLogs[0]!.url).toMatch(/^https:\/\/h\.example\.com\/c\/zz\//);
    expect(JSON.stringify(backend.logs)).not.toContain('sekret-value');
  });

  it('stores text with NUL characters removed, since no database text can hold them', async () => {
    const { backend, post } = setup();
    const res = await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'a\u0000b' });
    expect(res.status).toBe(200);
    expect(backend.msgsIn[0]!.text).toBe('ab');
    expect(JSON.stringify(backend.logs)).not.toContain('\\u0000');
  });

  it('refuses a provider id too long to store, naming it, and stores nothing', async () => {
    const { backend, post } = setup();
    const res = await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'hi', id: 'x'.repeat(256) });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("the provider's message id is 256 characters long; the limit is 255");
    expect(backend.msgsIn).toHaveLength(0);
  });

  it('answers 503 when the channel lookup fails, so the provider retries', async () => {
    const { backend, post } = setup();
    backend.getChannel = async () => {
      throw new Error('database unreachable');
    };
    const res = await post('receive', { secret: 'sekret-value', from: '+250788383383', text: 'hi' });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('channel lookup failed');
    expect(backend.msgsIn).toHaveLength(0);
  });

  it('answers 503 naming the setting when the channel is misconfigured, and stores nothing', async () => {
    const backend = new MemoryBackend();
    const channel = backend.addChannel({ type: 'zz', config: { secret: { not: 'a string' } } });
    const app = createApp({ backend, handlers: [handler], baseUrl: 'https://h.example.com', logger: testLogger });
    const res = await app.request(`/c/zz/${channel.uuid}/receive`, { method: 'POST', body: 'from=%2B250788383383&text=hi' });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('channel config \\"secret\\" must be a string');
    expect(backend.msgsIn).toHaveLength(0);
    expect(backend.logs.map((l) => l.errors[0]?.code)).toEqual(['channel_config']);
  });

  it('answers health 200 degraded while the spool takes callbacks, 503 when nothing can', async () => {
    const { backend, app } = setup();
    backend.health = async () => ({ database: 'down', queue: 'ok', spool: 'degraded' });
    const degraded = await app.request('/health');
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toMatchObject({ status: 'degraded' });
    backend.health = async () => ({ database: 'down', queue: 'ok', spool: 'down' });
    expect((await app.request('/health')).status).toBe(503);
  });

  it('reports health', async () => {
    const { app } = setup();
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'not_configured', queue: 'ok' } });
  });
});

describe('callback server over real HTTP', () => {
  /** Posts `chunks` (a chunked body, no length declared) and answers the status, the body and how many messages were stored; a socket error fails it. */
  async function postChunked(chunks: number, chunkBytes: number): Promise<{ status: number; body: string; stored: number }> {
    const { app, channel, backend } = setup();
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, method: 'POST', path: `/c/zz/${channel.uuid}/receive`, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        const form = 'secret=sekret-value&from=%2B250788383383&text=';
        let sent = 0;
        const pump = () => {
          while (sent < chunks) {
            const chunk = sent === 0 ? form + 'x'.repeat(chunkBytes - form.length) : 'x'.repeat(chunkBytes);
            sent++;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      return { ...answer, stored: backend.msgsIn.length };
    } finally {
      (server as Server).closeAllConnections();
      server.close();
    }
  }

  it('reads a body sent in many chunks', async () => {
    const answer = await postChunked(16, 4096);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).data[0].text).toHaveLength(16 * 4096 - 'secret=sekret-value&from=%2B250788383383&text='.length);
    expect(answer.stored).toBe(1);
  });

  it('answers 413 to a body over 1 MiB sent without a declared length, and stores nothing', async () => {
    const answer = await postChunked(40, 64 * 1024);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).data[0].error).toBe('request body is over the limit of 1048576 bytes');
    expect(answer.stored).toBe(0);
  });
});
