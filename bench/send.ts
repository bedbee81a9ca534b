/**
 * Send throughput benchmark (issue 6, benchmark 1, with the peak RSS of benchmark 6): a Herald
 * process against real Postgres + Redis on loopback sends 20,000 queued messages on one External
 * channel (tps 0) to a fake provider that answers 200 at once, with 32 and with 128 workers
 * (`HERALD_MAX_WORKERS`); beside each, a baseline measured in the same run: the same fake provider
 * driven directly by a plain Node `fetch` loop with the same concurrency, 20,000 requests with a
 * body of the same form and size.
 *
 *   npx tsx bench/send.ts               # about 3 min in all on the machine of bench/README.md
 *   BENCH_MESSAGES=5000 BENCH_WORKERS=32 npx tsx bench/send.ts
 *
 * Env: BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS (default
 * redis://127.0.0.1:6379), BENCH_MESSAGES (20000), BENCH_WORKERS (comma-separated, "32,128"),
 * BENCH_STALL_SECONDS (a Herald run gives up when no message is recorded for this long, 30).
 *
 * How the 20,000 are queued before the clock starts: each Herald run gets its own process,
 * database and Redis prefix (dropped afterwards). The fake provider (in a worker thread, so it
 * does not share an event loop with this script) first holds every request open. The messages
 * are queued through `POST /api/v1/messages/batch`, 1,000 per request, two requests at a time,
 * each message to a new `tel:+25078…` URN; meanwhile the Foreman pops its first `workers`
 * messages and its workers hang on them, so the other messages wait in the Redis queue. Once all
 * 20,000 are in the database and exactly `workers` requests are held at the provider, the clock
 * starts and the provider answers the held requests and every later one at once. The clock stops
 * at the first poll (every 100 ms) that finds 20,000 messages `wired` or `sent` in the database:
 * "first pop to last recorded status", the first `workers` pops and provider requests happening
 * just before the clock starts (at most 128 of the 20,000), every other pop, request and every
 * status write inside it.
 *
 * Columns: seconds and msgs/s as above (the baseline: first request to last answer read);
 * "provider done": when the provider had answered its last request, on the same clock (the rest
 * is status recording); "peak RSS": the Herald process's VmHWM at the end of the run (queueing
 * through the API included) and the largest VmRSS sampled while sending; duplicates: provider
 * requests whose message `id` (the External handler's default body carries it) was seen before
 * in the run, which must be 0; "body bytes": the average request body the provider read; "Herald
 * CPU": cores the Herald process used while sending (/proc/<pid>/stat); "Postgres CPU": cores used
 * meanwhile by the Postgres backends connected to the run's database when sending started (Herald's
 * pool and this script's one connection; pg_stat_activity), and how many; "machine idle": the whole
 * machine's idle share meanwhile (/proc/stat: Postgres, Redis and this script included); "warn/error
 * logs": log lines Herald printed at warn or above, the first few kinds named in the notes.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { FakeProvider } from './fake-provider.js';
import { admin, createChannel, idlePercent, machineCpu, processCpu, procStatusKb, queueBatches, startBenchHerald, waitForProgress, waitUntilHeld } from './support.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const WORKERS = (process.env.BENCH_WORKERS ?? '32,128').split(',').map(Number);
const STALL_MS = Number(process.env.BENCH_STALL_SECONDS ?? 30) * 1000;
const BATCH = 1_000;
const CHANNEL = '0191e180-7d60-7000-8000-0000000a9201';
const ADDRESS = '+250788000000';

interface Row {
  run: string;
  workers: number;
  messages: number;
  seconds: number;
  rate: number;
  providerDone: string;
  rss: string;
  duplicates: number;
  requests: number;
  bodyBytes: string;
  logs: string;
  /** Cores the Herald process used while sending. */
  heraldCpu: string;
  /** Cores the run database's Postgres backends used while sending, and how many there were. */
  pgCpu: string;
  /** The machine's idle share while sending. */
  idle: string;
  note: string;
}

// ── the fake provider ────────────────────────────────────────────────────────────────────────

