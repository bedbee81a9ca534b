import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeraldProcess, type HeraldProcess } from './support/herald-process.js';

const CHANNEL = '0191e180-7d60-7000-8000-0000000e0b01';

describe('the embedded default (no database or Redis configured)', () => {
  let dir: string;
  let env: Record<string, string>;
  let herald: HeraldProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-embedded-'));
    const channels = join(dir, 'channels.json');
    await writeFile(channels, JSON.stringify([{ uuid: CHANNEL, type: 'ex', country: 'RW', config: {} }]));
    env = {
      HERALD_DATABASE_URL: '',
      HERALD_REDIS_URL: '',
      HERALD_DATA_DIR: join(dir, 'data'),
      HERALD_SPOOL_DIR: join(dir, 'spool'),
      HERALD_CHANNELS_FILE: channels,
    };
  });

  afterAll(async () => {
    await herald?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  async function receive(base: string): Promise<{ status: number; msgUuid: string }> {
    const res = await fetch(`${base}/c/ex/${CHANNEL}/receive`, {
      method: 'POST',
      body: new URLSearchParams({ from: '0788383383', text: 'still there?', id: 'provider-42' }),
    });
    const body = (await res.json()) as { data: Array<{ msg_uuid: string }> };
    return { status: res.status, msgUuid: body.data[0]!.msg_uuid };
  }

  it('keeps what it stored across a restart', async () => {
    herald = await startHeraldProcess(env, 120_000);
    expect(herald.logs.find((l) => l.msg === 'herald started')).toMatchObject({ database: 'embedded', queue: 'in-process' });
    const health = await fetch(`${herald.baseUrl}/health`);
    expect(await health.json()).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'not_configured', queue: 'ok', spool: 'ok' } });
    const first = await receive(herald.baseUrl);
    expect(first.status).toBe(200);
    // No HERALD_BASE_URL and HERALD_PORT=0: URLs handed out name the port actually listened on.
    const doc = (await (await fetch(`${herald.baseUrl}/api/v1/openapi.json`)).json()) as { servers: Array<{ url: string }> };
    expect(doc.servers[0]!.url).toBe(`http://localhost:${herald.port}/api/v1`);
    expect(herald.logs.find((l) => l.msg === 'herald started')).toMatchObject({ baseUrl: `http://localhost:${herald.port}` });
    expect(await herald.stop()).toBe(0);

    herald = await startHeraldProcess(env, 120_000);
    // The same provider message again: recognised as a repeat of the stored one, so it was kept.
    const again = await receive(herald.baseUrl);
    expect(again).toEqual(first);
    expect(await herald.stop()).toBe(0);
  }, 240_000);
});
