import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { startHeraldProcess, type HeraldProcess } from '../test/support/herald-process.js';
import type { FakeProvider, ProviderLog } from './fake-provider.js';

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
  /** The run's own database: its name and URL (direct, not through `connectDatabase`). */
  database: string;
  databaseUrl: string;
  /** The first process's spool folder (`HERALD_SPOOL_DIR`). */
  spoolDir: string;
  /**
   * Starts one more Herald process on the run's database and Redis prefix, with the same
   * environment (`env` on top) but a data and spool folder of its own (each process locks its
   * folders); `stop` stops it too.
   *
   * @example const second = await run.addProcess({ HERALD_MAX_WORKERS: '32' });
   */
  addProcess(env?: Record<string, string>): Promise<HeraldProcess>;
  /** Stops the processes and removes the run's database, Redis keys and folder. */
  stop(): Promise<void>;
}

export interface BenchHeraldOptions {
  /** Given to the first process as `HERALD_CHANNELS_FILE`. */
  channels?: unknown[];
  /**
   * The database URL Herald is given, made from the run's own (e.g. through a TCP proxy:
   * `(url) => proxy.url(url)`); default the URL itself.
   */
  connectDatabase?: (databaseUrl: string) => string;
}

/**
 * A Herald process for one benchmark run, on real Postgres and Redis: its own database
 * (`herald_bench_<name>`), Redis key prefix and folder, the admin token `BENCH_TOKEN`, `env` on
 * top, and `channels` (if any) given as `HERALD_CHANNELS_FILE`.
 *
 * @example const run = await startBenchHerald('send', { HERALD_MAX_WORKERS: '32' }); … await run.stop();
 */
