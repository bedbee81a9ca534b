import { join } from 'node:path';
import { serve, type HttpBindings, type ServerType } from '@hono/node-server';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import postgres from 'postgres';
import { MemoryQueue } from '../backends/memory/queue.js';
import { PostgresApiStore } from '../backends/postgres/api-store.js';
import { PostgresBackend } from '../backends/postgres/backend.js';
import { isConnectionError } from '../backends/postgres/connection-error.js';
import { startEmbeddedPostgres } from '../backends/postgres/embedded.js';
import { FeedSequencer } from '../backends/postgres/feed-sequencer.js';
import { migrate } from '../backends/postgres/migrate.js';
import { queueStats } from '../backends/postgres/queue-stats.js';
import { WebhookDispatcher } from '../backends/postgres/webhook-dispatcher.js';
import { RedisQueue } from '../backends/redis/queue.js';
import { ConfigError, type Config } from '../config/config.js';
import { handlers } from '../handlers/index.js';
import { SpoolFlusher } from '../spool/flusher.js';
import { Spool, SpoolError } from '../spool/spool.js';
import { storedAdminToken } from './admin-token.js';
import { createApi } from './api/app.js';
import { ChannelConfig } from './channel.js';
import { Foreman } from './foreman.js';
import { Metrics } from './metrics.js';
import { ChannelConfigError } from './send-error.js';
import { Sender } from './sender.js';
import { createApp } from './server.js';

export interface Herald {
  backend: PostgresBackend;
  /** The port actually bound (useful with HERALD_PORT=0). */
  port: number;
  /** Stops accepting requests, finishes in-flight sends, flushes batches, then releases storage. */
  close(): Promise<void>;
}

/** Connections the store opens to Postgres (real or embedded). */
const POOL_SIZE = 10;
/**
 * How much longer a queue token's lease lasts than the row's claim (both `HERALD_SEND_LEASE_SECONDS`).
 * A crashed sender's token comes back to its lane when its lease ends, and a busy Foreman pops it
 * again at once. The row was claimed a moment after the original pop (and perhaps by a process
 * whose clock is a little ahead), so its claim may still hold: the entry would be dropped as
 * claimed and the message left to wait for the reconciler's next pass.
 */
const QUEUE_LEASE_MARGIN_MS = 2_000;

/**
 * The composition root: builds a running Herald from its configuration. This is the only file
 * in `src/` that knows the concrete handlers and backends.
 *
 * Storage: `HERALD_DATABASE_URL` or, without it, the embedded Postgres in `HERALD_DATA_DIR/db`;
 * `HERALD_REDIS_URL` or, without it, the in-process queue, which the reconciler's start-up pass
 * rebuilds from the database. Writes fall back to the spool in `HERALD_SPOOL_DIR` while the
 * database cannot be reached.
 *
 * @example const herald = await startHerald(loadConfig(process.env), logger);
 */
