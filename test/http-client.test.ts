import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelLogger } from '../src/channel-log.js';
import { HttpClient } from '../src/http-client.js';
import { ChannelConfigError, ConnectionFailed } from '../src/send-error.js';

const SECRET = 'tok-123456:secret';

function client() {
  const log = new ChannelLogger('msg_send', '0191e180-7d60-7000-8000-00000000000c', [SECRET]);
  return { log, http: new HttpClient(log, 2_000) };
}

describe('HttpClient', () => {
  it('treats a URL that cannot be parsed as a channel setting problem, with the secret scrubbed', async () => {
    const { http } = client();
    const err = await http.request(`not a url/${SECRET}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelConfigError);
    expect((err as Error).message).toContain('provider URL is not valid');
    expect((err as Error).message).not.toContain(SECRET);
  });

  it('treats a header value that cannot be sent as a channel setting problem', async () => {
    const { http } = client();
    const err = await http.request('http://127.0.0.1:1/', { headers: { 'x-bad': 'a\nb' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelConfigError);
  });

  it('turns a refused connection into a retryable ConnectionFailed, logged without the secret', async () => {
    const { http, log } = client();
    const err = await http.request(`http://127.0.0.1:1/bot${SECRET}/sendMessage`, { body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionFailed);
    expect((err as ConnectionFailed).retryable).toBe(true);
    expect((err as Error).message).not.toContain(SECRET);
    const finished = log.finish();
    expect(finished.httpLogs).toHaveLength(1);
    expect(finished.httpLogs[0]!.statusCode).toBe(0);
    expect(JSON.stringify(finished)).not.toContain(SECRET);
  });

  it('rejects a URL that is not http or https as a channel setting problem', async () => {
    const { http } = client();
    await expect(http.request('ftp://127.0.0.1/file')).rejects.toThrow(ChannelConfigError);
  });

  describe('against a local server', () => {
    let handle: (req: IncomingMessage, body: string, res: ServerResponse) => void = () => {};
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => handle(req, body, res));
    });
    let base = '';
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
      server.closeAllConnections();
      server.close();
    });

    it('sends the method, headers and body, and reads a UTF-8 answer split across chunks', async () => {
      let seen: { method?: string; url?: string; type?: string; length?: string; body?: string } = {};
      handle = (req, body, res) => {
        seen = { method: req.method, url: req.url, type: req.headers['content-type'], length: req.headers['content-length'], body };
        res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r1' });
        const answer = Buffer.from(JSON.stringify({ text: 'héllo 👋' }));
        // Split inside the emoji's four bytes.
        res.write(answer.subarray(0, answer.length - 4));
        setTimeout(() => res.end(answer.subarray(answer.length - 4)), 10);
      };
      const { http, log } = client();
      const res = await http.request(`${base}/send?to=1`, { body: new URLSearchParams({ text: 'ça va' }) });
      expect(seen).toEqual({ method: 'POST', url: '/send?to=1', type: 'application/x-www-form-urlencoded', length: '15', body: 'text=%C3%A7a+va' });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-request-id')).toBe('r1');
      expect(res.json()).toEqual({ text: 'héllo 👋' });
      const [logged] = log.finish().httpLogs;
      expect(logged).toMatchObject({ method: 'POST', statusCode: 201 });
      expect(logged!.request).toContain('text=%C3%A7a+va');
      expect(logged!.response).toMatch(/^HTTP 201 Created\r\n[^]*x-request-id: r1[^]*héllo 👋/);
    });

    it('sends a user agent unless the handler sets one', async () => {
      const agents: Array<string | undefined> = [];
      handle = (req, _body, res) => {
        agents.push(req.headers['user-agent']);
        res.end('ok');
      };
      const { http, log } = client();
      await http.request(`${base}/a`);
      await client().http.request(`${base}/b`, { headers: { 'User-Agent': 'Custom/1' } });
      expect(agents).toEqual(['Herald', 'Custom/1']);
      // The channel log shows the request as it was sent.
      expect(log.finish().httpLogs[0]!.request).toContain('user-agent: Herald');
    });

    it('sends again, once, on a new connection when a kept-alive one was closed under it', async () => {
      const served = new WeakMap<object, number>();
      let requests = 0;
      handle = (req, _body, res) => {
        requests++;
        const n = (served.get(req.socket) ?? 0) + 1;
        served.set(req.socket, n);
        // The second request on a connection: closed without an answer, as a server dropping an
        // idle connection just as it is reused.
        if (n === 2) req.socket.destroy();
        else res.end(`answer ${requests}`);
      };
      const { http } = client();
      expect((await http.request(`${base}/one`, { body: 'x' })).text).toBe('answer 1');
      expect((await http.request(`${base}/two`, { body: 'y' })).text).toBe('answer 3');
      expect(requests).toBe(3);
    });

    it('returns a redirect as it is, without following it', async () => {
      let requests = 0;
      handle = (_req, _body, res) => {
        requests++;
        res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end();
      };
      const res = await client().http.request(`${base}/send`, { body: 'x' });
      expect(res.status).toBe(302);
      expect(requests).toBe(1);
    });

    it('gives up on a provider that does not answer in time: ConnectionFailed, logged', async () => {
      handle = () => {};
      const { log } = client();
      const http = new HttpClient(log, 200);
      const started = Date.now();
      const err = await http.request(`${base}/slow`, { body: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionFailed);
      expect((err as Error).message).toContain('timed out');
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(log.finish().httpLogs[0]!.statusCode).toBe(0);
    });

    it('treats a connection dropped in the middle of the answer as ConnectionFailed', async () => {
      handle = (_req, _body, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 10);
      };
      await expect(client().http.request(`${base}/drop`, { body: 'x' })).rejects.toThrow(ConnectionFailed);
    });
  });
});
