import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PermanentSpoolError, SpoolFlusher, type FlushReport } from '../spool/flusher.js';
import { Spool, SpoolError, type SpoolKind } from '../spool/spool.js';

const KINDS: SpoolKind[] = ['msgs', 'statuses', 'events', 'logs'];
const NAME = /^\d{15}-\d{12}-[0-9a-f]{8}\.json$/;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-spool-'));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

type Replayed = [SpoolKind, unknown][];

/** A replay that records what it stored, in order. */
function recorder(): { replayed: Replayed; replay: (kind: SpoolKind, payload: unknown) => Promise<void> } {
  const replayed: Replayed = [];
  return { replayed, replay: async (kind, payload) => void replayed.push([kind, payload]) };
}

/** `count` documents cycling through the kinds, numbered in write order. */
function documents(count: number): Replayed {
  return Array.from({ length: count }, (_, i): [SpoolKind, unknown] => [KINDS[i % KINDS.length]!, { n: i }]);
}

async function filesIn(folder: string): Promise<string[]> {
  return (await readdir(join(dir, folder))).sort();
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Spool.write', () => {
  it('writes one named JSON file in the kind folder', async () => {
    const spool = await Spool.open(dir);
    await spool.write('statuses', { msg_uuid: 'a', status: 'delivered' });

    const files = await filesIn('statuses');
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(NAME);
    expect(JSON.parse(await readFile(join(dir, 'statuses', files[0]!), 'utf8'))).toEqual({ msg_uuid: 'a', status: 'delivered' });
    expect(await filesIn('msgs')).toEqual([]);
    expect(spool.dir).toBe(dir);
  });

  it('keeps what was written across a new open of the same folder', async () => {
    const first = await Spool.open(dir);
    for (const [kind, payload] of documents(6)) await first.write(kind, payload);

    const second = await Spool.open(dir);
    expect(second.size()).toEqual({ files: 6, quarantined: 0 });
    const { replayed, replay } = recorder();
    expect(await new SpoolFlusher(second, replay).flush()).toEqual({ replayed: 6, quarantined: 0, remaining: 0 });
    expect(replayed).toEqual(documents(6));
  });

  it('rejects a payload that is not JSON, naming the folder and kind, and writes nothing', async () => {
    const spool = await Spool.open(dir);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;

    await expect(spool.write('msgs', undefined)).rejects.toThrow(new SpoolError(`spool folder ${dir}: cannot write a msgs document: payload is not JSON: got undefined`));
    await expect(spool.write('logs', cycle)).rejects.toThrow(SpoolError);
    await expect(spool.write('logs', { n: 1n })).rejects.toThrow(/cannot write a logs document: .*BigInt/);
    expect(await filesIn('msgs')).toEqual([]);
    expect(await filesIn('logs')).toEqual([]);
    expect(spool.size()).toEqual({ files: 0, quarantined: 0 });
  });

  it('rejects an unknown kind', async () => {
    const spool = await Spool.open(dir);
    await expect(spool.write('contacts' as SpoolKind, {})).rejects.toThrow(/unknown kind "contacts", expected one of msgs, statuses, events, logs/);
  });
});

describe('replay order', () => {
  it('replays in write order across kinds, with many writes in the same millisecond', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_718_000_000_000);
    const spool = await Spool.open(dir);
    const docs = documents(300);
    await Promise.all(docs.map(([kind, payload]) => spool.write(kind, payload)));

    const { replayed, replay } = recorder();
    expect(await new SpoolFlusher(spool, replay).flush()).toEqual({ replayed: 300, quarantined: 0, remaining: 0 });
    expect(replayed).toEqual(docs);
  });

  it('keeps write order when the clock steps back, within a process and across a restart', async () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_718_000_000_500);
    const first = await Spool.open(dir);
    const docs = documents(8);
    await first.write(...docs[0]!);
    now.mockReturnValue(1_718_000_000_100);
    await first.write(...docs[1]!);
    await first.write(...docs[2]!);

    now.mockReturnValue(1_718_000_000_500);
    const second = await Spool.open(dir);
    await second.write(...docs[3]!);
    await second.write(...docs[4]!);
    now.mockReturnValue(1_717_000_000_000);
    const third = await Spool.open(dir);
    for (const doc of docs.slice(5)) await third.write(...doc);

    const { replayed, replay } = recorder();
    await new SpoolFlusher(third, replay).flush();
    expect(replayed).toEqual(docs);
  });
});

