import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/config.js';
import { migrateDatabase, startHerald, type Herald } from './main.js';

// `npm start`: run Herald in the foreground until SIGTERM or SIGINT, then drain and exit 0.
// `npm run migrate`: apply pending database migrations and exit (start-up also applies them).
// Starts at `info`: the configured level is applied once it has been validated.
const logger = pino({ level: 'info', base: { service: 'herald' } });
const command = process.argv[2] ?? 'serve';
const SHUTDOWN_DEADLINE_MS = 30_000;

try {
  const config = loadConfig(process.env);
  logger.level = config.logLevel;
  if (command === 'migrate') {
    const applied = await migrateDatabase(config);
    logger.info({ applied }, applied.length > 0 ? 'database migrated' : 'database already up to date');
    process.exit(0);
  } else if (command !== 'serve') {
    throw new ConfigError(`unknown command "${command}" (expected serve or migrate)`);
  }
  // Signals are handled from here on: one that arrives while starting stops Herald once started.
  let stopping: string | undefined;
  let herald: Herald | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = signal;
    logger.info({ signal }, 'shutting down');
    // Draining waits for sends and batches; a database or provider that never answers must not
    // keep the process alive for ever. Nothing is lost by exiting: a send not recorded keeps its
    // claim and is retried after its lease, and a callback not yet answered is retried by its provider.
    setTimeout(() => {
      logger.error({ afterMs: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    if (herald) close(herald);
  };
  const close = (running: Herald) =>
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  herald = await startHerald(config, logger);
  if (stopping) close(herald);
} catch (err) {
  // One clear line for an operator; the stack only when it is a bug rather than a setting.
  if (!(err instanceof ConfigError)) logger.error({ err }, 'start-up failed');
  const lines = (err instanceof Error ? err.message : String(err)).split('\n');
  process.stderr.write(lines.map((line) => `herald: ${line}\n`).join(''));
  process.exit(1);
}
