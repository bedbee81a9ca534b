import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import postgres from 'postgres';

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
export async function cleanUpRun(run: { database: string; redisPrefix: string; dir: string }): Promise<void> {
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
