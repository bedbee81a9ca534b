/**
 * The disk spool: a durable, ordered queue of JSON documents for when the database is down.
 *
 * Layout on disk (`dir` is HERALD_SPOOL_DIR):
 *
 *   <dir>/msgs/        one file per incoming message      001718000000000-000000000001-3fa9c2d1.json
 *   <dir>/statuses/    one file per status update
 *   <dir>/events/      one file per channel event
 *   <dir>/logs/        one file per channel log
 *   <dir>/quarantine/  documents that can never be stored, each beside `<name>.error.txt`
 *                      (the kind it came from, when, and why)
 *
 * A file holds exactly the JSON of the payload given to `write`. Its name is
 * `<ms>-<sequence>-<process tag>.json` (see file-name.ts), so sorting the names of all four
 * kinds together gives the order `write` was called in, across restarts too. A file being
 * written is `<name>.tmp`; such leftovers of a crash are never replayed and `open` deletes them.
 *
 * Durability: `write` resolves only after the temp file is written and fdatasynced, renamed to
 * its final name, and its folder fsynced. A document whose `write` resolved survives a crash or
 * power cut; one whose `write` did not resolve either is absent or is complete (rename is
 * atomic) — a reader never sees half a document.
 *
 * Trade-offs:
 * - One file per document costs two fsyncs per write (file, folder). The folder fsync is shared
 *   by concurrent writers (group fsync, dir-sync.ts), so throughput grows with concurrency while
 *   each write still waits for its own data to reach the disk.
 * - `size()` is a counter kept by this object (set from one scan at `open`), so it is free to
 *   call from /health and /metrics. Files added or deleted by hand are counted after the next
 *   flush pass that starts while no write is running (the waiting files), or the next `open`
 *   (quarantine).
 * - One process per spool folder, enforced by a lock file (`spool.lock`: pid and host) that
 *   `open` takes and `close` releases, since `open` deletes every `.tmp` file it finds.
 * - A document put back from quarantine by hand must keep its name, which is its place in line.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeError } from './describe-error.js';
import { DirSync, fsyncFolder } from './dir-sync.js';
import { FileNames, fileNameMs } from './file-name.js';
import { lockFolder } from './folder-lock.js';

export type SpoolKind = 'msgs' | 'statuses' | 'events' | 'logs';

/** The kinds of document the spool keeps, each in a folder of that name. */
export const SPOOL_KINDS: readonly SpoolKind[] = ['msgs', 'statuses', 'events', 'logs'];

const QUARANTINE = 'quarantine';
const DOCUMENT = '.json';
const TEMP = '.tmp';
/** Held by the process using the folder: one process per spool folder. */
const LOCK_FILE = 'spool.lock';

/** The spool folder cannot be used; the message names the folder and the problem, on one line. */
export class SpoolError extends Error {
  override name = 'SpoolError';
}

/** One document waiting in the spool. */
export interface SpoolEntry {
  readonly kind: SpoolKind;
  /** The file name; its lexical order among all kinds is its replay order. */
  readonly name: string;
}

/**
 * A spool folder opened for writing and replay. One instance per folder per process.
 *
 * @example
 * const spool = await Spool.open('./spool');
 * await spool.write('msgs', { uuid, text: 'hi' }); // durable once this resolves
 * spool.size() // { files: 1, quarantined: 0 }
 */
