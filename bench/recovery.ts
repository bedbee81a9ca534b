/**
 * Recovery benchmark: Postgres cut for 30 s under a steady 500 External callbacks/s. A Herald
 * process against real Postgres + Redis on loopback, its `HERALD_DATABASE_URL` pointing through
 * the TCP proxy of the fault tests (test/support/tcp-proxy.ts); after a warm-up and
 * BENCH_BEFORE_SECONDS of load the proxy is cut (open connections destroyed, new ones closed at
 * once, as a Postgres that went away), healed BENCH_CUT_SECONDS later, and the load goes on
 * BENCH_AFTER_SECONDS more; then the run waits for the spool to empty. Beside it, measured in the
 * same run: the same load on a process whose proxy is never cut (the reference).
 *
 *   npx tsx bench/recovery.ts           # 3–6 min on the machine of bench/README.md (the spool's replay sets it)
 *   BENCH_WARMUP_SECONDS=3 BENCH_BEFORE_SECONDS=3 BENCH_CUT_SECONDS=5 BENCH_AFTER_SECONDS=5 BENCH_REFERENCE_SECONDS=5 npx tsx bench/recovery.ts
 *
 * Env: BENCH_PG, BENCH_REDIS (as the other scripts), BENCH_RATE (callbacks/s, 500),
 * BENCH_WARMUP_SECONDS (load before anything is measured, 5), BENCH_BEFORE_SECONDS (load before the
 * cut, 10), BENCH_CUT_SECONDS (30), BENCH_AFTER_SECONDS (load after the heal, 20),
 * BENCH_DRAIN_SECONDS (after the load, how long to wait at most for the spool to empty, 300),
 * BENCH_REFERENCE_SECONDS (the reference's load after its warm-up, 20), BENCH_TIMEOUT_SECONDS (a
 * callback not answered within this long counts as a timeout, 10), BENCH_TIMELINE (1: also print
 * the cut run second by second, with what Herald logged).
 *
 * The load is open-loop: every 10 ms a timer sends as many callbacks as are due at BENCH_RATE since
 * the load started, whatever is still waiting for an answer (a slow Herald gets more requests in
 * flight, not fewer requests: closed-loop load would hide a stall), over keep-alive connections
 * (at most 512 at once; a request waiting for one is timed from when it was made). Each callback is
 * `POST /c/ex/<uuid>/receive` with a new sender (`from`), a text of its own and an `id`, so what
 * was stored can be matched to what was answered.
 *
 * First table, one row per phase (by when each callback was sent; the warm-up has its own row, a
 * fresh process being slow for its first seconds): sent, the rate actually sent, answered 2xx,
 * other HTTP answers, errors (refused, reset) and timeouts, and the latency of the answered ones
 * (p50, p99, max, from the request made to the answer read).
 *
 * Second table, per run: "spool peak": the most files waiting in the spool folders (`msgs`,
 * `statuses`, `events`, `logs`; quarantine not counted), sampled every 250 ms; "at heal": files
 * waiting when the proxy was healed; "heal → empty": from the heal to the first sample with none
 * waiting (the load going on for BENCH_AFTER_SECONDS of it); "stored": distinct callback texts
 * among the incoming messages in Postgres after Herald was stopped (SIGTERM drains its pending
 * writes); "lost": answered 2xx but not stored (must be 0); "duplicates": stored copies beyond the
 * first (must be 0); "stored without a 2xx": callbacks that timed out or failed but were stored all
 * the same (a provider would retry them: deduplication's job); "left in spool", "quarantined":
 * files in the spool at the end; "peak RSS": the Herald process's VmHWM at the end of the run and
 * the largest VmRSS sampled. If the Herald process exits on its own, the notes say when and with
 * what error; the load goes on against the dead port (errors), and after the load a new process on
 * the same spool folder replays what the dead one spooled, so that "lost" still counts only what
 * was answered 2xx and is nowhere ("heal → empty" is then from that restart).
 */
import { Agent, request } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import type { HeraldProcess } from '../test/support/herald-process.js';
import { SPOOL_KINDS } from '../spool/spool.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';
import { admin, PG, procStatusKb, sleep, startBenchHerald, warningsOf, type BenchHerald } from './support.js';

