import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/config.js';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has the defaults of CONTRACT §1', () => {
    expect(loadConfig({})).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      baseUrl: 'http://localhost:8080',
      databaseUrl: null,
      redisUrl: null,
      redisPrefix: 'herald',
      dataDir: './data',
      spoolDir: './spool',
      adminToken: null,
      channels: [],
      maxWorkers: 32,
      logLevel: 'info',
    });
    expect(loadConfig({ HERALD_PORT: '9000' }).baseUrl).toBe('http://localhost:9000');
    expect(loadConfig({ HERALD_BASE_URL: 'https://h.example.com/' }).baseUrl).toBe('https://h.example.com');
  });

  it('reports every bad variable at once, one line each naming it', () => {
    expect(
      problems({
        HERALD_PORT: 'eighty',
        HERALD_BASE_URL: 'ftp://x',
        HERALD_DATABASE_URL: 'mysql://db',
        HERALD_REDIS_URL: 'localhost:6379',
        HERALD_REDIS_PREFIX: 'has space',
        HERALD_ADMIN_TOKEN: 'short',
        HERALD_MAX_WORKERS: '0',
        HERALD_LOG_LEVEL: 'verbose',
        HERALD_SEND_LEASE_SECONDS: '1',
        HERALD_RECONCILE_SECONDS: 'often',
      }).map((line) => line.split(':')[0]),
    ).toEqual([
      'HERALD_PORT',
      'HERALD_BASE_URL',
      'HERALD_DATABASE_URL',
      'HERALD_REDIS_URL',
      'HERALD_REDIS_PREFIX',
      'HERALD_ADMIN_TOKEN',
      'HERALD_MAX_WORKERS',
      'HERALD_SEND_LEASE_SECONDS',
      'HERALD_RECONCILE_SECONDS',
      'HERALD_LOG_LEVEL',
    ]);
    expect(problems({ HERALD_PORT: 'eighty' })).toEqual(['HERALD_PORT: must be a whole number (got "eighty")']);
  });

  it('names the channels file entry that is wrong, beside other problems', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-config-'));
    const file = join(dir, 'channels.json');
    await writeFile(file, JSON.stringify([{ uuid: '0191e180-7d60-7000-8000-0000000000c1', type: 'ex', country: 'Rwanda', config: {} }]));
    expect(problems({ HERALD_CHANNELS_FILE: file, HERALD_LOG_LEVEL: 'loud' })).toEqual([
      `HERALD_CHANNELS_FILE: ${file}[0].country: must be an ISO 3166 alpha-2 code`,
      'HERALD_LOG_LEVEL: must be debug, info, warn or error (got "loud")',
    ]);
    expect(problems({ HERALD_CHANNELS_FILE: join(dir, 'missing.json') })[0]).toMatch(/^HERALD_CHANNELS_FILE: cannot read .*missing\.json \(ENOENT\)$/);
  });
});
