import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Takes a lock file in `folder` for this process, so two processes never use one folder at once
 * (two Herald processes given the same spool or data folder on a shared volume). The file holds
 * the pid and host name. A lock left by a process of this host that no longer exists is taken
 * over; a lock of another host cannot be checked, so it stops start-up with a message saying
 * which file to delete. A lock naming this process's own pid on this host that this process does
 * not hold was left by an earlier process that had the same pid (a container restarted after a
 * kill runs as pid 1 again): it is taken over too. Answers the function that releases the lock.
 *
 * @example const release = lockFolder('./spool', 'spool.lock', 'spool folder'); // … release();
 */
export function lockFolder(folder: string, fileName: string, what: string, options: { allowSameProcess?: boolean } = {}): () => void {
  const path = join(folder, fileName);
  const me = { pid: process.pid, host: hostname() };
  const release = () => {
    held.delete(path);
    rmSync(path, { force: true });
  };
  for (;;) {
    try {
      writeFileSync(path, `${me.pid} ${me.host}\n`, { flag: 'wx' });
      held.add(path);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [pidText = '', host = me.host] = readFileSync(path, 'utf8').trim().split(/\s+/);
    const pid = Number.parseInt(pidText, 10);
    const valid = Number.isInteger(pid) && pid > 0;
    const mine = valid && host === me.host && pid === me.pid;
    if (mine && held.has(path)) {
      if (options.allowSameProcess) return release;
      throw new Error(`${what} ${folder} is already in use by this process (lock file ${path})`);
    }
    if (valid && !mine && (host !== me.host || isAlive(pid))) {
      throw new Error(`${what} ${folder} is in use by process ${pid} on ${host} (lock file ${path}; delete it only if that process is not Herald)`);
    }
    rmSync(path, { force: true });
  }
}

/** The lock files this process holds. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
