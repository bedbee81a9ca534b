/**
 * TPS accuracy benchmark (issue 6, benchmark 3): a Herald process against real Postgres + Redis on
 * loopback sends on 20 External channels with a rate limit (7 at tps 5, 7 at tps 10, 6 at tps 50),
 * each backlogged with enough messages for the whole window (tps × BENCH_DURATION × 1.2), to a
 * fake provider answering at once. Each channel's `send_url` is `<provider>/send/<channel uuid>`,
 * so the provider (which logs every request's time) can count per channel.
 *
 *   npx tsx bench/tps.ts                  # about 1 min on the machine of bench/README.md
 *   BENCH_DURATION=10 npx tsx bench/tps.ts
 *
 * Env: BENCH_PG, BENCH_REDIS (as the other scripts), BENCH_DURATION (the steady window, 30 s),
 * BENCH_WORKERS (HERALD_MAX_WORKERS, 32).
 *
 * How: the messages are queued through `POST /api/v1/messages/batch` (1,000 a request, the
 * channels interleaved, each to a new `tel:` URN, one SMS segment, cost 1), sending starting as
 * they arrive. The steady window of a channel begins at the first whole wall-clock second after
 * both its first provider request and the end of queueing, and lasts BENCH_DURATION s; the run
 * ends 1 s after the last window. Per channel:
 *  - "max in a second": the most requests the provider read within one wall-clock second
 *    (Date.now() / 1000 floored, in the provider's thread), over the whole run: must never exceed tps;
 *    "seconds over the limit": how many of the channels' seconds (with any request) were over;
 *  - "average": requests read inside the steady window / its length: goal within 5 % of tps.
 * Baseline: the limit itself (the goal beside each figure).
 */
import type { HeraldProcess } from '../test/support/herald-process.js';
import { FakeProvider } from './fake-provider.js';
import { admin, createChannel, minAvgMax, queueBatches, rateFigures, sleep, startBenchHerald, steadyWindowStart, timesByKey, warningsOf, type BenchHerald, type RateFigures } from './support.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 30);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const LEVELS: Array<{ tps: number; channels: number }> = [
  { tps: 5, channels: 7 },
  { tps: 10, channels: 7 },
  { tps: 50, channels: 6 },
];
const BATCH = 1_000;

interface Channel {
  uuid: string;
  tps: number;
  messages: number;
}

const uuidOf = (i: number) => `0191e180-7d60-7000-8000-${(0xa93000 + i).toString(16).padStart(12, '0')}`;

async function queueAll(proc: HeraldProcess, channels: Channel[]): Promise<number> {
  // Interleave the channels, so every channel has messages queued from the first batch on.
  const all: Array<{ channel: string; urn: string; text: string; priority: 'bulk' }> = [];
  const most = Math.max(...channels.map((c) => c.messages));
  for (let k = 0; k < most; k++) {
    for (const c of channels) {
      if (k < c.messages) all.push({ channel: c.uuid, urn: `tel:+${250_780_000_000 + all.length}`, text: `Hello ${k}`, priority: 'bulk' });
    }
  }
  await queueBatches(proc, all, BATCH);
  return all.length;
}