describe('SpoolFlusher', () => {
  it('with concurrency, hands a run of any kinds to replay in order, and the next run only once it is stored', async () => {
    const spool = await Spool.open(dir);
    const kinds: SpoolKind[] = ['msgs', 'msgs', 'logs', 'logs', 'msgs', 'statuses', 'statuses', 'events', 'msgs'];
    for (const [n, kind] of kinds.entries()) await spool.write(kind, { n });

    // The runs a concurrency of 3 makes: consecutive documents, whatever their kind.
    const runs = [[0, 1, 2], [3, 4, 5], [6, 7, 8]];
    const runOf = (n: number) => runs.findIndex((r) => r.includes(n));
    const finished = new Set<number>();
    const early: string[] = [];
    const handed: string[] = [];
    let running = 0;
    let widest = 0;
    const flusher = new SpoolFlusher(
      spool,
      async (kind, payload) => {
        const n = (payload as { n: number }).n;
        handed.push(`${n}:${kind}`);
        for (const m of runs.slice(0, runOf(n)).flat()) if (!finished.has(m)) early.push(`${n} started before ${m} finished`);
        running += 1;
        widest = Math.max(widest, running);
        // Later documents finish first: the order they were handed in is what must hold.
        await new Promise((r) => setTimeout(r, 20 - 2 * n));
        running -= 1;
        finished.add(n);
      },
      { concurrency: 3 },
    );
    expect(await flusher.flush()).toEqual({ replayed: 9, quarantined: 0, remaining: 0 });
    expect(handed).toEqual(kinds.map((kind, n) => `${n}:${kind}`));
    expect(widest).toBe(3);
    expect(early).toEqual([]);
  });

  it('with concurrency, a transient failure in a run stops the pass after that run', async () => {
    const spool = await Spool.open(dir);
    for (let n = 0; n < 6; n++) await spool.write('msgs', { n });
    const down = new Error('connection refused');
    const flusher = new SpoolFlusher(
      spool,
      async (_kind, payload) => {
        if ((payload as { n: number }).n === 1) throw down;
      },
      { concurrency: 3 },
    );
    expect(await flusher.flush()).toEqual({ replayed: 2, quarantined: 0, remaining: 4, error: down });
  });

  it('stops a pass at a transient failure, keeps the rest in order, and resumes there next pass', async () => {
    const spool = await Spool.open(dir);
    const docs = documents(10);
    for (const doc of docs) await spool.write(...doc);

    const attempts: unknown[] = [];
    let databaseUp = false;
    const replayed: Replayed = [];
    const down = new Error('connection refused');
    const flusher = new SpoolFlusher(spool, async (kind, payload) => {
      attempts.push(payload);
      if (!databaseUp && (payload as { n: number }).n === 4) throw down;
      replayed.push([kind, payload]);
    });

    expect(await flusher.flush()).toEqual({ replayed: 4, quarantined: 0, remaining: 6, error: down });
    expect(attempts).toEqual(docs.slice(0, 5).map(([, payload]) => payload));
    expect(spool.size()).toEqual({ files: 6, quarantined: 0 });

    expect(await flusher.flush()).toMatchObject({ replayed: 0, remaining: 6, error: down });

    databaseUp = true;
    expect(await flusher.flush()).toEqual({ replayed: 6, quarantined: 0, remaining: 0 });
    expect(replayed).toEqual(docs);
    for (const kind of KINDS) expect(await filesIn(kind)).toEqual([]);
  });

  it('quarantines a rejected document and a corrupt file without blocking the rest', async () => {
    const spool = await Spool.open(dir);
    const docs = documents(6);
    for (const doc of docs) await spool.write(...doc);
    const [corrupt] = await filesIn('events'); // document 2
    await writeFile(join(dir, 'events', corrupt!), '{"n": 2, trunc');
    const [rejected] = await filesIn('statuses'); // document 1

    const { replayed, replay } = recorder();
    const flusher = new SpoolFlusher(spool, async (kind, payload) => {
      if ((payload as { n: number }).n === 1) throw new PermanentSpoolError('channel 42 does not exist');
      await replay(kind, payload);
    });

    expect(await flusher.flush()).toEqual({ replayed: 4, quarantined: 2, remaining: 0 });
    expect(replayed).toEqual([docs[0], docs[3], docs[4], docs[5]]);
    expect(spool.size()).toEqual({ files: 0, quarantined: 2 });

    const base = (name: string) => name.replace(/\.json$/, '');
    expect(await filesIn('quarantine')).toEqual(
      [corrupt!, `${base(corrupt!)}.error.txt`, rejected!, `${base(rejected!)}.error.txt`].sort(),
    );
    expect(await readFile(join(dir, 'quarantine', corrupt!), 'utf8')).toBe('{"n": 2, trunc');
    expect(JSON.parse(await readFile(join(dir, 'quarantine', rejected!), 'utf8'))).toEqual({ n: 1 });
    const corruptReason = await readFile(join(dir, 'quarantine', `${base(corrupt!)}.error.txt`), 'utf8');
    expect(corruptReason).toMatch(/^kind: events\nquarantined_on: \S+\nreason: cannot be read as JSON: .+\n$/);
    const rejectedReason = await readFile(join(dir, 'quarantine', `${base(rejected!)}.error.txt`), 'utf8');
    expect(rejectedReason).toMatch(/^kind: statuses\n.*\nreason: rejected by replay: channel 42 does not exist\n$/);

    expect((await Spool.open(dir)).size()).toEqual({ files: 0, quarantined: 2 });
  });

  it('shares one pass between concurrent flush calls, so nothing is replayed twice', async () => {
    const spool = await Spool.open(dir);
    for (const doc of documents(20)) await spool.write(...doc);
    const { replayed, replay } = recorder();
    const flusher = new SpoolFlusher(spool, async (kind, payload) => {
      await new Promise((r) => setTimeout(r, 1));
      await replay(kind, payload);
    });

    const reports = await Promise.all([flusher.flush(), flusher.flush(), flusher.flush()]);
    expect(reports).toEqual(Array<FlushReport>(3).fill({ replayed: 20, quarantined: 0, remaining: 0 }));
    expect(replayed).toEqual(documents(20));
    expect(await flusher.flush()).toEqual({ replayed: 0, quarantined: 0, remaining: 0 });
  });

  it('stop waits for the document being replayed, then leaves the rest for the next start', async () => {
    const spool = await Spool.open(dir);
    for (const doc of documents(5)) await spool.write(...doc);
    const inReplay = deferred();
    const release = deferred();
    const { replayed, replay } = recorder();
    const flusher = new SpoolFlusher(spool, async (kind, payload) => {
      inReplay.resolve();
      await release.promise;
      await replay(kind, payload);
    });

    flusher.start();
    await inReplay.promise;
    let stopped = false;
    const stopping = flusher.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);

    release.resolve();
    await stopping;
    expect(replayed).toEqual(documents(1));
    expect(spool.size()).toEqual({ files: 4, quarantined: 0 });
    expect(await filesIn('msgs')).toHaveLength(1);
  });

  it('start replays at once and again every interval, telling onError why a pass stopped', async () => {
    const spool = await Spool.open(dir);
    for (const doc of documents(3)) await spool.write(...doc);
    const errors: unknown[] = [];
    let failures = 2;
    const { replayed, replay } = recorder();
    const flusher = new SpoolFlusher(
      spool,
      async (kind, payload) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('database unavailable');
        }
        await replay(kind, payload);
      },
      { intervalMs: 10, onError: (err) => errors.push(err) },
    );

    flusher.start();
    await vi.waitFor(() => expect(spool.size().files).toBe(0), { timeout: 5000 });
    await spool.write('logs', { n: 'late' });
    await vi.waitFor(() => expect(spool.size().files).toBe(0), { timeout: 5000 });
    await flusher.stop();

    expect(replayed).toEqual([...documents(3), ['logs', { n: 'late' }]]);
    expect(errors).toEqual([new Error('database unavailable'), new Error('database unavailable')]);
  });

  it('refuses an interval that is not a finite number of 0 or more', async () => {
    const spool = await Spool.open(dir);
    expect(() => new SpoolFlusher(spool, async () => undefined, { intervalMs: -1 })).toThrow('intervalMs must be 0 or more, got -1');
    expect(() => new SpoolFlusher(spool, async () => undefined, { intervalMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('Spool.open', () => {
  it('deletes temp files left by a crash and never replays them', async () => {
    const first = await Spool.open(dir);
    await first.write('msgs', { n: 0 });
    const [written] = await filesIn('msgs');
    await writeFile(join(dir, 'msgs', '001718000000000-000000000009-3fa9c2d1.json.tmp'), '{"n": "half');
    await writeFile(join(dir, 'logs', `${written!}.tmp`), '{"n": 1}');
    await writeFile(join(dir, 'quarantine', 'x.error.txt.tmp'), 'kind: msgs');

    const spool = await Spool.open(dir);
    expect(await filesIn('msgs')).toEqual([written]);
    expect(await filesIn('logs')).toEqual([]);
    expect(await filesIn('quarantine')).toEqual([]);
    expect(spool.size()).toEqual({ files: 1, quarantined: 0 });
    const { replayed, replay } = recorder();
    await new SpoolFlusher(spool, replay).flush();
    expect(replayed).toEqual([['msgs', { n: 0 }]]);
  });

  it('leaves no probe file behind', async () => {
    const spool = await Spool.open(dir);
    expect(await filesIn('.')).toEqual(['events', 'logs', 'msgs', 'quarantine', 'spool.lock', 'statuses']);
    spool.close();
    for (const folder of [...KINDS, 'quarantine']) expect(await filesIn(folder)).toEqual([]);
  });

  it('counts files already there, and keeps counting through writes, replays and quarantine', async () => {
    const first = await Spool.open(dir);
    for (const doc of documents(4)) await first.write(...doc);

    const spool = await Spool.open(dir);
    expect(spool.size()).toEqual({ files: 4, quarantined: 0 });
    await Promise.all(documents(8).slice(4).map((doc) => spool.write(...doc)));
    expect(spool.size()).toEqual({ files: 8, quarantined: 0 });

    let calls = 0;
    const flusher = new SpoolFlusher(spool, async (_kind, payload) => {
      calls += 1;
      if (calls === 2) throw new PermanentSpoolError('no such channel');
      if ((payload as { n: number }).n === 5) throw new Error('down');
    });
    expect(await flusher.flush()).toMatchObject({ replayed: 4, quarantined: 1, remaining: 3 });
    expect(spool.size()).toEqual({ files: 3, quarantined: 1 });
    expect((await Spool.open(dir)).size()).toEqual({ files: 3, quarantined: 1 });
  });

  it('counts a quarantined file put back by hand once a flush pass has seen it', async () => {
    const spool = await Spool.open(dir);
    await spool.write('msgs', { n: 0 });
    await new SpoolFlusher(spool, async () => {
      throw new PermanentSpoolError('unknown channel');
    }).flush();
    const [name] = (await filesIn('quarantine')).filter((file) => file.endsWith('.json'));
    await rename(join(dir, 'quarantine', name!), join(dir, 'msgs', name!));
    await spool.write('logs', { n: 1 });

    const { replayed, replay } = recorder();
    expect(await new SpoolFlusher(spool, replay).flush()).toEqual({ replayed: 2, quarantined: 0, remaining: 0 });
    expect(replayed).toEqual([['msgs', { n: 0 }], ['logs', { n: 1 }]]);
    expect(spool.size()).toEqual({ files: 0, quarantined: 1 });
  });

  it('refuses a folder another live process holds, and takes over the lock of a dead one', async () => {
    await writeFile(join(dir, 'spool.lock'), `${process.ppid} ${hostname()}\n`);
    const err = await Spool.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpoolError);
    expect((err as Error).message).toContain(`in use by process ${process.ppid}`);

    await writeFile(join(dir, 'spool.lock'), `999999999 ${hostname()}\n`);
    const spool = await Spool.open(dir);
    expect(await readFile(join(dir, 'spool.lock'), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    spool.close();
    expect(await readdir(dir)).not.toContain('spool.lock');
  });

  it('refuses a folder locked from another host, since that process cannot be checked', async () => {
    await writeFile(join(dir, 'spool.lock'), `12 some-other-host\n`);
    await expect(Spool.open(dir)).rejects.toThrow(/in use by process 12 on some-other-host/);
  });

  it('fails with a one-line SpoolError naming the folder when it cannot be created', async () => {
    const file = join(dir, 'not-a-folder');
    await writeFile(file, '');
    const target = join(file, 'spool');

    const error = await Spool.open(target).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SpoolError);
    expect((error as Error).message).toMatch(new RegExp(`^spool folder ${target} is not writable: ENOTDIR: .+$`));
    expect((error as Error).message).not.toContain('\n');
  });
});
