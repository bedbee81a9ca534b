/**
 * Channel lookups by uuid, cached: every provider callback and every send needs its channel, and
 * channels change rarely.
 *
 * - An entry is fresh for `ttlMs` (default 60 s); a change made by another process is seen at
 *   most that late. A missing channel is remembered for a shorter `missingTtlMs` (default 5 s),
 *   so a probe of unknown uuids costs one query per uuid every few seconds, while a channel just
 *   created elsewhere appears quickly.
 * - When the lookup of an expired entry fails (the database is down), the stale entry is served:
 *   callbacks for known channels keep being accepted and spooled. With no entry the error is
 *   rethrown. While `offline()` says the database is known to be down, a stale entry is served
 *   without trying, so no callback waits for a lookup bound to fail.
 * - Concurrent misses for one uuid share one query.
 */
import type { Channel } from '../../src/channel.js';

interface Entry {
  channel: Channel | null;
  expiresAt: number;
}

export interface ChannelCacheOptions {
  ttlMs?: number;
  missingTtlMs?: number;
  /** Whether the database is known to be unreachable right now. */
  offline?: () => boolean;
  now?: () => number;
}

export class ChannelCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Channel | null>>();
  private readonly ttlMs: number;
  private readonly missingTtlMs: number;
  private readonly now: () => number;
  private readonly offline: () => boolean;

  constructor(
    private readonly load: (uuid: string) => Promise<Channel | null>,
    opts: ChannelCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.missingTtlMs = opts.missingTtlMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.offline = opts.offline ?? (() => false);
  }

  /**
   * The channel, from the cache while fresh, else loaded (or stale if loading fails).
   *
   * @example const channel = await cache.get('0191…'); // null when there is none
   */
  async get(uuid: string): Promise<Channel | null> {
    const entry = this.entries.get(uuid);
    if (entry && (entry.expiresAt > this.now() || this.offline())) return entry.channel;
    const pending = this.inFlight.get(uuid);
    if (pending) return pending;
    const loading = this.refresh(uuid, entry).finally(() => this.inFlight.delete(uuid));
    this.inFlight.set(uuid, loading);
    return loading;
  }

  /** Forgets a channel, so the next lookup reads it again (after an upsert or a delete). */
  invalidate(uuid: string): void {
    this.entries.delete(uuid);
  }

  private async refresh(uuid: string, stale: Entry | undefined): Promise<Channel | null> {
    let channel: Channel | null;
    try {
      channel = await this.load(uuid);
    } catch (err) {
      if (stale) return stale.channel;
      throw err;
    }
    this.entries.set(uuid, { channel, expiresAt: this.now() + (channel ? this.ttlMs : this.missingTtlMs) });
    return channel;
  }
}
