/**
 * Scale-out benchmark: two Herald processes sharing one Postgres database and one Redis key
 * prefix (as production runs several), against one process in the same run. Three parts, each
 * measured the way the one-process benchmark is, every run with its own database and Redis prefix
 * (dropped afterwards), the processes started on them one after the other (each with a data and
 * spool folder of its own), sending to the fake provider of bench/fake-provider.ts (a worker
 * thread answering 200 at once):
 *
 * 1. Throughput, as bench/send.ts: BENCH_MESSAGES (20,000) messages queued on one External channel
 *    (tps 0) while the provider holds every request, so each process's workers hang on their first
 *    pops and the rest waits in the Redis queue; once exactly processes × workers requests are
 *    held, the clock starts and the provider answers them and every later one at once; it stops at
 *    the first poll (every 100 ms) that finds every message `wired` or `sent` in the database.
 *    Runs: BENCH_RUNS, "processes x workers each", default "1x32,2x32,1x64": one process with 32
 *    workers (the reference: "vs reference" divides by the first run's rate), two with 32 each, and
 *    one with 64 (the two processes' total, to tell more processes from more workers).
 * 2. Global TPS, as bench/tps.ts: BENCH_TPS_CHANNELS (5) External channels at tps BENCH_TPS (10),
 *    each backlogged with tps × BENCH_TPS_SECONDS × 1.2 messages, sending as they are queued; per
 *    channel the provider counts the most requests in one wall-clock second over the whole run
 *    (must not exceed tps: the limit is per channel, not per process) and the average over a
 *    steady window of BENCH_TPS_SECONDS from the first whole second after both the channel's first
 *    request and the end of queueing (goal: within 5 % of tps). One process, then two.
 * 3. Fairness, as bench/fairness.ts: one External channel with BENCH_FAIR_BIG (5,000) bulk messages
 *    queued first, then, once every worker hangs on one of them at the provider, 50 channels with 5
 *    high-priority messages each; the clock starts when the held requests are released: the time until
 *    every high-priority message reached the provider, and the big channel's share of the requests
 *    until then; baseline: the 250 high-priority requests alone at the rate the provider saw. One
 *    process, then two.
 *
 *   npx tsx bench/scale-out.ts          # about 5 min on the machine of bench/README.md
 *   BENCH_MESSAGES=2000 BENCH_RUNS=1x32,2x32 BENCH_TPS_SECONDS=5 BENCH_FAIR_BIG=1000 npx tsx bench/scale-out.ts
 *
 * Env: BENCH_PG, BENCH_REDIS (as the other scripts), BENCH_PARTS (which parts, "send,tps,fairness"),
 * BENCH_MESSAGES (20000), BENCH_RUNS ("1x32,2x32,1x64"), BENCH_STALL_SECONDS (a throughput run gives
 * up when no message is recorded for this long, 30), BENCH_WORKERS (workers per process in the TPS
 * and fairness parts, 32), BENCH_TPS (10), BENCH_TPS_CHANNELS (5), BENCH_TPS_SECONDS (20),
 * BENCH_FAIR_BIG (5000), BENCH_TIMEOUT_SECONDS (a fairness run gives up after this long, 120).
 *
 * Columns: "duplicates": provider requests whose message `id` was seen before in the run (must be
 * 0: no message is sent by both processes); "sent by each process": each process's
 * `herald_messages_sent_total` at the end of the run (its /metrics), how the work was shared;
 * "peak RSS": each process's VmHWM at the end of the run; the others as in send.ts, tps.ts and
 * fairness.ts (bench/README.md).
 */
import postgres from 'postgres';
import type { HeraldProcess } from '../test/support/herald-process.js';
import { FakeProvider, type ProviderLog } from './fake-provider.js';
import {
  admin,
  createChannel,
  messagesSentBy,
  minAvgMax,
  priorityFigures,
  procStatusKb,
  queueBatches,
  rateFigures,
  sleep,
  startBenchHerald,
  steadyWindowStart,
  timesByKey,
  waitForProgress,
  waitUntilHeld,
  warningsOf,
  type BenchHerald,
  type BenchHeraldOptions,
} from './support.js';

