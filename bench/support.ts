import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { startHeraldProcess, type HeraldProcess } from '../test/support/herald-process.js';

/** The benchmarks' Postgres server; each run makes its own database on it. */
export const PG = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A connection to the server's maintenance database, to make and drop the runs' databases. */
export const admin = postgres(PG, { max: 1, onnotice: () => {} });

/**
 * A new empty database (dropped first if an earlier run left it); answers its URL.
 *
 * @example const url = await freshDatabase('herald_bench_receive');
 */
export async function freshDatabase(name: string): Promise<string> {
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  const url = new URL(PG);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Starts a baseline server script (it prints `{"port": N}` once listening) with `env` added.
 *
 * @example const { child, port } = await startBaselineServer('bench/baseline-server.ts', { BENCH_DATABASE_URL: url });
 */
export async function startBaselineServer(script: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, BENCH_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`${script} exited with ${code}`));
    child.once('exit', exited);
    child.stdout!.on('data', (chunk: Buffer) => {
      const match = /"port":(\d+)/.exec(chunk.toString());
      if (match) {
        child.off('exit', exited);
        resolve(Number(match[1]));
      }
    });
  });
  return { child, port };
}

/** The benchmarks' Redis server; each run keeps its keys under a prefix of its own. */
export const REDIS = process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379';

/**
 * Removes what a Herald run left: its database, its Redis keys, its folder.
 *
 * @example await cleanUpRun({ database: 'herald_bench_receive', redisPrefix: prefix, dir });
 */
async function cleanUpRun(run: { database: string; redisPrefix: string; dir: string }): Promise<void> {
  await admin.unsafe(`drop database ${run.database} with (force)`);
  const redis = new Redis(REDIS);
  const keys = await redis.keys(`${run.redisPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await rm(run.dir, { recursive: true, force: true });
}

/** SIGTERM, and wait for the exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/** The admin token of the benchmarks' Herald processes, and the headers that carry it. */
export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';
export const AUTH = { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' };

export interface BenchHerald {
  proc: HeraldProcess;
  /** The run's own database: its name and URL. */
  database: string;
  databaseUrl: string;
  /** Stops the process and removes the run's database, Redis keys and folder. */
  stop(): Promise<void>;
}

/**
 * A Herald process for one benchmark run, on real Postgres and Redis: its own database
 * (`herald_bench_<name>`), Redis key prefix and folder, the admin token `BENCH_TOKEN`, `env` on
 * top, and `channels` (if any) given as `HERALD_CHANNELS_FILE`.
 *
 * @example const run = await startBenchHerald('send', { HERALD_MAX_WORKERS: '32' }); … await run.stop();
 */
export async function startBenchHerald(name: string, env: Record<string, string> = {}, opts: { channels?: unknown[] } = {}): Promise<BenchHerald> {
  const database = `herald_bench_${name}`;
  const databaseUrl = await freshDatabase(database);
  const redisPrefix = `herald-bench-${name}-${Date.now()}`;
  const dir = await mkdtemp(join(tmpdir(), `herald-bench-${name}-`));
  const cleanUp = () => cleanUpRun({ database, redisPrefix, dir });
  try {
    const channelsFile = join(dir, 'channels.json');
    if (opts.channels) await writeFile(channelsFile, JSON.stringify(opts.channels));
    const proc = await startHeraldProcess({
      HERALD_DATABASE_URL: databaseUrl,
      HERALD_REDIS_URL: REDIS,
      HERALD_REDIS_PREFIX: redisPrefix,
      HERALD_DATA_DIR: join(dir, 'data'),
      HERALD_SPOOL_DIR: join(dir, 'spool'),
      HERALD_ADMIN_TOKEN: BENCH_TOKEN,
      ...(opts.channels ? { HERALD_CHANNELS_FILE: channelsFile } : {}),
      ...env,
    });
    return {
      proc,
      database,
      databaseUrl,
      async stop() {
        await proc.stop();
        await cleanUp();
      },
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

/**
 * Creates a channel through the API; throws unless it answered 201.
 *
 * @example await createChannel(proc, { type: 'ex', config: { send_url: provider.url } });
 */
export async function createChannel(proc: HeraldProcess, channel: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${proc.baseUrl}/api/v1/channels`, { method: 'POST', headers: AUTH, body: JSON.stringify(channel) });
  if (res.status !== 201) throw new Error(`creating channel ${JSON.stringify(channel).slice(0, 120)} answered ${res.status}: ${await res.text()}`);
}

/**
 * Queues messages through `POST /api/v1/messages/batch`, `batch` a request, two requests at a
 * time; throws on any message not queued.
 *
 * @example await queueBatches(proc, [{ channel, urn: 'tel:+250788000001', text: 'hi', priority: 'bulk' }]);
 */
export async function queueBatches(proc: HeraldProcess, messages: readonly Record<string, unknown>[], batch = 1_000): Promise<void> {
  const batches = Array.from({ length: Math.ceil(messages.length / batch) }, (_, b) => b);
  const post = async (b: number) => {
    const body = JSON.stringify({ messages: messages.slice(b * batch, (b + 1) * batch) });
    const res = await fetch(`${proc.baseUrl}/api/v1/messages/batch`, { method: 'POST', headers: AUTH, body });
    const answer = (await res.json()) as { results?: Array<{ status?: string }> };
    const notQueued = (answer.results ?? []).filter((r) => r.status !== 'queued');
    if (res.status !== 202 || notQueued.length > 0) {
      throw new Error(`batch ${b} answered ${res.status}, ${notQueued.length} not queued: ${JSON.stringify(notQueued[0] ?? answer).slice(0, 300)}`);
    }
  };
  await Promise.all(
    [0, 1].map(async () => {
      for (let b = batches.shift(); b !== undefined; b = batches.shift()) await post(b);
    }),
  );
}

/** The distinct messages of the lines a Herald process logged at warn or above. */
export function warningsOf(proc: HeraldProcess): string[] {
  return [...new Set(proc.logs.filter((l) => typeof l.level === 'number' && l.level >= 40).map((l) => String(l.msg)))];
}
