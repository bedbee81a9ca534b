import { describe, expect, it } from 'vitest';
import { ChannelCache } from '../backends/postgres/channel-cache.js';
import { ChannelConfig, type Channel } from '../src/channel.js';

const channel: Channel = {
  uuid: '0191e180-7d60-7000-8000-000000000001',
  orgUuid: '00000000-0000-4000-8000-000000000000',
  type: 'ex',
  name: 'Test',
  address: '',
  country: null,
  tps: 0,
  config: new ChannelConfig({}),
};

/** A loader standing in for a database client: counts its queries, and can be made to fail. */
function loader() {
  const state = { queries: 0, down: false, channel: channel as Channel | null };
  const load = async (_uuid: string) => {
    state.queries++;
    await new Promise((r) => setTimeout(r, 5));
    if (state.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    return state.channel;
  };
  return { state, load };
}

describe('ChannelCache', () => {
  it('serves a fresh entry without a query, and reloads it after the TTL', async () => {
    let now = 0;
    const { state, load } = loader();
    const cache = new ChannelCache(load, { ttlMs: 60_000, now: () => now });
    expect(await cache.get(channel.uuid)).toBe(channel);
    now += 59_000;
    expect(await cache.get(channel.uuid)).toBe(channel);
    expect(state.queries).toBe(1);
    now += 2_000;
    state.channel = { ...channel, name: 'Renamed' };
    expect((await cache.get(channel.uuid))?.name).toBe('Renamed');
    expect(state.queries).toBe(2);
  });

  it('serves the stale entry while the database is down, and rethrows without one', async () => {
    let now = 0;
    const { state, load } = loader();
    const cache = new ChannelCache(load, { ttlMs: 60_000, now: () => now });
    await cache.get(channel.uuid);
    now += 120_000;
    state.down = true;
    expect(await cache.get(channel.uuid)).toBe(channel);
    await expect(cache.get('0191e180-7d60-7000-8000-000000000002')).rejects.toThrow('ECONNREFUSED');
  });

  it('serves a stale entry without even trying while the database is known to be down', async () => {
    let now = 0;
    let offline = false;
    const { state, load } = loader();
    const cache = new ChannelCache(load, { ttlMs: 60_000, now: () => now, offline: () => offline });
    await cache.get(channel.uuid);
    now += 120_000;
    offline = true;
    expect(await cache.get(channel.uuid)).toBe(channel);
    expect(state.queries).toBe(1);
    offline = false;
    await cache.get(channel.uuid);
    expect(state.queries).toBe(2);
  });

  it('shares one query between concurrent misses for one uuid', async () => {
    const { state, load } = loader();
    const cache = new ChannelCache(load);
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.get(channel.uuid)));
    expect(results.every((c) => c === channel)).toBe(true);
    expect(state.queries).toBe(1);
  });

  it('remembers a missing channel briefly', async () => {
    let now = 0;
    const { state, load } = loader();
    state.channel = null;
    const cache = new ChannelCache(load, { missingTtlMs: 5_000, now: () => now });
    expect(await cache.get(channel.uuid)).toBeNull();
    expect(await cache.get(channel.uuid)).toBeNull();
    expect(state.queries).toBe(1);
    now += 5_001;
    state.channel = channel;
    expect(await cache.get(channel.uuid)).toBe(channel);
  });
});
