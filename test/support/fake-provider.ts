import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAll } from './read-all.js';

export interface ProviderRequest {
  method: string;
  url: string;
  body: string;
  at: number;
}

export interface FakeProviderServer {
  url: string;
  requests: ProviderRequest[];
  /** How long each answer waits, in ms (a slow provider). */
  delayMs: number;
  /** The HTTP status to answer with. */
  status: number;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for a provider's send API: it records every request
 * and answers `status` after `delayMs`. Used where Herald runs as its own process, so msw cannot
 * intercept its calls.
 *
 * @example const provider = await startFakeProvider(); // then send_url: `${provider.url}/send`
 */
export async function startFakeProvider(options: { delayMs?: number; status?: number } = {}): Promise<FakeProviderServer> {
  const state = { requests: [] as ProviderRequest[], delayMs: options.delayMs ?? 0, status: options.status ?? 200 };
  const server: Server = createServer(async (req, res) => {
    const body = await readAll(req);
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', body, at: Date.now() });
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: state.status < 400 }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as FakeProviderServer;
}
