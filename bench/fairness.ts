/**
 * Fairness benchmark (issue 6, benchmark 2): a Herald process against real Postgres + Redis on
 * loopback, 1,000 External channels (tps 0, from `HERALD_CHANNELS_FILE`), one with 50,000 bulk
 * messages queued and 999 with 10 high-priority messages each, sending to a fake provider that
 * answers at once. Each channel's `send_url` is `<provider>/send/<channel uuid>`, so the provider
 * (which logs every request's time) can tell the channels apart.
 *
 *   npx tsx bench/fairness.ts             # about 1 min on the machine of bench/README.md
 *
 * Env: BENCH_PG, BENCH_REDIS (as the other scripts), BENCH_WORKERS (HERALD_MAX_WORKERS, 32),
 * BENCH_BIG (50000), BENCH_TIMEOUT_SECONDS (give up after this long without all high sent, 300).
 *
 * How everything is queued before the clock starts (as in send.ts): the provider first holds
 * every request open; the 50,000 bulk messages are queued first, then the 9,990 high ones, through
 * `POST /api/v1/messages/batch` (1,000 a request, two at a time, each to a new `tel:` URN); the
 * Foreman's workers hang on their first pops, so the rest waits in the queue. Once exactly
 * `workers` requests are held, the clock starts and the provider answers them and every later one
 * at once. The clock stops at the provider's last request from a small channel.
 *
 * Columns: "all high sent after": that time; "requests until then": every provider request up to
 * it (the held first ones included); "big channel's share": the share of those from the big
 * channel (the goal: small, the small channels not starved; 0 would be strict priority); "at the
 * run's rate": the time 9,990 requests take at the rate the provider saw until then: the time if
 * the small channels had had every request (the baseline).
 */
import { FakeProvider } from './fake-provider.js';
import { admin, priorityFigures, queueBatches, sleep, startBenchHerald, waitUntilHeld, warningsOf, type BenchHerald } from './support.js';

const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const BIG = Number(process.env.BENCH_BIG ?? 50_000);
const SMALL_CHANNELS = 999;
const SMALL_EACH = 10;
const SMALL = SMALL_CHANNELS * SMALL_EACH;
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 300) * 1000;
const BATCH = 1_000;

const uuidOf = (i: number) => `0191e180-7d60-7000-8000-${(0xa94000 + i).toString(16).padStart(12, '0')}`;
const BIG_UUID = uuidOf(0);

type Item = { channel: string; urn: string; text: string; priority: 'high' | 'bulk' };

const startedAll = performance.now();
const provider = await FakeProvider.start();
const channels = Array.from({ length: SMALL_CHANNELS + 1 }, (_, i) => ({
  uuid: uuidOf(i),
  type: 'ex',
  name: i === 0 ? 'bench big' : `bench small ${i}`,
  address: '+250788000000',
  country: 'RW',
  tps: 0,
  config: { send_url: `${provider.url}/${uuidOf(i)}` },
}));
let run: BenchHerald | undefined;
let queueSeconds = 0;
let startedAt = 0;
let timedOut = false;
let log: Awaited<ReturnType<FakeProvider['log']>> | undefined;
let warnings: string[] = [];
try {
  provider.send('hold');
  run = await startBenchHerald('fairness', { HERALD_MAX_WORKERS: String(WORKERS) }, { channels });
  const { proc } = run;
  let n = 0;
  const urn = () => `tel:+${250_780_000_000 + n++}`;
  const big: Item[] = Array.from({ length: BIG }, (_, k) => ({ channel: BIG_UUID, urn: urn(), text: `Bulk ${k}`, priority: 'bulk' }));
  const small: Item[] = [];
  for (let k = 0; k < SMALL_EACH; k++) for (let c = 1; c <= SMALL_CHANNELS; c++) small.push({ channel: uuidOf(c), urn: urn(), text: `High ${k}`, priority: 'high' });
  const queueStarted = performance.now();
  await queueBatches(proc, big, BATCH);
  await queueBatches(proc, small, BATCH);
  queueSeconds = (performance.now() - queueStarted) / 1000;
  await waitUntilHeld(provider, WORKERS);
  startedAt = Date.now();
  provider.send('answer');
  for (;;) {
    await sleep(250);
    const l = await provider.log();
    if (l.keys.filter((k) => k !== BIG_UUID).length >= SMALL) break;
    if (Date.now() - startedAt > TIMEOUT_MS) {
      timedOut = true;
      break;
    }
  }
  log = await provider.log();
  warnings = warningsOf(proc);
} finally {
  provider.send('answer');
  await run?.stop();
  await provider.close();
  await admin.end();
}

const f = priorityFigures(log!, BIG_UUID, SMALL, SMALL_CHANNELS, startedAt);
const rate = f.requestsUntil / f.seconds;
const everyFirst = f.everySmallServedAfter !== undefined ? f.everySmallServedAfter.toFixed(2) : `${f.smallChannels} channels`;

console.log(
  `\nfairness: 1 External channel with ${BIG} bulk + ${SMALL_CHANNELS} with ${SMALL_EACH} high each, ${WORKERS} workers, queued in ${queueSeconds.toFixed(1)} s ` +
    `(${new Date().toISOString()}, ${((performance.now() - startedAll) / 1000).toFixed(0)} s in all)\n`,
);
console.log('| run | high sent | all high sent after, s | every small channel served once after, s | requests until then | req/s | big channel requests | big channel\'s share | baseline: 9,990 at the run\'s rate, s | vs baseline | notes |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
const notes = [timedOut ? `TIMED OUT after ${TIMEOUT_MS / 1000} s` : '', warnings.length > 0 ? `logs: ${warnings.slice(0, 3).join('; ')}` : ''].filter(Boolean).join('; ');
console.log(
  `| Herald, Redis queue | ${f.smallSeen} of ${SMALL} (${f.smallChannels} channels) | ${f.seconds.toFixed(2)} | ${everyFirst} | ${f.requestsUntil} | ${Math.round(rate)} | ${f.bigUntil} | ${((100 * f.bigUntil) / f.requestsUntil).toFixed(2)} % | ${(SMALL / rate).toFixed(2)} | ${(f.seconds / (SMALL / rate)).toFixed(2)}× | ${notes} |`,
);