const PARTS = (process.env.BENCH_PARTS ?? 'send,tps,fairness').split(',');
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const RUNS = (process.env.BENCH_RUNS ?? '1x32,2x32,1x64').split(',').map((r) => {
  const [processes, workers] = r.split('x').map(Number);
  if (!processes || !workers) throw new Error(`BENCH_RUNS: "${r}" is not "<processes>x<workers>"`);
  return { processes, workers };
});
const STALL_MS = Number(process.env.BENCH_STALL_SECONDS ?? 30) * 1000;
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const TPS = Number(process.env.BENCH_TPS ?? 10);
const TPS_CHANNELS = Number(process.env.BENCH_TPS_CHANNELS ?? 5);
const TPS_SECONDS = Number(process.env.BENCH_TPS_SECONDS ?? 20);
const FAIR_BIG = Number(process.env.BENCH_FAIR_BIG ?? 5_000);
const FAIR_CHANNELS = 50;
const FAIR_EACH = 5;
const FAIR_SMALL = FAIR_CHANNELS * FAIR_EACH;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 120) * 1000;
const BATCH = 1_000;
const ADDRESS = '+250788000000';

const uuidOf = (i: number) => `0191e180-7d60-7000-8000-${(0xa96000 + i).toString(16).padStart(12, '0')}`;
const mib = (kb: number) => (kb / 1024).toFixed(0);
const processesLabel = (n: number) => (n === 1 ? 'one process' : `${n} processes`);

/** A run's Herald processes: the first from startBenchHerald, the others added on its database and Redis prefix. */
async function startProcesses(count: number, workers: number, opts: BenchHeraldOptions = {}): Promise<{ run: BenchHerald; procs: HeraldProcess[] }> {
  const run = await startBenchHerald('scale_out', { HERALD_MAX_WORKERS: String(workers) }, opts);
  const procs = [run.proc];
  try {
    while (procs.length < count) procs.push(await run.addProcess());
  } catch (err) {
    await run.stop();
    throw err;
  }
  return { run, procs };
}

/** "a / b": each process's messages sent, from its metrics. */
async function sentByEach(procs: HeraldProcess[]): Promise<string> {
  return (await Promise.all(procs.map(messagesSentBy))).join(' / ');
}

/** The distinct warn/error log messages of all the processes, the first few. */
function warningsOfAll(procs: HeraldProcess[]): string {
  const all = [...new Set(procs.flatMap(warningsOf))];
  return all.length > 0 ? `logs: ${all.slice(0, 3).join('; ')}` : '';
}

// ── 1. throughput ────────────────────────────────────────────────────────────────────────────

interface SendRow {
  processes: number;
  workers: number;
  messages: number;
  seconds: number;
  rate: number;
  providerDone: string;
  duplicates: number;
  requests: number;
  sentByEach: string;
  rss: string;
  logs: number;
  note: string;
}

