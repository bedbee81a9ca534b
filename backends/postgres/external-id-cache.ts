/**
 * Provider id → message uuid, remembered in this process the moment a send returns, before its
 * outcome is committed: a delivery report that races ahead of the commit still finds its message
 * (DESIGN §3). Bounded: the oldest entries are dropped first, which are the ones least likely to
 * be needed — by then the database has the id.
 */
export class ExternalIdCache {
  private readonly entries = new Map<string, string>();

  constructor(private readonly capacity = 10_000) {}

  /** @example cache.set(channel.uuid, 'SM123', msg.uuid) */
  set(channelUuid: string, externalId: string, msgUuid: string): void {
    const key = `${channelUuid}|${externalId}`;
    this.entries.delete(key);
    this.entries.set(key, msgUuid);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get(channelUuid: string, externalId: string): string | undefined {
    return this.entries.get(`${channelUuid}|${externalId}`);
  }
}
