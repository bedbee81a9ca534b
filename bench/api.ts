/**
 * Upstream API benchmark: queueing outgoing messages through `POST /api/v1/messages` and
 * `POST /api/v1/messages/batch` of a Herald process against real Postgres + Redis on loopback,
 * each beside a baseline measured in the same run (bare Hono routes on the same paths doing one
 * INSERT per message, or one multi-row INSERT per batch: bench/api-baseline-server.ts).
 *
 *   npx tsx bench/api.ts                # 20 s per run, about 2 min 40 s in all
 *   BENCH_DURATION=5 npx tsx bench/api.ts
 *
 * Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS (default
 * redis://127.0.0.1:6379), BENCH_DURATION (seconds per run, 20), BENCH_CONNECTIONS (single
 * messages, 50), BENCH_BATCH_CONNECTIONS (batches of 100, 10; batches of 1,000 use a fifth).
 *
 * Runs: single messages (50 connections), batches of 100 (10 connections) and of 1,000 (2
 * connections: a batch of 1,000 takes Herald seconds, and with 10 at once none would finish
 * within a run). Every Herald run gets its own process, database and Redis prefix (dropped
 * afterwards), so no run inherits another's backlog or table sizes. The channel is an External
 * channel created through the API, its `send_url` pointing at a fake provider in a worker thread
 * of this process. Every message goes to a new `tel:+25078…` URN, so each one also creates its
 * contact, as a broadcast to new recipients does.
 *
 * Sending is live: the Foreman sends while the benchmark runs, as it would in production, and
 * the table says how many the provider had received by the end of the run. This keeps the
 * numbers meaningful because sending takes only a small share under API load (the Foreman pops
 * and claims one message at a time, through the same connection pool the API uses), so the
 * backlog it leaves does not change what the API is measured doing. To show what concurrent
 * sending costs, single messages are also measured with sending held: the provider never answers,
 * so the Foreman's 32 workers hang on their first 32 sends and everything else waits in the
 * queue; that row is the queueing path alone. Held requests are answered when the load ends,
 * before Herald is stopped.
 *
 * msgs/s: messages in the database when the load ends (counted then; a batch still in flight
 * counts for the part stored), over the run's duration. "stored": rows a moment later, in-flight
 * requests included. A batch's 202 may hold per-item errors: stored rows show whether every item
 * was queued.
 */
import autocannon from 'autocannon';
import postgres from 'postgres';
import { FakeProvider } from './fake-provider.js';
import { admin, AUTH, BENCH_TOKEN, createChannel, freshDatabase, startBaselineServer, startBenchHerald, stopChild } from './support.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BATCH_CONNECTIONS = Number(process.env.BENCH_BATCH_CONNECTIONS ?? 10);
const CHANNEL = '0191e180-7d60-7000-8000-0000000a9101';

interface Scenario {
  name: string;
  /** Messages per request: 1 is `POST /messages`, more is `POST /messages/batch`. */
  size: number;
  connections: number;
  /** Whether the fake provider answers sends at once, or holds them until the run ends. */
  sending: 'live' | 'held';
}

interface Row {
  run: string;
  size: number;
  connections: number;
  requests: number;
  rps: string;
  mps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  stored: string;
  sent: string;
}


// ── load ─────────────────────────────────────────────────────────────────────────────────────

/** A different recipient for every message, as a broadcast has. */
let seq = 0;
const nextUrn = () => `tel:+${250_780_000_000 + (seq++ % 10_000_000)}`;
const message = (priority: 'high' | 'bulk') => ({ channel: CHANNEL, urn: nextUrn(), text: `Hello number ${seq}, your code is ${seq % 10_000}`, priority });

function requestOf(size: number): autocannon.Request {
  return size === 1
    ? { method: 'POST', path: '/api/v1/messages', headers: AUTH, setupRequest: (req) => ({ ...req, body: JSON.stringify(message('high')) }) }
    : {
        method: 'POST',
        path: '/api/v1/messages/batch',
        headers: AUTH,
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ messages: Array.from({ length: size }, () => message('bulk')) }) }),
      };
}

function load(url: string, s: Scenario): Promise<autocannon.Result> {
  // A batch of 1,000 can take seconds under load: no request counts as lost before 60 s.
  return autocannon({ url, connections: s.connections, duration: DURATION, timeout: 60, requests: [requestOf(s.size)] });
}