async function throughput(provider: FakeProvider, processes: number, workers: number): Promise<SendRow> {
  const channel = uuidOf(0);
  provider.send('hold');
  provider.send('reset');
  const { run, procs } = await startProcesses(processes, workers);
  const db = postgres(run.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await createChannel(run.proc, { uuid: channel, type: 'ex', name: 'bench ex', address: ADDRESS, country: 'RW', tps: 0, config: { send_url: provider.url } });
    const queueStarted = performance.now();
    await queueBatches(
      run.proc,
      Array.from({ length: MESSAGES }, (_, i) => ({ channel, urn: `tel:+${250_780_000_000 + i}`, text: `Hello number ${i}, your code is ${i % 10_000}`, priority: 'bulk' })),
      BATCH,
    );
    const queueSeconds = (performance.now() - queueStarted) / 1000;
    const [{ count: queued }] = await db<[{ count: string }]>`select count(*) from msgs where direction = 'out'`;
    if (Number(queued) !== MESSAGES) throw new Error(`${queued} messages queued, not ${MESSAGES}`);
    const expectHeld = Math.min(processes * workers, MESSAGES);
    await waitUntilHeld(provider, expectHeld);
    const before = await provider.stats();
    if (before.held !== expectHeld || before.requests !== expectHeld) {
      throw new Error(`before the start the provider had ${before.requests} requests, ${before.held} held; expected ${expectHeld}`);
    }

    const done = async () => Number((await db<[{ count: string }]>`select count(*) from msgs where direction = 'out' and status in ('wired', 'sent')`)[0].count);
    const started = performance.now();
    const startedAt = Date.now();
    provider.send('answer');
    const { count, stalled } = await waitForProgress(done, MESSAGES, STALL_MS);
    const seconds = (performance.now() - started) / 1000;
    const hwm = await Promise.all(procs.map((p) => procStatusKb(p.child.pid!, 'VmHWM')));
    const s = await provider.stats();
    const statuses = await db<Array<{ status: string; count: string }>>`
      select status, count(*) from msgs where direction = 'out' group by status order by status`;
    const other = statuses.filter((r) => r.status !== 'wired' && r.status !== 'sent');
    const notes = [
      `queueing ${queueSeconds.toFixed(1)} s`,
      stalled ? `STALLED: no progress for ${STALL_MS / 1000} s` : '',
      other.length > 0 ? `not sent: ${other.map((r) => `${r.count} ${r.status}`).join(', ')}` : '',
      s.noId > 0 ? `${s.noId} requests without id` : '',
      warningsOfAll(procs),
    ];
    return {
      processes,
      workers,
      messages: count,
      seconds,
      rate: count / seconds,
      providerDone: s.answered >= MESSAGES ? ((s.lastAnswer - startedAt) / 1000).toFixed(2) : `${s.answered} answered`,
      duplicates: s.duplicates,
      requests: s.requests,
      sentByEach: await sentByEach(procs),
      rss: hwm.map(mib).join(' / '),
      logs: procs.reduce((n, p) => n + p.logs.filter((l) => typeof l.level === 'number' && l.level >= 40).length, 0),
      note: notes.filter(Boolean).join('; '),
    };
  } finally {
    provider.send('answer');
    await db.end();
    await run.stop();
  }
}

// ── 2. global TPS ────────────────────────────────────────────────────────────────────────────

interface TpsRow {
  processes: number;
  figures: ReturnType<typeof rateFigures>[];
  sentByEach: string;
  note: string;
}

async function globalTps(provider: FakeProvider, processes: number): Promise<TpsRow> {
  const channels = Array.from({ length: TPS_CHANNELS }, (_, i) => uuidOf(100 + i));
  const each = Math.ceil(TPS * TPS_SECONDS * 1.2);
  provider.send('answer');
  const { run, procs } = await startProcesses(processes, WORKERS);
  let log: ProviderLog;
  let queuedAt: number;
  let queueSeconds: number;
  let sent: string;
  try {
    for (const uuid of channels) {
      await createChannel(run.proc, { uuid, type: 'ex', name: `bench tps ${TPS}`, address: ADDRESS, country: 'RW', tps: TPS, config: { send_url: `${provider.url}/${uuid}` } });
    }
    provider.send('reset');
    // The channels interleaved, so every channel has messages queued from the first batch on.
    const all: Array<Record<string, unknown>> = [];
    for (let k = 0; k < each; k++) for (const channel of channels) all.push({ channel, urn: `tel:+${250_780_000_000 + all.length}`, text: `Hello ${k}`, priority: 'bulk' });
    const queueStarted = performance.now();
    await queueBatches(run.proc, all, BATCH);
    queueSeconds = (performance.now() - queueStarted) / 1000;
    queuedAt = Date.now();
    // Wait until the latest channel's steady window has ended (or give up on a channel never sent on).
    for (;;) {
      await sleep(500);
      const byChannel = timesByKey(await provider.log());
      const starts = channels.map((c) => steadyWindowStart(byChannel.get(c)?.[0], queuedAt));
      const last = Math.max(...starts.map((s) => (Number.isFinite(s) ? s : queuedAt + 5_000)));
      if (Date.now() > last + TPS_SECONDS * 1000 + 1_000) break;
      if (Date.now() > queuedAt + (TPS_SECONDS + 30) * 1000) break;
    }
    log = await provider.log();
    sent = await sentByEach(procs);
  } finally {
    await run.stop();
  }
  const byChannel = timesByKey(log);
  const figures = channels.map((c) => {
    const times = byChannel.get(c) ?? [];
    return rateFigures(times, TPS, steadyWindowStart(times[0], queuedAt), TPS_SECONDS);
  });
  const unknown = log.keys.filter((k) => !channels.includes(k)).length;
  const note = [`queueing ${queueSeconds.toFixed(1)} s`, unknown > 0 ? `${unknown} requests with an unknown key` : '', warningsOfAll(procs)];
  return { processes, figures, sentByEach: sent, note: note.filter(Boolean).join('; ') };
}