export async function startBenchHerald(name: string, env: Record<string, string> = {}, opts: BenchHeraldOptions = {}): Promise<BenchHerald> {
  const database = `herald_bench_${name}`;
  const databaseUrl = await freshDatabase(database);
  const redisPrefix = `herald-bench-${name}-${Date.now()}`;
  const dir = await mkdtemp(join(tmpdir(), `herald-bench-${name}-`));
  const cleanUp = () => cleanUpRun({ database, redisPrefix, dir });
  const processes: HeraldProcess[] = [];
  const common = {
    HERALD_DATABASE_URL: opts.connectDatabase ? opts.connectDatabase(databaseUrl) : databaseUrl,
    HERALD_REDIS_URL: REDIS,
    HERALD_REDIS_PREFIX: redisPrefix,
    HERALD_ADMIN_TOKEN: BENCH_TOKEN,
  };
  const folders = (n: number) => {
    const suffix = n === 0 ? '' : `-${n + 1}`;
    return { HERALD_DATA_DIR: join(dir, `data${suffix}`), HERALD_SPOOL_DIR: join(dir, `spool${suffix}`) };
  };
  try {
    const channelsFile = join(dir, 'channels.json');
    if (opts.channels) await writeFile(channelsFile, JSON.stringify(opts.channels));
    const proc = await startHeraldProcess({
      ...common,
      ...folders(0),
      ...(opts.channels ? { HERALD_CHANNELS_FILE: channelsFile } : {}),
      ...env,
    });
    processes.push(proc);
    return {
      proc,
      database,
      databaseUrl,
      spoolDir: env.HERALD_SPOOL_DIR ?? folders(0).HERALD_SPOOL_DIR,
      async addProcess(more = {}) {
        const next = await startHeraldProcess({ ...common, ...folders(processes.length), ...env, ...more });
        processes.push(next);
        return next;
      },
      async stop() {
        await Promise.all(processes.map((p) => p.stop()));
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

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A /proc/<pid>/status field in kB: VmRSS (resident now) or VmHWM (the most it has been).
 *
 * @example const peakMiB = (await procStatusKb(proc.child.pid!, 'VmHWM')) / 1024;
 */
export async function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
}

/** How a wait for `total` ended: the count reached, whether it stalled, its longest pause. */
export interface Progress {
  count: number;
  stalled: boolean;
  longestGapMs: number;
}

/**
 * Polls `done()` every 100 ms until it reaches `total`, or until it has not moved for `stallMs`;
 * `onTick` runs before each poll (to sample memory, say).
 *
 * @example const { count, stalled } = await waitForProgress(sentSoFar, 20_000, 30_000);
 */
export async function waitForProgress(done: () => Promise<number>, total: number, stallMs: number, onTick?: () => Promise<void>): Promise<Progress> {
  let count = 0;
  let lastProgress = performance.now();
  let longestGapMs = 0;
  for (;;) {
    await sleep(100);
    await onTick?.();
    const now = await done();
    if (now >= total) return { count: now, stalled: false, longestGapMs };
    if (now > count) {
      count = now;
      longestGapMs = Math.max(longestGapMs, performance.now() - lastProgress);
      lastProgress = performance.now();
    } else if (performance.now() - lastProgress > stallMs) {
      return { count, stalled: true, longestGapMs };
    }
  }
}

/** CPU time a process has used so far, in seconds (/proc/<pid>/stat utime + stime, 100 ticks/s). */
export async function processCpu(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU time all Postgres processes on this machine have used so far, in seconds: its backends and
 * its background workers (WAL writer, checkpointer, autovacuum) alike. A process that ends
 * between two readings takes its time with it, so read this around a steady load.
 */
export async function postgresCpu(): Promise<number> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const seconds = await Promise.all(
    pids.map(async (pid) => {
      try {
        return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'postgres' ? await processCpu(Number(pid)) : 0;
      } catch {
        return 0; // ended meanwhile
      }
    }),
  );
  return seconds.reduce((a, b) => a + b, 0);
}

/** The machine's CPU ticks so far, all and idle (idle + iowait), from /proc/stat. */
export async function machineCpu(): Promise<{ total: number; idle: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: ticks.reduce((a, b) => a + b, 0), idle: ticks[3]! + ticks[4]! };
}

/** The machine's idle share between two machineCpu() readings, as a percentage. */
export const idlePercent = (a: { total: number; idle: number }, b: { total: number; idle: number }) =>
  `${Math.round((100 * (b.idle - a.idle)) / Math.max(1, b.total - a.total))} %`;

/**
 * Waits until the provider holds `count` requests open; throws after `timeoutMs`.
 *
 * @example provider.send('hold'); … await waitUntilHeld(provider, 32); provider.send('answer');
 */
export async function waitUntilHeld(provider: FakeProvider, count: number, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; (await provider.stats()).held < count; waited += 50) {
    if (waited > timeoutMs) throw new Error(`the provider holds ${(await provider.stats()).held} requests, not ${count}`);
    await sleep(50);
  }
}

/**
 * Outgoing messages a Herald process handed to a provider so far, all channel types, from its
 * `herald_messages_sent_total` metric: which process sent how much when several share the work.
 *
 * @example const [a, b] = await Promise.all([proc, second].map(messagesSentBy));
 */
export async function messagesSentBy(proc: HeraldProcess): Promise<number> {
  const text = await (await fetch(`${proc.baseUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('herald_messages_sent_total'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * The provider's request times (Date.now()) per key: per channel when each channel's `send_url` is
 * `<provider>/send/<channel uuid>`.
 *
 * @example const times = timesByKey(await provider.log()).get(channelUuid) ?? [];
 */
export function timesByKey(log: ProviderLog): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (let i = 0; i < log.keys.length; i++) {
    const times = byKey.get(log.keys[i]!) ?? [];
    times.push(log.times[i]!);
    byKey.set(log.keys[i]!, times);
  }
  return byKey;
}

/**
 * The first whole wall-clock second (ms) after both a channel's first provider request and
 * `notBefore` (e.g. the end of queueing): where its steady window starts (NaN without a request).
 */
export function steadyWindowStart(first: number | undefined, notBefore: number): number {
  if (first === undefined) return NaN;
  return Math.ceil(Math.max(first, notBefore) / 1000) * 1000;
}

export interface RateFigures {
  /** The most requests within one wall-clock second (Date.now() / 1000 floored), over all `times`. */
  maxPerSecond: number;
  /** Wall-clock seconds with more requests than `tps`, and seconds with any request. */
  secondsOver: number;
  seconds: number;
  /** Requests inside the steady window / its length (0 when the window has no start). */
  average: number;
  requests: number;
}

/**
 * How one rate-limited channel was served, counted where the provider sees it: the limit must
 * hold in every wall-clock second; the average over a steady window shows the limit is reached.
 *
 * @example rateFigures(times, 10, steadyWindowStart(times[0], queuedAt), 20)
 */
export function rateFigures(times: readonly number[], tps: number, windowStart: number, windowSeconds: number): RateFigures {
  const perSecond = new Map<number, number>();
  for (const t of times) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  const inWindow = times.filter((t) => t >= windowStart && t < windowStart + windowSeconds * 1000).length;
  return {
    maxPerSecond: Math.max(0, ...perSecond.values()),
    secondsOver: [...perSecond.values()].filter((n) => n > tps).length,
    seconds: perSecond.size,
    average: Number.isFinite(windowStart) ? inWindow / windowSeconds : 0,
    requests: times.length,
  };
}

/** "min / avg / max" of `xs`, each with `digits` decimals. */
export function minAvgMax(xs: readonly number[], digits: number): string {
  const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
  return `${Math.min(...xs).toFixed(digits)} / ${avg.toFixed(digits)} / ${Math.max(...xs).toFixed(digits)}`;
}

export interface PriorityFigures {
  /** Requests from the small channels seen, up to `smallCount`, and on how many channels. */
  smallSeen: number;
  smallChannels: number;
  /** Seconds from `startedAt` to the `smallCount`th small-channel request (NaN if never). */
  seconds: number;
  /** Every provider request up to that one, and how many of them were the big channel's. */
  requestsUntil: number;
  bigUntil: number;
  /** Seconds from `startedAt` until every small channel had its first request, once all had one. */
  everySmallServedAfter: number | undefined;
}

/**
 * Fairness as the provider saw it: one big channel (key `bigKey`) beside small ones, the clock
 * started at `startedAt`: how long until the small channels' `smallCount` requests were all in,
 * and what share of the requests until then the big channel took.
 *
 * @example priorityFigures(await provider.log(), BIG_UUID, 250, 50, startedAt)
 */
export function priorityFigures(log: ProviderLog, bigKey: string, smallCount: number, smallChannelCount: number, startedAt: number): PriorityFigures {
  let last = -1;
  let smallSeen = 0;
  const firstSeen = new Map<string, number>();
  for (let i = 0; i < log.keys.length && smallSeen < smallCount; i++) {
    if (log.keys[i] === bigKey) continue;
    last = i;
    smallSeen++;
    if (!firstSeen.has(log.keys[i]!)) firstSeen.set(log.keys[i]!, log.times[i]!);
  }
  const until = log.keys.slice(0, last + 1);
  const firsts = [...firstSeen.values()];
  return {
    smallSeen,
    smallChannels: firstSeen.size,
    seconds: last >= 0 ? (log.times[last]! - startedAt) / 1000 : NaN,
    requestsUntil: until.length,
    bigUntil: until.filter((k) => k === bigKey).length,
    everySmallServedAfter: firstSeen.size === smallChannelCount ? (Math.max(...firsts) - startedAt) / 1000 : undefined,
  };
}