function row(run: string, s: Scenario, r: autocannon.Result, storedAtEnd: number, stored: string, sent: string): Row {
  return {
    run,
    size: s.size,
    connections: s.connections,
    requests: r.requests.total,
    rps: r.requests.average < 10 ? r.requests.average.toFixed(1) : String(Math.round(r.requests.average)),
    mps: Math.round(storedAtEnd / r.duration),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    stored,
    sent,
  };
}

// ── runs ─────────────────────────────────────────────────────────────────────────────────────

async function baseline(s: Scenario): Promise<Row> {
  const url = await freshDatabase('herald_bench_api_baseline');
  const { child, port } = await startBaselineServer('bench/api-baseline-server.ts', { BENCH_DATABASE_URL: url, BENCH_TOKEN });
  const db = postgres(url, { max: 1 });
  const count = async () => Number((await db<[{ count: string }]>`select count(*) from baseline_out`)[0].count);
  await count();
  const result = await load(`http://127.0.0.1:${port}`, s);
  const atEnd = await count();
  await new Promise((r) => setTimeout(r, 500));
  const stored = await count();
  await stopChild(child);
  await db.end();
  await admin.unsafe('drop database herald_bench_api_baseline with (force)');
  return row(s.name, s, result, atEnd, `${stored} rows`, '-');
}

async function herald(s: Scenario, provider: FakeProvider): Promise<Row> {
  provider.send(s.sending === 'held' ? 'hold' : 'answer');
  const before = await provider.stats();
  const run = await startBenchHerald('api');
  const { proc } = run;
  await createChannel(proc, {
    uuid: CHANNEL,
    type: 'ex',
    name: 'bench ex',
    address: '+250788000000',
    country: 'RW',
    config: { send_url: `http://127.0.0.1:${provider.port}/send` },
  });

  const db = postgres(run.databaseUrl, { max: 1 });
  const queued = async () => Number((await db<[{ count: string }]>`select count(*) from msgs where direction = 'out'`)[0].count);
  await queued();
  const result = await load(proc.baseUrl, s);
  const atEnd = await queued();
  const sentByEnd = (await provider.stats()).answered - before.answered;
  await new Promise((r) => setTimeout(r, 500));
  const [c] = await db<[{ msgs: string; contacts: string; history: string }]>`
    select (select count(*) from msgs where direction = 'out') as msgs,
           (select count(*) from contacts) as contacts,
           (select count(*) from msg_status_history where status = 'queued') as history`;
  provider.send('answer');
  await db.end();
  await run.stop();
  const sent = s.sending === 'held' ? 'held' : `${sentByEnd} (${Math.round(sentByEnd / result.duration)}/s)`;
  return row(s.name, s, result, atEnd, `${c.msgs} msgs, ${c.contacts} contacts, ${c.history} history`, sent);
}

const single = (name: string, sending: Scenario['sending']): Scenario => ({ name, size: 1, connections: CONNECTIONS, sending });
const batch = (name: string, size: number, connections: number): Scenario => ({ name, size, connections, sending: 'live' });

const provider = await FakeProvider.start();
const groups: Row[][] = [];
try {
  groups.push([
    await baseline(single('baseline: bare Hono route, 1 INSERT/message', 'live')),
    await herald(single('Herald: sending live', 'live'), provider),
    await herald(single('Herald: sending held (queueing alone)', 'held'), provider),
  ]);
  for (const [size, connections] of [
    [100, BATCH_CONNECTIONS],
    [1000, Math.max(1, Math.round(BATCH_CONNECTIONS / 5))],
  ] as const) {
    groups.push([
      await baseline(batch('baseline: bare Hono route, 1 multi-row INSERT/batch', size, connections)),
      await herald(batch('Herald: sending live', size, connections), provider),
    ]);
  }
} finally {
  await provider.close();
  await admin.end();
}

/** Two decimals, three below 0.1 (Herald's batches are a few thousandths of their baseline). */
const ratio = (x: number) => x.toFixed(x < 0.1 ? 3 : 2);

console.log(
  `\nqueueing outgoing messages through the API, ${DURATION} s per run (${new Date().toISOString()})\n`,
);
console.log('| run | msgs/request | conns | requests | req/s | msgs/s | vs baseline | p50 ms | p99 ms | non-2xx | errors | stored | sent by the end |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const group of groups) {
  const base = group[0]!.mps;
  for (const r of group) {
    console.log(
      `| ${r.run} | ${r.size} | ${r.connections} | ${r.requests} | ${r.rps} | ${r.mps} | ${ratio(r.mps / base)}× | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.stored} | ${r.sent} |`,
    );
  }
}