export async function startHerald(config: Config, logger: Logger): Promise<Herald> {
  const byType = new Map(handlers.map((h) => [h.type, h]));
  for (const entry of config.channels) {
    const handler = byType.get(entry.type);
    if (!handler) {
      throw new ConfigError(`HERALD_CHANNELS_FILE: channel ${entry.uuid} has unknown type "${entry.type}" (known: ${[...byType.keys()].join(', ')})`);
    }
    try {
      handler.checkConfig({
        uuid: entry.uuid,
        orgUuid: '',
        type: entry.type,
        name: entry.name ?? entry.type,
        address: entry.address ?? '',
        country: entry.country ?? null,
        tps: entry.tps ?? 0,
        config: new ChannelConfig(entry.config),
      });
    } catch (err) {
      if (err instanceof ChannelConfigError) throw new ConfigError(`HERALD_CHANNELS_FILE: channel ${entry.uuid} (${entry.type}): ${err.message}`);
      throw err;
    }
  }

  const spool = await Spool.open(config.spoolDir).catch((err: unknown) => {
    throw err instanceof SpoolError ? new ConfigError(`HERALD_SPOOL_DIR: ${err.message}`) : err;
  });
  const closers: Array<() => Promise<unknown>> = [async () => spool.close()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };

  try {
    const { sql, close } = await openDatabase(config);
    closers.push(close);
    const applied = await migrateOrExplain(sql, config);
    if (applied.length > 0) logger.info({ applied }, 'database migrated');

    let queue;
    let redisPing: (() => Promise<unknown>) | undefined;
    if (config.redisUrl) {
      // Auto-pipelining: the commands of concurrent Senders (claims, markers, completes) go out in one write.
      const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 5_000, enableOfflineQueue: false, lazyConnect: true, enableAutoPipelining: true });
      let lastError: Error | undefined;
      redis.on('error', (err: Error) => {
        lastError = err;
        logger.warn({ err: err.message }, 'redis connection problem');
      });
      await redis.connect().catch((err: unknown) => {
        redis.disconnect();
        throw new ConfigError(`HERALD_REDIS_URL: cannot connect (${(lastError ?? (err as Error)).message})`);
      });
      closers.push(() => redis.quit());
      redisPing = () => redis.ping();
      queue = new RedisQueue({ redis, prefix: `${config.redisPrefix}:`, leaseMs: config.sendLeaseMs + QUEUE_LEASE_MARGIN_MS });
    } else {
      queue = new MemoryQueue({ leaseMs: config.sendLeaseMs + QUEUE_LEASE_MARGIN_MS });
    }

    const backend = await PostgresBackend.create({
      sql,
      queue,
      spool,
      logger,
      ...(redisPing ? { redisPing } : {}),
      leaseMs: config.sendLeaseMs,
      // The embedded database takes a lock: no other process can hold claims in it.
      reconciler: { intervalMs: config.reconcileIntervalMs, soleProcess: !config.databaseUrl },
    });
    closers.push(() => backend.close());
    await backend.upsertChannels(config.channels);
    // Warm the channel cache, so callbacks for these channels are accepted even if the database
    // goes away before their first request.
    for (const entry of config.channels) await backend.getChannel(entry.uuid);

    // Runs of one kind are replayed together, so the store's group commit takes them in batches.
    const flusher = new SpoolFlusher(spool, backend.replaySpooled, {
      intervalMs: 2_000,
      concurrency: 100,
      onError: (err) => logger.warn({ err: (err as Error).message, waiting: spool.size().files }, 'spool replay paused'),
    });
    flusher.start();
    closers.push(() => flusher.stop());

    const adminToken = await adminTokenOf(config, logger);
    const metrics = new Metrics({ queueStats: () => queueStats(sql), spoolFiles: () => spool.size().files });
    const store = new PostgresApiStore(
      sql,
      (org, uuid) => backend.resendOutgoing(org, uuid),
      (uuid) => backend.channels.invalidate(uuid),
    );
    // The app is made once the port is known (HERALD_PORT=0 picks one), for the default base URL;
    // no request is served before: it is assigned in the same turn as listening ends.
    let app: ReturnType<typeof createApp> | undefined;
    const server = await listen((req, env) => app!.fetch(req, env as HttpBindings), config.port, config.host);
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const baseUrl = config.baseUrlFromPort ? `http://localhost:${port}` : config.baseUrl;
    const api = createApi({ store, backend, handlers, baseUrl, adminToken, logger, databaseDown: isConnectionError });
    app = createApp({ backend, handlers, baseUrl, logger, api, metrics });
    // Sending starts only once start-up cannot fail any more; it stops before the server closes.
    const sender = new Sender({ backend, handlers: byType, baseUrl, logger, metrics });
    const foreman = new Foreman({ backend, sender, maxWorkers: config.maxWorkers, logger });
    backend.onOutgoingQueued(() => foreman.wake());
    foreman.start();
    closers.push(() => foreman.stop());
    const sequencer = new FeedSequencer({ sql, logger });
    sequencer.start();
    closers.push(() => sequencer.stop());
    const webhooks = new WebhookDispatcher({
      sql,
      logger,
      onDelivered: () => metrics.webhookDelivered(),
      onFailed: (_org, final) => metrics.webhookFailed(final),
    });
    webhooks.start();
    closers.push(() => webhooks.stop());
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    logger.info(
      {
        port,
        baseUrl,
        database: config.databaseUrl ? 'postgres' : 'embedded',
        queue: config.redisUrl ? 'redis' : 'in-process',
        channels: config.channels.length,
        handlers: [...byType.keys()],
      },
      'herald started',
    );

    return {
      backend,
      port,
      async close() {
        // Reverse order of start: stop accepting, drain sends, stop replay, flush batches, disconnect.
        await closeAll();
        logger.info('herald stopped');
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `HERALD_ADMIN_TOKEN`, or the one kept in the data folder (generated and printed once). */
async function adminTokenOf(config: Config, logger: Logger): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const { token, generated } = await storedAdminToken(config.dataDir).catch((err: unknown) => {
    throw new ConfigError(`HERALD_DATA_DIR: cannot keep the admin token there (${(err as Error).message})`);
  });
  if (generated) logger.warn({ admin_token: token, file: join(config.dataDir, 'admin-token') }, 'admin token generated; shown this once, keep it safe');
  return token;
}

/**
 * Applies pending migrations to the configured database (embedded or not) and closes it.
 *
 * @example const applied = await migrateDatabase(loadConfig(process.env)); // ['0001_initial.sql']
 */
export async function migrateDatabase(config: Config): Promise<string[]> {
  const { sql, close } = await openDatabase(config);
  try {
    return await migrateOrExplain(sql, config);
  } finally {
    await close();
  }
}

/** A client for `HERALD_DATABASE_URL`, or for the embedded Postgres started in the data folder. */
async function openDatabase(config: Config): Promise<{ sql: postgres.Sql; close: () => Promise<void> }> {
  const embedded = config.databaseUrl
    ? null
    : await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'db') }).catch((err: unknown) => {
        throw new ConfigError(`HERALD_DATA_DIR: cannot start the embedded database: ${(err as Error).message}`);
      });
  const sql = postgres(embedded?.url ?? config.databaseUrl!, {
    max: POOL_SIZE,
    connect_timeout: 5,
    // A database that stops answering must not hold a connection (and the writes behind it)
    // for the minutes TCP takes to notice; the embedded server ignores these (one session).
    // Batch statements are prepared once, but their best plan changes as tables grow from empty:
    // a generic plan made on an empty table would scan it in full for ever after.
    connection: { statement_timeout: 60_000, idle_in_transaction_session_timeout: 60_000, plan_cache_mode: 'force_custom_plan' },
    onnotice: () => {},
  });
  return {
    sql,
    async close() {
      await sql.end({ timeout: 5 });
      await embedded?.close();
    },
  };
}

async function migrateOrExplain(sql: postgres.Sql, config: Config): Promise<string[]> {
  try {
    return await migrate(sql);
  } catch (err) {
    const where = config.databaseUrl ? 'HERALD_DATABASE_URL' : `HERALD_DATA_DIR (embedded database in ${join(config.dataDir, 'db')})`;
    throw new ConfigError(`${where}: cannot prepare the database: ${(err as Error).message}`);
  }
}

function listen(fetch: Parameters<typeof serve>[0]['fetch'], port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') reject(new ConfigError(`HERALD_PORT: cannot listen on ${hostname}:${port} (${err.code})`));
      else if (err.code === 'ENOTFOUND' || err.code === 'EADDRNOTAVAIL') reject(new ConfigError(`HERALD_HOST: cannot listen on ${hostname} (${err.code})`));
      else reject(err);
    });
  });
}
