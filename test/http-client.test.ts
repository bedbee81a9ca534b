import { describe, expect, it } from 'vitest';
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
});
