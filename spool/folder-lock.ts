import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Takes a lock file in `folder` for this process, so two processes never use one folder at once
 * (two Herald processes given the same spool or data folder on a shared volume). The file holds
 * the pid and host name. A lock left by a process of this host that no longer exists is taken
 * over; a lock of another host cannot be checked, so it stops start-up with a message saying
 * which file to delete. Answers the function that releases the lock.
 *
 * @example const release = lockFolder('./spool', 'spool.lock', 'spool folder'); // … release();
 */
export function lockFolder(folder: string, fileName: string, what: string, options: { allowSameProcess?: boolean } = {}): () => void {
  const path = join(folder, fileName);
  const me = { pid: process.pid, host: hostname() };
  for (;;) {
    try {
      writeFileSync(path, `${me.pid} ${me.host}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [pidText = '', host = me.host] = readFileSync(path, 'utf8').trim().split(/\s+/);
    const pid = Number.parseInt(pidText, 10);
    const valid = Number.isInteger(pid) && pid > 0;
    if (valid && host === me.host && pid === me.pid && options.allowSameProcess) return () => rmSync(path, { force: true });
    if (valid && (host !== me.host || pid === me.pid || isAlive(pid))) {
      throw new Error(`${what} ${folder} is in use by process ${pid} on ${host} (lock file ${path}; delete it only if that process is not Herald)`);
    }
    rmSync(path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