// ── messages ─────────────────────────────────────────────────────────────────────────────────

/** A different recipient for every message, as a broadcast has. */
const urnOf = (i: number) => `tel:+${250_780_000_000 + i}`;
const textOf = (i: number) => `Hello number ${i}, your code is ${i % 10_000}`;

/** What the External handler posts by default (its `urlencoded` body template), for the baseline. */
function externalBody(id: string, i: number): string {
  const to = `+${250_780_000_000 + i}`;
  const e = encodeURIComponent;
  return `id=${e(id)}&text=${e(textOf(i))}&to=${e(to)}&to_no_plus=${e(to.slice(1))}&from=${e(ADDRESS)}&from_no_plus=${e(ADDRESS.slice(1))}&channel=${e(CHANNEL)}`;
}

const mib = (kb: number) => (kb / 1024).toFixed(0);

// ── runs ─────────────────────────────────────────────────────────────────────────────────────

async function baseline(provider: FakeProvider, concurrency: number): Promise<Row> {
  provider.send('answer');
  provider.send('reset');
  let next = 0;
  let failures = 0;
  const machineBefore = await machineCpu();
  const started = performance.now();
  const startedAt = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < MESSAGES) {
        const i = next++;
        try {
          const res = await fetch(provider.url, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: externalBody(randomUUID(), i),
          });
          await res.text();
          if (!res.ok) failures++;
        } catch {
          failures++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const idle = idlePercent(machineBefore, await machineCpu());
  const s = await provider.stats();
  return {
    run: 'baseline: fetch loop → fake provider',
    workers: concurrency,
    messages: s.answered,
    seconds,
    rate: s.answered / seconds,
    providerDone: ((s.lastAnswer - startedAt) / 1000).toFixed(2),
    rss: '-',
    duplicates: s.duplicates,
    requests: s.requests,
    bodyBytes: (s.bodyBytes / Math.max(1, s.requests)).toFixed(0),
    logs: '-',
    heraldCpu: '-',
    pgCpu: '-',
    idle,
    note: failures > 0 ? `${failures} failed requests` : '',
  };
}

