import { MemoryBackend } from '../../backends/memory/backend.js';
import type { Channel } from '../../src/channel.js';

/** How a case table describes a channel: the memory backend fills in the rest. */
export interface ChannelSpec {
  uuid?: string;
  address?: string;
  country?: string | null;
  tps?: number;
  name?: string;
  config?: Record<string, unknown>;
}

/** The uuid of the channel a case table calls `default`; other named channels get their own. */
export const DEFAULT_CHANNEL_UUID = '8eb23e93-5ecb-45ba-b726-3b064e0c56ab';

export function addChannels(
  backend: MemoryBackend,
  type: string,
  specs: Record<string, ChannelSpec>,
): Map<string, Channel> {
  const channels = new Map<string, Channel>();
  let n = 0;
  for (const [key, spec] of Object.entries(specs)) {
    const uuid = spec.uuid ?? (key === 'default' ? DEFAULT_CHANNEL_UUID : `8eb23e93-5ecb-45ba-b726-${String(++n).padStart(12, '0')}`);
    channels.set(key, backend.addChannel({ ...spec, uuid, type }));
  }
  return channels;
}