// ── 3. fairness ──────────────────────────────────────────────────────────────────────────────

interface FairnessRow {
  processes: number;
  /** Requests held at the provider before the clock started, all the big channel's. */
  held: number;
  figures: ReturnType<typeof priorityFigures>;
  sentByEach: string;
  note: string;
}

async function fairness(provider: FakeProvider, processes: number): Promise<FairnessRow> {
  const big = uuidOf(200);
  const small = Array.from({ length: FAIR_CHANNELS }, (_, i) => uuidOf(201 + i));
  const channels = [big, ...small].map((uuid) => ({
    uuid,
    type: 'ex',
    name: uuid === big ? 'bench big' : 'bench small',
    address: ADDRESS,
    country: 'RW',
    tps: 0,
    config: { send_url: `${provider.url}/${uuid}` },
  }));
  const held = Math.min(processes * WORKERS, FAIR_BIG);
  provider.send('hold');
  provider.send('reset');
  const { run, procs } = await startProcesses(processes, WORKERS, { channels });
  let log: ProviderLog;
  let startedAt: number;
  let queueSeconds: number;
  let timedOut = false;
  let sent: string;
  try {
    let n = 0;
    const urn = () => `tel:+${250_780_000_000 + n++}`;
    const bulk = Array.from({ length: FAIR_BIG }, (_, k) => ({ channel: big, urn: urn(), text: `Bulk ${k}`, priority: 'bulk' }));
    const high: Array<Record<string, unknown>> = [];
    for (let k = 0; k < FAIR_EACH; k++) for (const channel of small) high.push({ channel, urn: urn(), text: `High ${k}`, priority: 'high' });
    // Every worker hangs on a bulk message before the high ones are queued, as when a broadcast is
    // under way (with fewer bulk batches than fairness.ts, the pops could otherwise mix the lanes).
    const bulkStarted = performance.now();
    await queueBatches(run.proc, bulk, BATCH);
    const bulkSeconds = (performance.now() - bulkStarted) / 1000;
    await waitUntilHeld(provider, held);
    const highStarted = performance.now();
    await queueBatches(run.proc, high, BATCH);
    queueSeconds = bulkSeconds + (performance.now() - highStarted) / 1000;
    startedAt = Date.now();
    provider.send('answer');
    for (;;) {
      await sleep(250);
      if ((await provider.log()).keys.filter((k) => k !== big).length >= FAIR_SMALL) break;
      if (Date.now() - startedAt > TIMEOUT_MS) {
        timedOut = true;
        break;
      }
    }
    log = await provider.log();
    sent = await sentByEach(procs);
  } finally {
    provider.send('answer');
    await run.stop();
  }
  const note = [`queueing ${queueSeconds.toFixed(1)} s`, timedOut ? `TIMED OUT after ${TIMEOUT_MS / 1000} s` : '', warningsOfAll(procs)];
  return { processes, held, figures: priorityFigures(log, big, FAIR_SMALL, FAIR_CHANNELS, startedAt), sentByEach: sent, note: note.filter(Boolean).join('; ') };
}

// ── runs and report ──────────────────────────────────────────────────────────────────────────

const startedAll = performance.now();
const provider = await FakeProvider.start();
const sends: SendRow[] = [];
const rates: TpsRow[] = [];
const fair: FairnessRow[] = [];
try {
  if (PARTS.includes('send')) for (const r of RUNS) sends.push(await throughput(provider, r.processes, r.workers));
  if (PARTS.includes('tps')) for (const n of [1, 2]) rates.push(await globalTps(provider, n));
  if (PARTS.includes('fairness')) for (const n of [1, 2]) fair.push(await fairness(provider, n));
} finally {
  await provider.close();
  await admin.end();
}