const RATE = Number(process.env.BENCH_RATE ?? 500);
const BEFORE_S = Number(process.env.BENCH_BEFORE_SECONDS ?? 10);
const CUT_S = Number(process.env.BENCH_CUT_SECONDS ?? 30);
const AFTER_S = Number(process.env.BENCH_AFTER_SECONDS ?? 20);
const DRAIN_S = Number(process.env.BENCH_DRAIN_SECONDS ?? 300);
const REFERENCE_S = Number(process.env.BENCH_REFERENCE_SECONDS ?? 20);
const WARMUP_S = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 10) * 1000;
const TIMELINE = process.env.BENCH_TIMELINE === '1';
const CHANNEL = '0191e180-7d60-7000-8000-0000000a9501';
const mib = (kb: number) => (kb / 1024).toFixed(0);

// ── the load ─────────────────────────────────────────────────────────────────────────────────

/** What became of one callback. `status` is the HTTP status, or 'error' / 'timeout'. */
interface Outcome {
  n: number;
  /** performance.now() when the request was made. */
  sentAt: number;
  ms: number;
  status: number | 'error' | 'timeout';
}

const textOf = (n: number) => `recovery bench callback ${n}`;

/**
 * External callbacks at a fixed rate, open loop: `start`, then `stop` answers every callback's
 * outcome once the last one sent is answered or timed out.
 */
class CallbackLoad {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 512 });
  private readonly outcomes: Outcome[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;
  private inFlight = 0;
  private idle: (() => void) | null = null;

  constructor(private readonly baseUrl: string) {}

  start(): void {
    const started = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) * RATE) / 1000);
      while (this.sent < due) this.fire(this.sent++);
    }, 10);
  }

  async stop(): Promise<Outcome[]> {
    if (this.timer) clearInterval(this.timer);
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.agent.destroy();
    return this.outcomes;
  }

  private fire(n: number): void {
    const sender = 250_781_000_000 + n;
    const body = `from=%2B${sender}&text=${encodeURIComponent(textOf(n))}&id=rec-${n}`;
    const sentAt = performance.now();
    let settled = false;
    const settle = (status: Outcome['status']) => {
      if (settled) return;
      settled = true;
      this.outcomes.push({ n, sentAt, ms: performance.now() - sentAt, status });
      if (--this.inFlight === 0 && this.idle) this.idle();
    };
    this.inFlight++;
    const req = request(
      `${this.baseUrl}/c/ex/${CHANNEL}/receive`,
      {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
      (res) => {
        res.resume();
        res.on('end', () => settle(res.statusCode ?? 'error'));
        res.on('error', () => settle('error'));
      },
    );
    req.on('error', (err) => settle(err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timeout' : 'error'));
    req.end(body);
  }
}

// ── sampling the spool and the process ───────────────────────────────────────────────────────

/** Files waiting in a spool folder's kinds (quarantine not counted). */
async function spoolFiles(dir: string): Promise<number> {
  const counts = await Promise.all(SPOOL_KINDS.map(async (kind) => (await readdir(join(dir, kind)).catch(() => [])).filter((n) => n.endsWith('.json')).length));
  return counts.reduce((a, b) => a + b, 0);
}

interface Sample {
  at: number;
  files: number;
  rssKb: number;
}

/** Samples the spool and the process's VmRSS every 250 ms until `stop`. */
function startSampler(run: BenchHerald): { samples: Sample[]; stop(): void } {
  const samples: Sample[] = [];
  const pid = run.proc.child.pid!;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void Promise.all([spoolFiles(run.spoolDir), procStatusKb(pid, 'VmRSS').catch(() => NaN)])
      .then(([files, rssKb]) => samples.push({ at: performance.now(), files, rssKb }))
      .finally(() => (busy = false));
  }, 250);
  return { samples, stop: () => clearInterval(timer) };
}

// ── runs ─────────────────────────────────────────────────────────────────────────────────────

/** The q-quantile of sorted latencies, in ms with one decimal; '-' when there are none. */
function percentile(sorted: number[], q: number): string {
  return sorted.length === 0 ? '-' : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!.toFixed(1);
}

interface PhaseRow {
  run: string;
  phase: string;
  seconds: number;
  outcomes: Outcome[];
}