export class Spool {
  private readonly syncs: Record<SpoolKind | typeof QUARANTINE, DirSync>;
  /** Names being written, in the order they were handed out, so the first is the smallest. */
  private readonly inFlight = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly names: FileNames,
    private files: number,
    private quarantined: number,
    private readonly releaseLock: () => void,
  ) {
    this.syncs = {
      msgs: new DirSync(join(dir, 'msgs')),
      statuses: new DirSync(join(dir, 'statuses')),
      events: new DirSync(join(dir, 'events')),
      logs: new DirSync(join(dir, 'logs')),
      quarantine: new DirSync(join(dir, QUARANTINE)),
    };
  }

  /**
   * Creates `<dir>/<kind>/` and `<dir>/quarantine/`, deletes temp files left by a crash, proves
   * each folder is writable (write, fsync, rename and delete a probe file) and counts the
   * documents already there. Throws SpoolError when the folder cannot be used.
   *
   * @example const spool = await Spool.open(config.spoolDir);
   */
  static async open(dir: string): Promise<Spool> {
    const root = resolve(dir);
    const folders = [...SPOOL_KINDS, QUARANTINE].map((name) => join(root, name));
    try {
      await mkdir(root, { recursive: true });
    } catch (err) {
      throw new SpoolError(`spool folder ${root} is not writable: ${describeError(err)}`);
    }
    let releaseLock: () => void;
    try {
      releaseLock = lockFolder(root, LOCK_FILE, 'spool folder', { allowSameProcess: true });
    } catch (err) {
      throw new SpoolError(describeError(err));
    }
    try {
      for (const folder of folders) await mkdir(folder, { recursive: true });
      await fsyncFolder(root);
      await Promise.all(folders.map(async (folder) => {
        await deleteTempFiles(folder);
        await probe(folder);
      }));
    } catch (err) {
      releaseLock();
      throw new SpoolError(`spool folder ${root} is not writable: ${describeError(err)}`);
    }
    try {
      const waiting = await Promise.all(SPOOL_KINDS.map((kind) => documentsIn(join(root, kind))));
      const quarantined = await documentsIn(join(root, QUARANTINE));
      const newestMs = Math.max(-1, ...waiting.flat().map((name) => fileNameMs(name) ?? -1));
      const files = waiting.reduce((sum, names) => sum + names.length, 0);
      return new Spool(root, new FileNames(newestMs + 1), files, quarantined.length, releaseLock);
    } catch (err) {
      releaseLock();
      throw new SpoolError(`spool folder ${root} cannot be read: ${describeError(err)}`);
    }
  }

  /** Releases the folder's lock, so another process may use it; the documents stay. */
  close(): void {
    this.releaseLock();
  }

  /**
   * Durably writes one document: temp file in the kind's folder, write, fdatasync, rename to its
   * final name, fsync the folder (shared with concurrent writes). Resolves only when durable.
   * Rejects with SpoolError when the payload is not JSON or the disk refuses it.
   *
   * @example await spool.write('statuses', { msg_uuid, status: 'delivered' });
   */
  async write(kind: SpoolKind, payload: unknown): Promise<void> {
    if (!SPOOL_KINDS.includes(kind)) {
      throw new SpoolError(`spool folder ${this.dir}: unknown kind ${JSON.stringify(kind)}, expected one of ${SPOOL_KINDS.join(', ')}`);
    }
    let body: string;
    try {
      body = toJson(payload);
    } catch (err) {
      throw new SpoolError(`spool folder ${this.dir}: cannot write a ${kind} document: ${describeError(err)}`);
    }
    const name = this.names.next();
    this.inFlight.add(name);
    try {
      const folder = join(this.dir, kind);
      await writeFileDurably(join(folder, name + TEMP), join(folder, name), body);
      this.files += 1;
      await this.syncs[kind].sync();
    } catch (err) {
      throw new SpoolError(`spool folder ${this.dir}: cannot write ${kind}/${name}: ${describeError(err)}`);
    } finally {
      this.inFlight.delete(name);
    }
  }

  /** Files waiting for replay and files in quarantine, from memory (no folder scan). */
  size(): { files: number; quarantined: number } {
    return { files: this.files, quarantined: this.quarantined };
  }

  /**
   * The documents ready for replay, oldest first across all kinds. A document whose `write` is
   * still running holds back itself and every later one, so the list never skips a document
   * that has yet to appear. When no write ran meanwhile, the listing also resets the count of
   * waiting files, so files added or deleted by hand are counted from then on.
   *
   * @example for (const entry of await spool.ready()) await replay(entry.kind, await spool.read(entry));
   */
  async ready(): Promise<SpoolEntry[]> {
    const nextName = this.names.bound();
    const bound = this.inFlight.values().next().value ?? nextName;
    const perKind = await Promise.all(SPOOL_KINDS.map(async (kind) => ({ kind, names: await documentsIn(join(this.dir, kind)) })));
    const quiet = bound === nextName && this.inFlight.size === 0 && this.names.bound() === nextName;
    if (quiet) this.files = perKind.reduce((sum, { names }) => sum + names.length, 0);
    return perKind
      .flatMap(({ kind, names }) => names.filter((name) => name < bound).map((name): SpoolEntry => ({ kind, name })))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Reads and parses one document; rejects when the file cannot be read or is not JSON. */
  async read(entry: SpoolEntry): Promise<unknown> {
    return JSON.parse(await readFile(this.pathOf(entry), 'utf8'));
  }

  /** Deletes a replayed document and fsyncs its folder. */
  async remove(entry: SpoolEntry): Promise<void> {
    await unlink(this.pathOf(entry)).catch(ignoreMissing);
    this.files -= 1;
    await this.syncs[entry.kind].sync();
  }

  /**
   * Moves a document that can never be stored to `<dir>/quarantine/` under the same name, beside
   * `<name>.error.txt` giving its kind, the time and `reason`.
   */
  async quarantine(entry: SpoolEntry, reason: string): Promise<void> {
    const folder = join(this.dir, QUARANTINE);
    const errorFile = join(folder, entry.name.slice(0, -DOCUMENT.length) + '.error.txt');
    const text = `kind: ${entry.kind}\nquarantined_on: ${new Date().toISOString()}\nreason: ${reason}\n`;
    await writeFileDurably(errorFile + TEMP, errorFile, text);
    try {
      await rename(this.pathOf(entry), join(folder, entry.name));
      this.quarantined += 1;
    } catch (err) {
      if (!isMissing(err)) throw err;
      await unlink(errorFile).catch(ignoreMissing);
    }
    this.files -= 1;
    await Promise.all([this.syncs.quarantine.sync(), this.syncs[entry.kind].sync()]);
  }

  private pathOf(entry: SpoolEntry): string {
    return join(this.dir, entry.kind, entry.name);
  }
}

async function writeFileDurably(temp: string, final: string, body: string): Promise<void> {
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(body);
    await handle.datasync();
  } catch (err) {
    await handle.close();
    await unlink(temp).catch(ignoreMissing);
    throw err;
  }
  await handle.close();
  await rename(temp, final);
}

async function probe(folder: string): Promise<void> {
  const probeFile = join(folder, `probe-${process.pid}${TEMP}`);
  await writeFileDurably(probeFile + TEMP, probeFile, 'probe');
  await unlink(probeFile);
  await fsyncFolder(folder);
}

async function deleteTempFiles(folder: string): Promise<void> {
  const names = await readdir(folder);
  await Promise.all(names.filter((name) => name.endsWith(TEMP)).map((name) => unlink(join(folder, name)).catch(ignoreMissing)));
}

async function documentsIn(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.endsWith(DOCUMENT));
}

function toJson(payload: unknown): string {
  const body = JSON.stringify(payload); // throws on cycles and BigInt
  if (body === undefined) throw new TypeError(`payload is not JSON: got ${typeof payload}`);
  return body;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}
