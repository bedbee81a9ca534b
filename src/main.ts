import { serve, type ServerType } from '@hono/node-server';
import type { Logger } from 'pino';
import { MemoryBackend } from '../backends/memory/backend.js';
import { ConfigError, type Config } from '../config/config.js';
import { handlers } from '../handlers/index.js';
import type { Backend } from './backend.js';
import { Foreman } from './foreman.js';
import { Sender } from './sender.js';
import { createApp } from './server.js';

export interface Herald {
  backend: Backend;
  /** The port actually bound (useful with HERALD_PORT=0). */
  port: number;
  /** Stops accepting requests, finishes in-flight sends, then releases storage. */
  close(): Promise<void>;
}

/**
 * The composition root: builds a running Herald from its configuration. This is the only file
 * in `src/` that knows the concrete handlers and backends.
 *
 * @example const herald = await startHerald(loadConfig(process.env), logger);
 */
export async function startHerald(config: Config, logger: Logger): Promise<Herald> {
  if (config.databaseUrl) throw new ConfigError('HERALD_DATABASE_URL: the Postgres store is not available yet in this version; unset it to use the in-memory store');
  if (config.redisUrl) throw new ConfigError('HERALD_REDIS_URL: the Redis queue is not available yet in this version; unset it to use the in-process queue');

  const byType = new Map(handlers.map((h) => [h.type, h]));
  const backend = new MemoryBackend();
  for (const entry of config.channels) {
    if (!byType.has(entry.type)) {
      throw new ConfigError(`HERALD_CHANNELS_FILE: channel ${entry.uuid} has unknown type "${entry.type}" (known: ${[...byType.keys()].join(', ')})`);
    }
    backend.addChannel({ ...entry, name: entry.name ?? entry.type, address: entry.address ?? '', country: entry.country?.toUpperCase() ?? null });
  }

  const sender = new Sender({ backend, handlers: byType, baseUrl: config.baseUrl, logger });
  const foreman = new Foreman({ backend, sender, maxWorkers: config.maxWorkers, logger });
  backend.onOutgoingQueued(() => foreman.wake());
  foreman.start();

  const app = createApp({ backend, handlers, baseUrl: config.baseUrl, logger });
  const server = await listen(app.fetch, config.port, config.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info({ port, baseUrl: config.baseUrl, channels: config.channels.length, handlers: [...byType.keys()] }, 'herald started');

  return {
    backend,
    port,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await foreman.stop();
      await backend.close();
      logger.info('herald stopped');
    },
  };
}

function listen(fetch: (req: Request) => Response | Promise<Response>, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => resolve(server));
    server.once('error', reject);
  });
}
