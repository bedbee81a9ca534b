/**
 * Spool throughput: durable writes with 1 and 50 concurrent writers, and replay (flush) rate,
 * against plain `fs.promises.writeFile` without fsync measured in the same run, on the same disk.
 * A second durable variant fsyncs the folder once per write instead of sharing (group fsync),
 * to show what the grouping buys.
 *
 *   npx tsx bench/spool.ts [folder]   # default: the OS temp folder; use the disk the spool will live on
 */
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsyncFolder } from '../spool/dir-sync.js';
import { SpoolFlusher } from '../spool/flusher.js';
import { Spool } from '../spool/spool.js';

const DOCS = 2000;
const WRITERS = [1, 50];
const ROUNDS = 3;

const payload = {
  uuid: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  channel_uuid: '8eb23e93-5ecb-45ba-b726-3b064e0c56ab',
  urn: 'tel:+250788383383',
  text: 'Hello, I would like to know the opening hours of the clinic near Kacyiru this Saturday.',
  external_id: 'SM1234567890abcdef1234567890abcdef',
  received_on: '2024-06-10T08:30:00.000Z',
  attachments: [],
};

/** Runs `docs` calls of `one(i)` with `writers` of them in flight at a time; returns docs/s. */
async function rate(writers: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < DOCS) await one(next++);
    }),
  );
  return DOCS / ((performance.now() - started) / 1000);
}

async function inFreshFolder<T>(root: string, run: (folder: string) => Promise<T>): Promise<T> {
  const folder = await mkdtemp(join(root, 'herald-spool-bench-'));
  try {
    return await run(folder);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

async function writePerWriteFolderFsync(folder: string, i: number, body: string): Promise<void> {
  const temp = join(folder, `${i}.json.tmp`);
  const handle = await open(temp, 'wx');
  await handle.writeFile(body);
  await handle.datasync();
  await handle.close();
  await rename(temp, join(folder, `${i}.json`));
  await fsyncFolder(folder);
}

/** The cases of one row of the table, each run on a fresh folder; returns docs/s. */
function cases(root: string, body: string, writers: number): Record<string, () => Promise<number>> {
  return {
    'baseline: writeFile, no fsync': () => inFreshFolder(root, (folder) => rate(writers, (i) => writeFile(join(folder, `${i}.json`), body))),
    'durable, folder fsync per write': () => inFreshFolder(root, (folder) => rate(writers, (i) => writePerWriteFolderFsync(folder, i, body))),
    'Spool.write (group fsync)': () =>
      inFreshFolder(root, async (folder) => {
        const spool = await Spool.open(folder);
        return rate(writers, () => spool.write('msgs', payload));
      }),
  };
}

async function flushRate(root: string): Promise<number> {
  return inFreshFolder(root, async (folder) => {
    const spool = await Spool.open(folder);
    await rate(WRITERS.at(-1)!, () => spool.write('msgs', payload));
    const started = performance.now();
    const report = await new SpoolFlusher(spool, async () => undefined).flush();
    return report.replayed / ((performance.now() - started) / 1000);
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const root = process.argv[2] ?? tmpdir();
  const body = JSON.stringify(payload);
  const samples = new Map<string, number[]>();
  const sample = (key: string, value: number) => samples.set(key, [...(samples.get(key) ?? []), value]);

  // Rounds interleave the cases so a burst of other disk traffic hits them all alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const writers of WRITERS) {
      for (const [name, run] of Object.entries(cases(root, body, writers))) sample(`${name}|${writers}`, await run());
    }
    sample('SpoolFlusher.flush, no-op replay|-', await flushRate(root));
  }

  const rows = [...samples].map(([key, values]) => {
    const [name, writers] = key.split('|') as [string, string];
    const baseline = median(samples.get(`baseline: writeFile, no fsync|${writers === '-' ? 1 : writers}`)!);
    return [name, writers, median(values).toFixed(0), `${((median(values) / baseline) * 100).toFixed(1)}%`];
  });

  console.log(`spool bench: ${DOCS} documents of ${body.length} bytes per sample, median of ${ROUNDS} rounds, in ${root}\n`);
  const header = ['case', 'writers', 'docs/s', 'vs baseline'];
  const widths = header.map((title, col) => Math.max(title.length, ...rows.map((cells) => cells[col]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((width, col) => (col === 0 ? ':' : '-') + '-'.repeat(width) + (col === 0 ? '-' : ':')).join('|')}|`);
  for (const cells of rows) console.log(line(cells));
  console.log('\nbaseline = plain writeFile with the same number of writers (flush: 1 writer), measured in this run.');
}

await main();