interface RunRow {
  run: string;
  spoolPeak: number;
  atHeal: string;
  healToEmpty: string;
  answered: number;
  stored: number;
  lost: number;
  duplicates: number;
  storedWithout2xx: number;
  leftInSpool: number;
  quarantined: number;
  rss: string;
  notes: string;
}

interface Plan {
  /** Seconds of load before the measured phases (its own row: a fresh process is slow at first). */
  warmup: number;
  /** Seconds of load before the cut, of the cut, and after the heal; no cut when `cut` is 0. */
  before: number;
  cut: number;
  after: number;
}

/** When and how a Herald process exited on its own, if it did: the first error line of its stderr. */
function watchExit(proc: HeraldProcess): { at?: number; code?: number | null; error?: string } {
  const exit: { at?: number; code?: number | null; error?: string } = {};
  let stderr = '';
  proc.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  proc.child.once('exit', (code, signal) => {
    exit.at = performance.now();
    exit.code = code ?? (signal === null ? null : -1);
    exit.error = /^\w*Error\b.*$/m.exec(stderr)?.[0] ?? (signal ?? '');
  });
  return exit;
}

interface Measured {
  phases: PhaseRow[];
  summary: RunRow;
  /** The run second by second (BENCH_TIMELINE=1). */
  timeline: string[];
}

/**
 * One markdown row per second from `started` (performance.now()) to `end`: the callbacks sent in
 * that second and what became of them, the spool's last sample, the moments in `marks` and what
 * Herald logged (at info or above; `startedEpoch` is Date.now() at `started`).
 */
function timelineOf(started: number, startedEpoch: number, end: number, outcomes: Outcome[], samples: Sample[], marks: Array<[number, string]>, logs: Array<Record<string, unknown>>): string[] {
  const rows: string[] = [];
  for (let from = started, sec = 0; from < end; from += 1000, sec++) {
    const inSecond = (at: number) => at >= from && at < from + 1000;
    const sent = outcomes.filter((o) => inSecond(o.sentAt));
    const latencies = sent.filter((o) => typeof o.status === 'number').map((o) => o.ms).sort((a, b) => a - b);
    const ok = sent.filter((o) => typeof o.status === 'number' && o.status >= 200 && o.status < 300).length;
    const spool = samples.filter((x) => inSecond(x.at)).at(-1)?.files;
    const logged = new Map<string, number>();
    for (const l of logs) {
      if (typeof l.time === 'number' && typeof l.level === 'number' && l.level >= 30 && inSecond(started + l.time - startedEpoch)) {
        logged.set(String(l.msg), (logged.get(String(l.msg)) ?? 0) + 1);
      }
    }
    const events = [
      ...marks.filter(([at]) => inSecond(at)).map(([, what]) => `**${what}**`),
      ...[...logged].map(([msg, n]) => (n > 1 ? `${msg} ×${n}` : msg)),
    ];
    rows.push(
      `| ${sec} | ${sent.length} | ${ok} | ${sent.length - ok} | ${percentile(latencies, 0.5)} | ${percentile(latencies, 0.99)} | ${spool ?? '-'} | ${events.join('; ')} |`,
    );
  }
  return rows;
}

