/**
 * Receive-path benchmark: provider callbacks into Herald against real Postgres + Redis on
 * loopback, beside a baseline measured in the same run (a bare Hono route doing one INSERT per
 * request, bench/baseline-server.ts).
 *
 *   npx tsx bench/receive.ts            # 50 connections, 20 s per run
 *   BENCH_DURATION=5 npx tsx bench/receive.ts
 *
 * Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS (default
 * redis://127.0.0.1:6379), BENCH_CONNECTIONS (50), BENCH_DURATION (seconds, 20),
 * BENCH_WARMUP_SECONDS (unmeasured load before each server's first run, 5: the baseline's
 * callbacks, then Herald's mixed). Each server gets a fresh database and Redis prefix, dropped
 * afterwards.
 *
 * A second table gives the CPU time per request answered of the server process, of every Postgres
 * process on the machine (so Postgres must serve nothing else meanwhile) and of autocannon (this
 * process), and the machine's idle share: the cost of a request, which moves less with the
 * machine's speed than requests/s do.
 */
import autocannon from 'autocannon';
import postgres from 'postgres';
import { admin, freshDatabase, idlePercent, machineCpu, postgresCpu, processCpu, startBaselineServer, startBenchHerald, stopChild } from './support.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const EX_CHANNEL = '0191e180-7d60-7000-8000-0000000be0c1';
const TG_CHANNEL = '0191e180-7d60-7000-8000-0000000be0c2';

interface Row {
  run: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  stored: string;
  cpu: CpuPerRequest;
}

/** CPU time per request answered, in µs, of the server process, of Postgres and of this script. */
interface CpuPerRequest {
  server: number;
  postgres: number;
  loadGenerator: number;
  idle: string;
}


/** A different sender on every request, as real traffic has. */
let seq = 0;
const nextSender = () => 250_780_000_000 + (seq++ % 5_000_000);

function externalRequest(): autocannon.Request {
  return {
    method: 'POST',
    path: `/c/ex/${EX_CHANNEL}/receive`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    setupRequest(req) {
      const n = nextSender();
      return { ...req, body: `from=%2B${n}&text=Hello+from+${n}&id=ex-${seq}` };
    },
  };
}

function telegramRequest(): autocannon.Request {
  return {
    method: 'POST',
    path: `/c/tg/${TG_CHANNEL}/receive`,
    headers: { 'content-type': 'application/json' },
    setupRequest(req) {
      const n = nextSender();
      const update = {
        update_id: seq,
        message: {
          message_id: seq,
          from: { id: n, is_bot: false, first_name: 'Bench', username: `user${n}` },
          chat: { id: n, type: 'private' },
          date: Math.floor(Date.now() / 1000),
          text: `Hello from ${n}`,
        },
      };
      return { ...req, body: JSON.stringify(update) };
    },
  };
}

/** The load, with the CPU that the server process, Postgres and autocannon (in this process) spent on it. */
async function load(url: string, serverPid: number, requests: autocannon.Request[]): Promise<{ result: autocannon.Result; cpu: CpuPerRequest }> {
  const [server, pg, machine, own] = [await processCpu(serverPid), await postgresCpu(), await machineCpu(), process.cpuUsage()];
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, requests });
  const ownUsed = process.cpuUsage(own);
  const perRequest = (seconds: number) => Math.round((seconds * 1e6) / Math.max(1, result.requests.total));
  const cpu = {
    server: perRequest((await processCpu(serverPid)) - server),
    postgres: perRequest((await postgresCpu()) - pg),
    loadGenerator: perRequest((ownUsed.user + ownUsed.system) / 1e6),
    idle: idlePercent(machine, await machineCpu()),
  };
  return { result, cpu };
}

/** Unmeasured load first, so that the JIT and the query plans have settled before a server's first measured run. */
async function warmUp(url: string, requests: autocannon.Request[]): Promise<void> {
  if (WARMUP > 0) await autocannon({ url, connections: CONNECTIONS, duration: WARMUP, requests });
}

