import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { handlers } from '../handlers/index.js';
import { ChannelConfig, type Channel } from '../src/channel.js';
import { ChannelConfigError } from '../src/send-error.js';

function channel(type: string, config: Record<string, unknown>): Channel {
  return { uuid: '0191e180-7d60-7000-8000-0000000c0c01', orgUuid: '', type, name: type, address: '', country: 'RW', tps: 0, config: new ChannelConfig(config) };
}

const handler = (type: string) => handlers.find((h) => h.type === type)!;

describe('checking a channel config', () => {
  it.each([
    ['tg', { auth_token: '123:abc' }],
    ['t', { account_sid: 'AC1', auth_token: 'secret' }],
    ['kn', { send_url: 'http://kannel:13013/cgi-bin/sendsms', username: 'u', password: 'p' }],
    ['ex', {}],
    ['ex', { send_url: 'https://sms.example.com/send', send_method: 'GET' }],
    ['twt', { api_key: 'k', api_secret: 's', access_token: '1-t', access_token_secret: 'ts' }],
    ['nx', { api_key: 'k', api_secret: 's' }],
  ])('accepts a working %s config', (type, config) => {
    expect(() => handler(type).checkConfig(channel(type, config))).not.toThrow();
  });

  it.each([
    ['tg', {}, 'channel config "auth_token" is required'],
    ['tg', { auth_token: '1:a', base_url: 'api.telegram.org' }, 'base_url'],
    ['t', { account_sid: 'AC1' }, 'channel config "auth_token" is required'],
    ['t', { account_sid: 'AC1', auth_token: 's', validate_signature: 'maybe' }, 'validate_signature'],
    ['kn', { send_url: 'not a url', username: 'u', password: 'p' }, 'send_url'],
    ['kn', { send_url: 'http://kannel/sendsms', username: 'u' }, 'channel config "password" is required'],
    ['ex', { scheme: 'sms' }, 'channel config "scheme" must be "tel" or "ext"'],
    ['ex', { send_url: 'https://x.example.com', send_method: 'PATCH' }, 'send_method'],
    ['ex', { max_length: 0 }, 'max_length'],
    ['twt', { api_key: 'k' }, 'channel config "api_secret" is required'],
    ['nx', { api_key: 'k' }, 'channel config "api_secret" is required'],
  ])('refuses a %s config that cannot work, naming the setting (%j)', (type, config, problem) => {
    const check = () => handler(type).checkConfig(channel(type, config));
    expect(check).toThrow(ChannelConfigError);
    expect(check).toThrow(problem);
  });

  it('stops start-up with one line naming the channel and the setting', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-check-'));
    try {
      const file = join(dir, 'channels.json');
      writeFileSync(file, JSON.stringify([{ uuid: '0191e180-7d60-7000-8000-0000000c0c02', type: 't', config: { account_sid: 'AC1' } }]));
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, HERALD_CHANNELS_FILE: file, HERALD_DATA_DIR: join(dir, 'data'), HERALD_SPOOL_DIR: join(dir, 'spool'), HERALD_PORT: '0' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr.trim()).toBe(
        'herald: HERALD_CHANNELS_FILE: channel 0191e180-7d60-7000-8000-0000000c0c02 (t): channel config "auth_token" is required',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
