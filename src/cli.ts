import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/config.js';
import { startHerald } from './main.js';

// `npm start`: run Herald in the foreground until SIGTERM or SIGINT, then drain and exit 0.
// Starts at `info`: the configured level is applied once it has been validated.
const logger = pino({ level: 'info', base: { service: 'herald' } });

try {
  const config = loadConfig(process.env);
  logger.level = config.logLevel;
  const herald = await startHerald(config, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    herald.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  // One clear line for an operator; the stack only when it is a bug rather than a setting.
  if (!(err instanceof ConfigError)) logger.error({ err }, 'start-up failed');
  process.stderr.write(`herald: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