async function herald(provider: FakeProvider, workers: number): Promise<Row> {
  provider.send('hold');
  provider.send('reset');
  const run = await startBenchHerald('send', { HERALD_MAX_WORKERS: String(workers) });
  const { proc } = run;
  const db = postgres(run.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await createChannel(proc, { uuid: CHANNEL, type: 'ex', name: 'bench ex', address: ADDRESS, country: 'RW', tps: 0, config: { send_url: provider.url } });

    // Queue everything while the provider holds the first sends (they would time out after 30 s).
    const queueStarted = performance.now();
    await queueBatches(
      proc,
      Array.from({ length: MESSAGES }, (_, i) => ({ channel: CHANNEL, urn: urnOf(i), text: textOf(i), priority: 'bulk' })),
      BATCH,
    );
    const queueSeconds = (performance.now() - queueStarted) / 1000;
    const [{ count: queued }] = await db<[{ count: string }]>`select count(*) from msgs where direction = 'out'`;
    if (Number(queued) !== MESSAGES) throw new Error(`${queued} messages queued, not ${MESSAGES}`);
    const expectHeld = Math.min(workers, MESSAGES);
    await waitUntilHeld(provider, expectHeld);
    const before = await provider.stats();
    if (before.held !== expectHeld || before.requests !== expectHeld) {
      throw new Error(`before the start the provider had ${before.requests} requests, ${before.held} held; expected ${expectHeld}`);
    }

    const done = async () =>
      Number((await db<[{ count: string }]>`select count(*) from msgs where direction = 'out' and status in ('wired', 'sent')`)[0].count);
    const pid = proc.child.pid!;
    let rssPeak = await procStatusKb(pid, 'VmRSS');
    // The Postgres backends serving this run's database (Herald's pool and this script's client).
    const backends = (await admin<Array<{ pid: number }>>`select pid from pg_stat_activity where datname = ${run.database}`).map((r) => r.pid);
    const backendsCpu = async () => (await Promise.all(backends.map((p) => processCpu(p).catch(() => 0)))).reduce((a, b) => a + b, 0);
    const [cpuBefore, pgBefore, machineBefore] = [await processCpu(pid), await backendsCpu(), await machineCpu()];
    const started = performance.now();
    const startedAt = Date.now();
    provider.send('answer');
    const { count, stalled, longestGapMs: longestGap } = await waitForProgress(done, MESSAGES, STALL_MS, async () => {
      rssPeak = Math.max(rssPeak, await procStatusKb(pid, 'VmRSS'));
    });
    const seconds = (performance.now() - started) / 1000;
    const heraldCpu = ((await processCpu(pid)) - cpuBefore) / seconds;
    const pgCpu = ((await backendsCpu()) - pgBefore) / seconds;
    const idle = idlePercent(machineBefore, await machineCpu());
    const hwm = await procStatusKb(pid, 'VmHWM');
    const s = await provider.stats();
    const statuses = await db<Array<{ status: string; count: string }>>`
      select status, count(*) from msgs where direction = 'out' group by status order by status`;
    const other = statuses.filter((r) => r.status !== 'wired' && r.status !== 'sent');
    const noisy = proc.logs.filter((l) => typeof l.level === 'number' && l.level >= 40);
    const kinds = [...new Set(noisy.map((l) => String(l.msg)))];
    const notes = [
      `queueing ${queueSeconds.toFixed(1)} s`,
      longestGap >= 1_000 ? `longest time without a status recorded: ${(longestGap / 1000).toFixed(1)} s` : '',
      stalled ? `STALLED: no progress for ${STALL_MS / 1000} s` : '',
      other.length > 0 ? `not sent: ${other.map((r) => `${r.count} ${r.status}`).join(', ')}` : '',
      s.noId > 0 ? `${s.noId} requests without id` : '',
      kinds.length > 0 ? `logs: ${kinds.slice(0, 3).join('; ')}` : '',
    ];
    return {
      run: 'Herald: External, tps 0',
      workers,
      messages: count,
      seconds,
      rate: count / seconds,
      providerDone: s.answered >= MESSAGES ? ((s.lastAnswer - startedAt) / 1000).toFixed(2) : `${s.answered} answered`,
      rss: `${mib(hwm)} / ${mib(rssPeak)}`,
      duplicates: s.duplicates,
      requests: s.requests,
      bodyBytes: (s.bodyBytes / Math.max(1, s.requests)).toFixed(0),
      logs: String(noisy.length),
      heraldCpu: heraldCpu.toFixed(2),
      pgCpu: `${pgCpu.toFixed(2)} (${backends.length})`,
      idle,
      note: notes.filter(Boolean).join('; '),
    };
  } finally {
    provider.send('answer');
    await db.end();
    await run.stop();
  }
}

const startedAll = performance.now();
const provider = await FakeProvider.start();
const groups: Row[][] = [];
try {
  for (const workers of WORKERS) groups.push([await baseline(provider, workers), await herald(provider, workers)]);
} finally {
  await provider.close();
  await admin.end();
}

console.log(
  `\nsending ${MESSAGES} queued messages on one External channel (tps 0) to a fake provider answering at once ` +
    `(${new Date().toISOString()}, ${((performance.now() - startedAll) / 1000).toFixed(0)} s in all)\n`,
);
console.log('| run | workers | messages | seconds | msgs/s | vs baseline | provider done s | peak RSS MiB (VmHWM / sending) | duplicates | provider requests | body bytes | Herald CPU (cores) | Postgres CPU (cores, backends) | machine idle | warn/error logs | notes |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const group of groups) {
  const base = group[0]!.rate;
  for (const r of group) {
    console.log(
      `| ${r.run} | ${r.workers} | ${r.messages} | ${r.seconds.toFixed(2)} | ${Math.round(r.rate)} | ${(r.rate / base).toFixed(2)}× | ${r.providerDone} | ${r.rss} | ${r.duplicates} | ${r.requests} | ${r.bodyBytes} | ${r.heraldCpu} | ${r.pgCpu} | ${r.idle} | ${r.logs} | ${r.note} |`,
    );
  }
}