console.log(`\nscale-out: Herald processes sharing one database and Redis prefix (${new Date().toISOString()}, ${((performance.now() - startedAll) / 1000).toFixed(0)} s in all)`);
if (sends.length > 0) {
  console.log(`\nthroughput: ${MESSAGES} queued messages on one External channel (tps 0) to a fake provider answering at once\n`);
  console.log('| run | processes × workers | messages | seconds | msgs/s | vs reference | provider done s | duplicates | provider requests | sent by each process | peak RSS MiB (VmHWM, each process) | warn/error logs | notes |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [i, r] of sends.entries()) {
    console.log(
      `| ${i === 0 ? 'reference: ' : ''}${processesLabel(r.processes)} | ${r.processes} × ${r.workers} | ${r.messages} | ${r.seconds.toFixed(2)} | ${Math.round(r.rate)} | ${(r.rate / sends[0]!.rate).toFixed(2)}× | ` +
        `${r.providerDone} | ${r.duplicates} | ${r.requests} | ${r.sentByEach} | ${r.rss} | ${r.logs} | ${r.note} |`,
    );
  }
}
if (rates.length > 0) {
  console.log(`\nglobal TPS: ${TPS_CHANNELS} External channels at tps ${TPS}, ${Math.ceil(TPS * TPS_SECONDS * 1.2)} messages each, ${WORKERS} workers a process, ${TPS_SECONDS} s steady window\n`);
  console.log('| run | max in one second (min / avg / max) | channels over the limit | seconds over the limit | average in the window, req/s (min / avg / max) | average vs limit (min / avg / max) | channels within 5 % | requests | sent by each process | notes |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rates) {
    const f = r.figures;
    console.log(
      `| ${processesLabel(r.processes)} | ${minAvgMax(f.map((x) => x.maxPerSecond), 0)} | ${f.filter((x) => x.maxPerSecond > TPS).length} of ${f.length} | ` +
        `${f.reduce((a, x) => a + x.secondsOver, 0)} of ${f.reduce((a, x) => a + x.seconds, 0)} | ${minAvgMax(f.map((x) => x.average), 2)} | ` +
        `${minAvgMax(f.map((x) => (100 * x.average) / TPS), 1).replace(/([\d.]+)/g, '$1 %')} | ${f.filter((x) => Math.abs(x.average - TPS) <= 0.05 * TPS).length} of ${f.length} | ` +
        `${f.reduce((a, x) => a + x.requests, 0)} | ${r.sentByEach} | ${r.note} |`,
    );
  }
}
if (fair.length > 0) {
  console.log(`\nfairness: 1 External channel with ${FAIR_BIG} bulk + ${FAIR_CHANNELS} with ${FAIR_EACH} high each, ${WORKERS} workers a process\n`);
  console.log(`| run | high sent | all high sent after, s | every small channel served once after, s | requests until then | req/s | big channel requests (held before the clock) | big channel's share | baseline: ${FAIR_SMALL} at the run's rate, s | vs baseline | sent by each process | notes |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of fair) {
    const f = r.figures;
    const rate = f.requestsUntil / f.seconds;
    console.log(
      `| ${processesLabel(r.processes)} | ${f.smallSeen} of ${FAIR_SMALL} (${f.smallChannels} channels) | ${f.seconds.toFixed(2)} | ${f.everySmallServedAfter?.toFixed(2) ?? `${f.smallChannels} channels`} | ` +
        `${f.requestsUntil} | ${Math.round(rate)} | ${f.bigUntil} (${r.held}) | ${((100 * f.bigUntil) / f.requestsUntil).toFixed(2)} % | ${(FAIR_SMALL / rate).toFixed(2)} | ` +
        `${(f.seconds / (FAIR_SMALL / rate)).toFixed(2)}× | ${r.sentByEach} | ${r.note} |`,
    );
  }
}
