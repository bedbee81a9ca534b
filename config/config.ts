import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Herald's settings, read from `HERALD_*` environment variables (CONTRACT §1). */
export interface Config {
  port: number;
  host: string;
  baseUrl: string;
  /** HERALD_BASE_URL was not set: the base URL is `http://localhost:<the port listened on>`. */
  baseUrlFromPort: boolean;
  databaseUrl: string | null;
  redisUrl: string | null;
  redisPrefix: string;
  dataDir: string;
  spoolDir: string;
  adminToken: string | null;
  channels: ChannelFileEntry[];
  maxWorkers: number;
  /** How long a send's claim lasts before a crashed sender's message is sent again (`HERALD_SEND_LEASE_SECONDS`). */
  sendLeaseMs: number;
  /** How often the reconciler re-pushes waiting messages the queue lacks (`HERALD_RECONCILE_SECONDS`). */
  reconcileIntervalMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** A channel as the channels file (and `POST /api/v1/channels`) describes it. */
export interface ChannelFileEntry {
  uuid: string;
  type: string;
  name?: string;
  address?: string;
  country?: string | null;
  tps?: number;
  config: Record<string, unknown>;
}

/** A setting that cannot work; `message` is one line naming the variable and the problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const integer = (min: number, max: number) =>
  z.string().regex(/^[0-9]+$/, 'must be a whole number').transform(Number).pipe(z.number().min(min).max(max));

const channelEntry = z.object({
  uuid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid'),
  type: z.string().regex(/^[a-z0-9]{1,8}$/, 'must be a lowercase channel type code such as "tg"'),
  name: z.string().optional(),
  address: z.string().optional(),
  country: z.string().regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166 alpha-2 code').nullable().optional(),
  tps: z.number().int().min(0).optional(),
  config: z.record(z.string(), z.unknown()).default({}),
});

/**
 * Reads and validates the configuration. Every problem found is reported at once, one line each
 * naming the variable, in a single ConfigError, e.g.
 * `HERALD_PORT: must be a whole number (got "eighty")`.
 *
 * @example const config = loadConfig(process.env);
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const read = <S extends z.ZodType>(name: string, schema: S, fallback: string): z.output<S> => {
    const raw = env[name]?.trim() || fallback;
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    problems.push(`${name}: ${result.error.issues[0]?.message} (got "${raw}")`);
    return undefined as z.output<S>;
  };
  const optional = <S extends z.ZodType>(name: string, schema: S): z.output<S> | null => {
    const raw = env[name]?.trim();
    return raw ? read(name, schema, raw) : null;
  };
  const port = read('HERALD_PORT', integer(0, 65535), '8080');
  const baseUrl = read('HERALD_BASE_URL', z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }), `http://localhost:${port ?? 8080}`);
  const channelsFile = env.HERALD_CHANNELS_FILE?.trim();
  let channels: ChannelFileEntry[] = [];
  if (channelsFile) {
    try {
      channels = readChannelsFile(channelsFile);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
    }
  }
  const config: Config = {
    port,
    host: read('HERALD_HOST', z.string().min(1), '0.0.0.0'),
    baseUrl: baseUrl?.replace(/\/+$/, ''),
    baseUrlFromPort: !env.HERALD_BASE_URL?.trim(),
    databaseUrl: optional('HERALD_DATABASE_URL', z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')),
    redisUrl: optional('HERALD_REDIS_URL', z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL')),
    redisPrefix: read('HERALD_REDIS_PREFIX', z.string().regex(/^[A-Za-z0-9:_-]+$/, 'must be letters, digits, ":", "_" or "-"'), 'herald'),
    dataDir: read('HERALD_DATA_DIR', z.string().min(1), './data'),
    spoolDir: read('HERALD_SPOOL_DIR', z.string().min(1), './spool'),
    adminToken: optional('HERALD_ADMIN_TOKEN', z.string().min(16, 'must be at least 16 characters')),
    channels,
    maxWorkers: read('HERALD_MAX_WORKERS', integer(1, 10_000), '32'),
    sendLeaseMs: read('HERALD_SEND_LEASE_SECONDS', integer(5, 86_400), '300') * 1000,
    reconcileIntervalMs: read('HERALD_RECONCILE_SECONDS', integer(1, 3600), '60') * 1000,
    logLevel: read('HERALD_LOG_LEVEL', z.enum(['debug', 'info', 'warn', 'error'], 'must be debug, info, warn or error'), 'info'),
  };
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return config;
}

function readChannelsFile(path: string): ChannelFileEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`HERALD_CHANNELS_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`HERALD_CHANNELS_FILE: ${path} is not valid JSON (${(err as Error).message})`);
  }
  const result = z.array(channelEntry).safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? `[${issue.path.join('].')}`.replace(/\]\.(\w+)/, '].$1') : '';
    throw new ConfigError(`HERALD_CHANNELS_FILE: ${path}${where}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const [i, entry] of result.data.entries()) {
    const uuid = entry.uuid.toLowerCase();
    if (seen.has(uuid)) throw new ConfigError(`HERALD_CHANNELS_FILE: ${path}[${i}].uuid: ${uuid} appears twice`);
    seen.add(uuid);
    entry.uuid = uuid;
  }
  return result.data as ChannelFileEntry[];
}