const startedAll = performance.now();
const provider = await FakeProvider.start();
const channels: Channel[] = [];
for (const level of LEVELS) {
  for (let i = 0; i < level.channels; i++) channels.push({ uuid: uuidOf(channels.length), tps: level.tps, messages: Math.ceil(level.tps * DURATION * 1.2) });
}
let run: BenchHerald | undefined;
let queued = 0;
let queueSeconds = 0;
let queuedAt = 0;
let log: Awaited<ReturnType<FakeProvider['log']>>;
let warnings: string[] = [];
try {
  run = await startBenchHerald('tps', { HERALD_MAX_WORKERS: String(WORKERS) });
  const { proc } = run;
  for (const c of channels) {
    await createChannel(proc, { uuid: c.uuid, type: 'ex', name: `bench tps ${c.tps}`, address: '+250788000000', country: 'RW', tps: c.tps, config: { send_url: `${provider.url}/${c.uuid}` } });
  }
  provider.send('reset');
  const queueStarted = performance.now();
  queued = await queueAll(proc, channels);
  queueSeconds = (performance.now() - queueStarted) / 1000;
  queuedAt = Date.now();
  // Every window starts within a second or two of the end of queueing (unless a channel has not
  // been sent on yet); wait until the latest possible window has ended.
  for (;;) {
    await sleep(500);
    const l = await provider.log();
    const firsts = new Map<string, number>();
    for (let i = 0; i < l.keys.length; i++) if (!firsts.has(l.keys[i]!)) firsts.set(l.keys[i]!, l.times[i]!);
    const starts = channels.map((c) => steadyWindowStart(firsts.get(c.uuid), queuedAt));
    const last = Math.max(...starts.map((s) => (Number.isFinite(s) ? s : queuedAt + 5_000)));
    if (Date.now() > last + DURATION * 1000 + 1_000) break;
    if (Date.now() > queuedAt + (DURATION + 30) * 1000) break; // a channel never started: give up
  }
  log = await provider.log();
  warnings = warningsOf(proc);
} finally {
  await run?.stop();
  await provider.close();
  await admin.end();
}

interface Figures extends RateFigures {
  tps: number;
}
const byChannel = timesByKey(log!);
const figures: Figures[] = channels.map((c) => {
  const times = byChannel.get(c.uuid) ?? [];
  return { tps: c.tps, ...rateFigures(times, c.tps, steadyWindowStart(times[0], queuedAt), DURATION) };
});
const known = new Set(channels.map((c) => c.uuid));
const unknown = log!.keys.filter((k) => !known.has(k)).length;


console.log(
  `\nTPS accuracy: ${channels.length} External channels, ${queued} messages queued in ${queueSeconds.toFixed(1)} s, ${WORKERS} workers, ` +
    `${DURATION} s steady window (${new Date().toISOString()}, ${((performance.now() - startedAll) / 1000).toFixed(0)} s in all)\n`,
);
console.log('| tps | channels | max in one second (min / avg / max) | channels over the limit | seconds over the limit | average in the window, req/s (min / avg / max) | average vs limit (min / avg / max) | channels within 5 % | requests |');
console.log('|---|---|---|---|---|---|---|---|---|');
let over = 0;
let off = 0;
for (const level of LEVELS) {
  const f = figures.filter((x) => x.tps === level.tps);
  const overHere = f.filter((x) => x.maxPerSecond > x.tps).length;
  const within = f.filter((x) => Math.abs(x.average - x.tps) <= 0.05 * x.tps).length;
  over += overHere;
  off += f.length - within;
  console.log(
    `| ${level.tps} | ${f.length} | ${minAvgMax(f.map((x) => x.maxPerSecond), 0)} | ${overHere} | ${f.reduce((a, x) => a + x.secondsOver, 0)} of ${f.reduce((a, x) => a + x.seconds, 0)} | ${minAvgMax(f.map((x) => x.average), 2)} | ${minAvgMax(f.map((x) => (100 * x.average) / x.tps), 1).replace(/([\d.]+)/g, '$1 %')} | ${within} of ${f.length} | ${f.reduce((a, x) => a + x.requests, 0)} |`,
  );
}
console.log(
  `\nverdict: limit ${over === 0 ? 'never exceeded' : `EXCEEDED on ${over} channel(s)`}; average ${off === 0 ? 'within 5 % of the limit on every channel' : `more than 5 % off the limit on ${off} channel(s)`}` +
    ` — goal ${over === 0 && off === 0 ? 'met' : 'NOT met'}.` +
    (unknown > 0 ? ` ${unknown} provider requests with an unknown key.` : '') +
    (warnings.length > 0 ? ` Herald warned: ${warnings.slice(0, 3).join('; ')}.` : ''),
);
