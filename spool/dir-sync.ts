import { open } from 'node:fs/promises';

/**
 * Group fsync of one folder. A rename or unlink is durable only once its folder is fsynced;
 * when many writers ask at once they share fsyncs instead of queueing one each. A caller whose
 * change happened while an fsync was already running waits for the next one (the running one
 * may have started before its change); every caller that arrives meanwhile shares that next one.
 * So concurrent writers cost about two folder fsyncs, not one each.
 *
 * @example
 * const sync = new DirSync('/var/spool/herald/msgs');
 * await rename(tmp, final);
 * await sync.sync(); // the rename survives a power cut
 */
export class DirSync {
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;

  constructor(readonly path: string) {}

  sync(): Promise<void> {
    if (this.waiting) return this.waiting;
    if (!this.running) return this.start();
    this.waiting = this.running
      .catch(() => undefined)
      .then(() => {
        this.waiting = undefined;
        return this.start();
      });
    return this.waiting;
  }

  private start(): Promise<void> {
    const run = fsyncFolder(this.path).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}

/** Flushes a folder's entries (creations, renames, removals) to disk. */
export async function fsyncFolder(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
