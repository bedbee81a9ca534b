/**
 * A TCP proxy for fault tests: clients connect to the proxy instead of the shared Postgres or
 * Redis, and a test cuts the proxy to simulate the server going away, without touching the
 * server other tests use. While cut, open connections are destroyed and new ones are accepted
 * and closed at once (a refused-looking failure, never a hang); `heal` lets new ones through.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Rewrites the host and port of a `postgres://` or `redis://` URL to point at the proxy. */
  url(targetUrl: string): string;
  /** Destroys every open connection and closes new ones immediately until `heal`. */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
  /** Client connections currently open through the proxy. */
  connections(): number;
}

/**
 * Starts a proxy on 127.0.0.1 (a free port) in front of `target`.
 *
 * @example
 * const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
 * const sql = postgres(proxy.url('postgres://postgres@127.0.0.1:5432/herald_test'));
 * proxy.cut(); // queries now fail with a closed connection
 * proxy.heal(); // new connections work again
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[client: Socket, upstream: Socket]>();
  let isCut = false;

  const server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const teardown = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.on('error', teardown);
      socket.on('close', teardown);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });

  const destroyAll = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error(`tcp proxy listens on an unexpected address: ${String(address)}`);
  }
  const port = address.port;

  return {
    port,
    url(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.href;
    },
    cut() {
      isCut = true;
      destroyAll();
    },
    heal() {
      isCut = false;
    },
    close() {
      isCut = true;
      destroyAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
    connections: () => pairs.size,
  };
}
