import { ChannelConfigError } from './send-error.js';

/**
 * A channel's settings, with accessors that say what they expected when a value is missing or
 * of the wrong kind. Values come from JSON, so numbers may arrive as strings and are accepted.
 */
export class ChannelConfig {
  constructor(private readonly values: Readonly<Record<string, unknown>> = {}) {}

  /** @example config.string('send_method', 'POST') */
  string(key: string): string | undefined;
  string(key: string, fallback: string): string;
  string(key: string, fallback?: string): string | undefined {
    const value = this.values[key];
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new ChannelConfigError(`channel config "${key}" must be a string`);
  }

  /** The value of `key`, or a ChannelConfigError naming it when it is not set. */
  requireString(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw new ChannelConfigError(`channel config "${key}" is required`);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.values[key];
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 1 || value === '1') return true;
    if (value === 'false' || value === 0 || value === '0') return false;
    throw new ChannelConfigError(`channel config "${key}" must be true or false`);
  }

  int(key: string, fallback: number): number {
    const value = this.values[key];
    if (value === undefined || value === null || value === '') return fallback;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n)) throw new ChannelConfigError(`channel config "${key}" must be an integer`);
    return n;
  }

  /** An object of string values, such as extra HTTP headers. */
  stringMap(key: string): Record<string, string> {
    const value = this.values[key];
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ChannelConfigError(`channel config "${key}" must be an object of strings`);
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') throw new ChannelConfigError(`channel config "${key}.${k}" must be a string`);
      out[k] = v;
    }
    return out;
  }

  /**
   * The http(s) URL of a provider's API, without a trailing slash so paths can be appended.
   *
   * @example config.baseUrl('base_url', 'https://api.telegram.org') // 'https://tg-proxy.example.com'
   */
  baseUrl(key: string, fallback: string): string {
    const value = this.string(key, fallback);
    if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) {
      throw new ChannelConfigError(`channel config "${key}" must be an http(s) URL, not "${value}"`);
    }
    return withoutTrailingSlash(value);
  }

  toJSON(): Record<string, unknown> {
    return { ...this.values };
  }
}

/** One configured connection to a provider: a Telegram bot, a Twilio number, a Kannel account. */
export interface Channel {
  uuid: string;
  orgUuid: string;
  /** The handler's short code: `ex`, `tg`, `t`, `kn`, … */
  type: string;
  name: string;
  /** The channel's own address: a phone number, a bot username, a Twitter handle. */
  address: string;
  /** ISO 3166 alpha-2 country, used to normalise local phone numbers. */
  country: string | null;
  /** Sends per second allowed by the provider (0 = unlimited). */
  tps: number;
  config: ChannelConfig;
}

/**
 * The URL a provider calls for one of this channel's actions.
 *
 * @example callbackUrl('https://herald.example.com', channel, 'status')
 * // 'https://herald.example.com/c/t/<uuid>/status'
 */
export function callbackUrl(baseUrl: string, channel: Pick<Channel, 'type' | 'uuid'>, action: string): string {
  return `${withoutTrailingSlash(baseUrl)}/c/${channel.type}/${channel.uuid}/${action}`;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