function row(run: string, { result: r, cpu }: { result: autocannon.Result; cpu: CpuPerRequest }, stored: string): Row {
  return {
    run,
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    stored,
    cpu,
  };
}

async function baseline(): Promise<Row> {
  const url = await freshDatabase('herald_bench_baseline');
  const { child, port } = await startBaselineServer('bench/baseline-server.ts', { BENCH_DATABASE_URL: url });
  const db = postgres(url, { max: 1 });
  const count = async () => Number((await db<[{ count: string }]>`select count(*) from baseline_msgs`)[0].count);
  await warmUp(`http://127.0.0.1:${port}`, [externalRequest()]);
  const before = await count();
  const result = await load(`http://127.0.0.1:${port}`, child.pid!, [externalRequest()]);
  await stopChild(child);
  const stored = (await count()) - before;
  await db.end();
  await admin.unsafe('drop database herald_bench_baseline with (force)');
  return row('baseline: bare Hono route, 1 INSERT/request', result, `${stored} rows`);
}

async function herald(): Promise<Row[]> {
  const run = await startBenchHerald('receive', {}, {
    channels: [
      { uuid: EX_CHANNEL, type: 'ex', name: 'bench ex', address: '+250788000000', country: 'RW', config: { send_url: 'http://127.0.0.1:9/send' } },
      { uuid: TG_CHANNEL, type: 'tg', name: 'bench tg', address: 'benchbot', config: { auth_token: '123456:bench-token' } },
    ],
  });
  const { proc } = run;
  const rows: Row[] = [];
  const db = postgres(run.databaseUrl, { max: 1 });
  const counts = async () => {
    const [c] = await db<[{ msgs: string; contacts: string; logs: string; outbox: string }]>`
      select (select count(*) from msgs where direction = 'in') as msgs,
             (select count(*) from contacts) as contacts,
             (select count(*) from channel_logs) as logs,
             (select count(*) from outbox) as outbox`;
    return c;
  };
  await warmUp(proc.baseUrl, [externalRequest(), telegramRequest()]);
  for (const [name, requests] of [
    ['Herald: External callbacks', [externalRequest()]],
    ['Herald: Telegram callbacks', [telegramRequest()]],
    ['Herald: External + Telegram mixed', [externalRequest(), telegramRequest()]],
  ] as const) {
    const before = await counts();
    const result = await load(proc.baseUrl, proc.child.pid!, [...requests]);
    await new Promise((r) => setTimeout(r, 500));
    const after = await counts();
    const diff = (k: keyof typeof after) => Number(after[k]) - Number(before[k]);
    rows.push(row(name, result, `${diff('msgs')} msgs, ${diff('contacts')} contacts, ${diff('logs')} logs, ${diff('outbox')} outbox`));
  }
  await db.end();
  await run.stop();
  return rows;
}

const rows = [await baseline(), ...(await herald())];
await admin.end();
const base = rows[0]!.rps;
console.log(`\nreceive path, ${CONNECTIONS} connections, ${DURATION} s per run (${new Date().toISOString()})\n`);
console.log('| run | requests | req/s | vs baseline | p50 ms | p99 ms | non-2xx | errors | stored |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.run} | ${r.requests} | ${r.rps} | ${(r.rps / base).toFixed(2)}× | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.stored} |`);
}
// CPU per request does not move with the machine's speed as much as requests/s do.
const baseCpu = rows[0]!.cpu.server + rows[0]!.cpu.postgres;
console.log('\n| run | server CPU µs/request | Postgres CPU µs/request | server + Postgres vs baseline | load generator CPU µs/request | machine idle |');
console.log('|---|---|---|---|---|---|');
for (const { run, cpu } of rows) {
  console.log(`| ${run} | ${cpu.server} | ${cpu.postgres} | ${((cpu.server + cpu.postgres) / baseCpu).toFixed(2)}× | ${cpu.loadGenerator} | ${cpu.idle} |`);
}
