import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAll } from './read-all.js';

/** One Bot API call the fake received. */
export interface BotApiCall {
  /** The bot token from the path (`/bot<token>/<method>`). */
  token: string;
  /** The Bot API method, e.g. `sendMessage`. */
  method: string;
  /** The JSON parameters posted. */
  params: Record<string, unknown>;
  /** The `message_id` the fake answered with (sendMessage only). */
  messageId?: number;
}

export interface FakeTelegram {
  /** What to give a Telegram channel as config `base_url`. */
  url: string;
  calls: BotApiCall[];
  close(): Promise<void>;
}

/**
 * A stand-in for the Telegram Bot API on 127.0.0.1: `POST /bot<token>/sendMessage` answers
 * `{"ok": true, "result": {"message_id": N}}` with N counting up from 1001; anything else is the
 * Bot API's 404. Every call is recorded.
 *
 * @example const telegram = await startFakeTelegram(); // then config: { auth_token, base_url: telegram.url }
 */
export async function startFakeTelegram(): Promise<FakeTelegram> {
  const calls: BotApiCall[] = [];
  let nextMessageId = 1001;
  const server: Server = createServer(async (req, res) => {
    const body = await readAll(req);
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
    const params = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && match?.[2] === 'sendMessage') {
      const messageId = nextMessageId++;
      calls.push({ token: match[1]!, method: match[2], params, messageId });
      res.end(JSON.stringify({ ok: true, result: { message_id: messageId, date: Math.floor(Date.now() / 1000), text: params.text } }));
      return;
    }
    if (match) calls.push({ token: match[1]!, method: match[2]!, params });
    res.statusCode = 404;
    res.end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