async function measure(plan: Plan): Promise<Measured> {
  const target = new URL(PG);
  const proxy: TcpProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  let run: BenchHerald | undefined;
  try {
    run = await startBenchHerald(
      plan.cut > 0 ? 'recovery' : 'recovery_reference',
      {},
      {
        connectDatabase: (url) => proxy.url(url),
        channels: [{ uuid: CHANNEL, type: 'ex', name: 'bench ex', address: '+250788000000', country: 'RW', config: {} }],
      },
    );
    const { proc } = run;
    const exit = watchExit(proc);
    const sampler = startSampler(run);
    const load = new CallbackLoad(proc.baseUrl);
    const started = performance.now();
    const startedEpoch = Date.now();
    load.start();
    await sleep(plan.warmup * 1000);
    const warmedAt = performance.now();
    await sleep(plan.before * 1000);
    const cutAt = performance.now();
    let healAt = cutAt;
    if (plan.cut > 0) {
      proxy.cut();
      await sleep(plan.cut * 1000);
      proxy.heal();
      healAt = performance.now();
    }
    await sleep(plan.after * 1000);
    const loadEnded = performance.now();
    const outcomes = await load.stop();

    // A Herald that died leaves its spool behind: a new process on the same spool folder replays
    // it (as a restart would), so that what was lost can still be counted.
    const crashed = exit.at !== undefined;
    const replayer = crashed ? await run.addProcess({ HERALD_SPOOL_DIR: run.spoolDir }) : undefined;
    const replayFrom = crashed ? performance.now() : healAt;
    const emptySince = () => sampler.samples.find((s) => s.at >= replayFrom && s.files === 0)?.at;
    while (emptySince() === undefined && performance.now() - loadEnded < DRAIN_S * 1000) await sleep(250);
    sampler.stop();
    const sampledUntil = performance.now();
    const samples = sampler.samples;
    const hwm = crashed ? NaN : await procStatusKb(proc.child.pid!, 'VmHWM');
    const warnings = warningsOf(proc);
    await proc.stop(); // drains pending writes
    await replayer?.stop();
    const leftInSpool = await spoolFiles(run.spoolDir);
    const quarantined = (await readdir(join(run.spoolDir, 'quarantine')).catch(() => [])).filter((n) => n.endsWith('.json')).length;

    const db = postgres(run.databaseUrl, { max: 1, onnotice: () => {} });
    const rows = await db<Array<{ text: string; n: number }>>`select text, count(*)::int as n from msgs where direction = 'in' group by text`;
    await db.end();
    const stored = new Map(rows.map((r) => [r.text, r.n]));
    const ok = outcomes.filter((o) => typeof o.status === 'number' && o.status >= 200 && o.status < 300);
    const okTexts = new Set(ok.map((o) => textOf(o.n)));
    const sentTexts = new Set(outcomes.map((o) => textOf(o.n)));

    const label = plan.cut > 0 ? `Postgres cut ${plan.cut} s` : 'reference: no cut';
    const sentBetween = (from: number, to: number) => outcomes.filter((o) => o.sentAt >= from && o.sentAt < to);
    const phases: PhaseRow[] = [
      ...(plan.warmup > 0 ? [{ run: label, phase: 'warm-up', seconds: (warmedAt - started) / 1000, outcomes: sentBetween(0, warmedAt) }] : []),
      ...(plan.cut > 0
        ? [
            { run: label, phase: 'before the cut', seconds: (cutAt - warmedAt) / 1000, outcomes: sentBetween(warmedAt, cutAt) },
            { run: label, phase: 'during the cut', seconds: (healAt - cutAt) / 1000, outcomes: sentBetween(cutAt, healAt) },
            { run: label, phase: 'after the heal', seconds: (loadEnded - healAt) / 1000, outcomes: sentBetween(healAt, Infinity) },
          ]
        : [{ run: label, phase: 'steady', seconds: (loadEnded - warmedAt) / 1000, outcomes: sentBetween(warmedAt, Infinity) }]),
    ];
    const atHeal = samples.filter((s) => s.at <= healAt).at(-1)?.files ?? 0;
    const empty = emptySince();
    const everSpooled = samples.some((s) => s.files > 0);
    const drained = empty === undefined ? `NOT EMPTY ${DRAIN_S} s after the load` : ((empty - replayFrom) / 1000).toFixed(2);
    const notes = [
      crashed
        ? `HERALD EXITED (code ${exit.code}) ${((exit.at! - started) / 1000).toFixed(1)} s into the load` +
          `${plan.cut > 0 ? ` (cut at ${((cutAt - started) / 1000).toFixed(1)} s)` : ''}: ${exit.error}; its spool replayed by a new process after the load`
        : '',
      warnings.length > 0 ? `logs: ${warnings.slice(0, 3).join('; ')}` : '',
    ];
    const marks: Array<[number, string]> = [
      [warmedAt, 'warm-up over'],
      ...(plan.cut > 0 ? ([[cutAt, 'CUT'], [healAt, 'HEAL']] as Array<[number, string]>) : []),
      [loadEnded, 'load ends'],
      ...(crashed ? ([[exit.at!, 'HERALD EXITED'], [replayFrom, 'new process started']] as Array<[number, string]>) : []),
      ...(empty !== undefined ? ([[empty, 'spool empty']] as Array<[number, string]>) : []),
    ];
    return {
      phases,
      timeline: TIMELINE && plan.cut > 0 ? timelineOf(started, startedEpoch, sampledUntil, outcomes, samples, marks, proc.logs) : [],
      summary: {
        run: label,
        spoolPeak: Math.max(0, ...samples.map((s) => s.files)),
        atHeal: plan.cut > 0 ? String(atHeal) : '-',
        healToEmpty: plan.cut === 0 ? '-' : !everSpooled ? 'nothing spooled' : crashed ? `(crashed) restart → empty: ${drained}` : drained,
        answered: ok.length,
        stored: stored.size,
        lost: [...okTexts].filter((t) => !stored.has(t)).length,
        duplicates: [...stored.values()].reduce((a, n) => a + n - 1, 0),
        storedWithout2xx: [...stored.keys()].filter((t) => sentTexts.has(t) && !okTexts.has(t)).length,
        leftInSpool,
        quarantined,
        rss: `${Number.isFinite(hwm) ? mib(hwm) : '-'} / ${mib(Math.max(0, ...samples.map((s) => s.rssKb).filter(Number.isFinite)))}`,
        notes: notes.filter(Boolean).join('; '),
      },
    };
  } finally {
    await run?.stop();
    await proxy.close();
  }
}

