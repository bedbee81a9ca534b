import { parsePhoneNumberFromString, type CountryCode, type NumberType } from 'libphonenumber-js/max';

/**
 * A URN names a person on a channel: `scheme:path` with an optional `#display` part.
 *
 * - `tel:+250788383383` — a phone number in E.164, or a short code / sender id as given
 * - `telegram:12345#bobby` — a Telegram chat id, with the username for display
 * - `twitterid:1234#bobby` — a Twitter/X user id, with the screen name (lowercased) for display
 * - `ext:anything` — an id in another system, used by the External channel
 */
export type UrnScheme = 'tel' | 'telegram' | 'twitterid' | 'ext';
export type Urn = `${UrnScheme}:${string}`;

export const URN_SCHEMES: readonly UrnScheme[] = ['tel', 'telegram', 'twitterid', 'ext'];

/** A URN that cannot be parsed or normalised; `message` says what is wrong with it. */
export class UrnError extends Error {
  override readonly name = 'UrnError';
}

export interface ParsedUrn {
  scheme: UrnScheme;
  path: string;
  display?: string;
}

const SHORT_CODE = /^[0-9]{3,8}$/;
const SENDER_ID = /^[a-zA-Z0-9][a-zA-Z0-9 ._-]{0,31}$/;
const NUMERIC_ID = /^[0-9]{1,20}$/;
const MOBILE_TYPES: readonly (NumberType | undefined)[] = ['MOBILE', 'FIXED_LINE_OR_MOBILE'];

/**
 * Makes a `tel:` URN from a number as a person or provider wrote it, in E.164 when it is a valid
 * number for `country` (or has its own `+` prefix). Short codes (3–8 digits, unless a valid mobile number
 * for `country`) are kept as they are.
 * With `allowSenderId`, an alphanumeric sender such as `MTN` is kept too (providers deliver those).
 *
 * @example newTelUrn('0788 383 383', 'RW') // 'tel:+250788383383'
 */
export function newTelUrn(raw: string, country: string | null, opts: { allowSenderId?: boolean } = {}): Urn {
  const trimmed = raw.trim();
  if (trimmed === '') throw new UrnError('phone number is empty');
  const compact = trimmed.replace(/[\s().-]/g, '');
  const region = country ? (country.toUpperCase() as CountryCode) : undefined;
  if (SHORT_CODE.test(compact)) {
    // Mobile numbers are this short in some countries (8 digits in Singapore, 5 in the Falklands);
    // other valid numbers this short (a Berlin line, `30303`) are more likely short codes.
    const national = region ? parsePhoneNumberFromString(compact, region) : undefined;
    if (national?.isValid() && MOBILE_TYPES.includes(national.getType())) return `tel:${national.number}`;
    return `tel:${compact}`;
  }

  const asNumber = /^\+?[0-9]+$/.test(compact);
  if (asNumber) {
    // A number given without `+` may still be international (providers often drop the plus).
    const candidates = compact.startsWith('+') ? [compact] : [compact, `+${compact}`];
    for (const candidate of candidates) {
      const parsed = candidate.startsWith('+')
        ? parsePhoneNumberFromString(candidate)
        : region ? parsePhoneNumberFromString(candidate, region) : undefined;
      if (parsed?.isValid()) return `tel:${parsed.number}`;
    }
    throw new UrnError(`"${raw}" is not a valid phone number${country ? ` for country ${country.toUpperCase()}` : ''}`);
  }
  if (opts.allowSenderId && SENDER_ID.test(trimmed)) return `tel:${trimmed}`;
  throw new UrnError(`"${raw}" is not a phone number`);
}

/** @example newTelegramUrn(12345, 'Bobby') // 'telegram:12345#bobby' */
export function newTelegramUrn(chatId: number | string, username?: string): Urn {
  const id = String(chatId);
  if (!/^-?[0-9]{1,20}$/.test(id)) throw new UrnError(`"${id}" is not a Telegram chat id`);
  return username ? `telegram:${id}#${username.toLowerCase()}` : `telegram:${id}`;
}

/** @example newTwitterIdUrn('1234', 'Bobby') // 'twitterid:1234#bobby' */
export function newTwitterIdUrn(userId: string, screenName?: string): Urn {
  if (!NUMERIC_ID.test(userId)) throw new UrnError(`"${userId}" is not a Twitter user id`);
  return screenName ? `twitterid:${userId}#${screenName.toLowerCase()}` : `twitterid:${userId}`;
}

/** @example newExtUrn('user-42') // 'ext:user-42' */
export function newExtUrn(id: string): Urn {
  const trimmed = id.trim();
  if (trimmed === '' || trimmed.length > 255 || /[\s#]/.test(trimmed)) {
    throw new UrnError(`"${id}" is not a valid external id (1–255 characters, no spaces or '#')`);
  }
  return `ext:${trimmed}`;
}

/**
 * Parses and validates a URN without changing it.
 *
 * @example parseUrn('telegram:12345#bobby') // { scheme: 'telegram', path: '12345', display: 'bobby' }
 */
export function parseUrn(urn: string): ParsedUrn {
  const colon = urn.indexOf(':');
  if (colon <= 0) throw new UrnError(`"${urn}" is not a URN (expected scheme:path)`);
  const scheme = urn.slice(0, colon);
  if (!(URN_SCHEMES as readonly string[]).includes(scheme)) {
    throw new UrnError(`"${scheme}" is not a supported URN scheme (expected one of ${URN_SCHEMES.join(', ')})`);
  }
  const rest = urn.slice(colon + 1);
  const hash = rest.indexOf('#');
  const path = hash >= 0 ? rest.slice(0, hash) : rest;
  const display = hash >= 0 ? rest.slice(hash + 1) : undefined;
  if (path === '') throw new UrnError(`"${urn}" has an empty path`);
  return display ? { scheme: scheme as UrnScheme, path, display } : { scheme: scheme as UrnScheme, path };
}

/** Schemes whose URNs have no `#display` part, so a `#` in one is a mistake, not a name. */
const WITHOUT_DISPLAY: readonly UrnScheme[] = ['tel', 'ext'];

/**
 * Normalises a URN given by an upstream app: `tel:` becomes E.164 using the channel's country
 * (short codes kept), the other schemes are validated and their display part lowercased.
 * A `#` in a `tel:` or `ext:` URN is an error rather than a display part silently dropped.
 *
 * @example normalizeUrn('tel:0788383383', 'RW') // 'tel:+250788383383'
 */
export function normalizeUrn(urn: string, country: string | null): Urn {
  const trimmed = urn.trim();
  const { scheme, path, display } = parseUrn(trimmed);
  if (WITHOUT_DISPLAY.includes(scheme) && trimmed.includes('#')) {
    throw new UrnError(`"${trimmed.slice(scheme.length + 1)}" contains '#': ${scheme} URNs have no display part`);
  }
  switch (scheme) {
    case 'tel':
      return newTelUrn(path, country);
    case 'telegram':
      return newTelegramUrn(path, display);
    case 'twitterid':
      return newTwitterIdUrn(path, display);
    case 'ext':
      return newExtUrn(path);
  }
}

/** The part of a URN that a provider addresses: `tel:+2507…` → `+2507…`, `telegram:12#bob` → `12`. */
export function urnPath(urn: Urn): string {
  return parseUrn(urn).path;
}

export function urnScheme(urn: Urn): UrnScheme {
  return parseUrn(urn).scheme;
}
