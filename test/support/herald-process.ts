import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface HeraldProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Every JSON log line printed so far. */
  logs: Array<Record<string, unknown>>;
  /** SIGTERM (graceful) and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would, and wait for exit. */
  kill(): Promise<void>;
}

/**
 * Starts Herald as an operator would (`npm start` runs `node --import tsx src/cli.ts`), with `env`
 * added to this process's environment and `HERALD_PORT=0`, and waits for its "herald started" line
 * (logged at `info`: do not raise `HERALD_LOG_LEVEL` above it). `HERALD_PROCESS_NODE_ARGS` in this
 * process's environment adds Node options to the command line, e.g. `--cpu-prof` to profile a
 * benchmark's Herald (Node refuses that one in NODE_OPTIONS).
 *
 * @example const herald = await startHeraldProcess({ HERALD_DATABASE_URL: url, HERALD_DATA_DIR: dir });
 */
export async function startHeraldProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<HeraldProcess> {
  const nodeArgs = process.env.HERALD_PROCESS_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/cli.ts'], {
    cwd: ROOT,
    env: { ...process.env, HERALD_PORT: '0', HERALD_HOST: '127.0.0.1', HERALD_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Herald did not start within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    let pending = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'herald started') {
            clearTimeout(timer);
            resolve(entry.port as number);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Herald exited with ${code} before starting; stderr: ${stderr}`));
    });
  });

  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    logs,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