// ── report ───────────────────────────────────────────────────────────────────────────────────

const startedAll = performance.now();
const results: Measured[] = [];
try {
  results.push(await measure({ warmup: WARMUP_S, before: REFERENCE_S, cut: 0, after: 0 }));
  results.push(await measure({ warmup: WARMUP_S, before: BEFORE_S, cut: CUT_S, after: AFTER_S }));
} finally {
  await admin.end();
}

console.log(
  `\nrecovery: External callbacks at ${RATE}/s, ${WARMUP_S} s warm-up, Postgres cut ${CUT_S} s after ${BEFORE_S} s more, load ${AFTER_S} s after the heal; ` +
    `reference ${REFERENCE_S} s without a cut (${new Date().toISOString()}, ${((performance.now() - startedAll) / 1000).toFixed(0)} s in all)\n`,
);
console.log('| run | phase | seconds | sent | sent/s | 2xx | non-2xx | errors | timeouts | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const p of results.flatMap((r) => r.phases)) {
  const answered = p.outcomes.filter((o) => typeof o.status === 'number');
  const latencies = answered.map((o) => o.ms).sort((a, b) => a - b);
  const count = (f: (o: Outcome) => boolean) => p.outcomes.filter(f).length;
  console.log(
    `| ${p.run} | ${p.phase} | ${p.seconds.toFixed(1)} | ${p.outcomes.length} | ${Math.round(p.outcomes.length / p.seconds)} | ` +
      `${count((o) => typeof o.status === 'number' && o.status >= 200 && o.status < 300)} | ${count((o) => typeof o.status === 'number' && (o.status < 200 || o.status >= 300))} | ` +
      `${count((o) => o.status === 'error')} | ${count((o) => o.status === 'timeout')} | ` +
      `${percentile(latencies, 0.5)} | ${percentile(latencies, 0.99)} | ${percentile(latencies, 1)} |`,
  );
}
console.log('\n| run | spool peak (files) | spool at heal | heal → empty spool, s | answered 2xx | stored | lost | duplicates | stored without a 2xx | left in spool | quarantined | peak RSS MiB (VmHWM / sampled) | notes |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const s of results.map((r) => r.summary)) {
  console.log(
    `| ${s.run} | ${s.spoolPeak} | ${s.atHeal} | ${s.healToEmpty} | ${s.answered} | ${s.stored} | ${s.lost} | ${s.duplicates} | ${s.storedWithout2xx} | ${s.leftInSpool} | ${s.quarantined} | ${s.rss} | ${s.notes} |`,
  );
}
for (const r of results.filter((x) => x.timeline.length > 0)) {
  console.log(`\n${r.summary.run}, second by second (callbacks by the second they were sent in; spool: the second's last sample)\n`);
  console.log('| s | sent | 2xx | not 2xx | p50 ms | p99 ms | spool files | events, and what Herald logged |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of r.timeline) console.log(row);
}
