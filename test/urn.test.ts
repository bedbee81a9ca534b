import fc from 'fast-check';
import { getCountries, getExampleNumber, type CountryCode, type PhoneNumber } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/examples.mobile.json';
import { describe, expect, it } from 'vitest';
import {
  URN_SCHEMES,
  UrnError,
  newExtUrn,
  newTelUrn,
  newTelegramUrn,
  newTwitterIdUrn,
  normalizeUrn,
  parseUrn,
  urnPath,
  urnScheme,
} from '../src/urn.js';

describe('normalizeUrn', () => {
  it.each([
    ['a national number', 'tel:0788 383 383', 'RW', 'tel:+250788383383'],
    ['a lowercase country', 'tel:0788383383', 'rw', 'tel:+250788383383'],
    ['an E.164 number, whatever the country', 'tel:+250788383383', 'KE', 'tel:+250788383383'],
    ['an E.164 number with no country', 'tel:+250 788-383-383', null, 'tel:+250788383383'],
    ['an international number without its plus', 'tel:250788383383', 'RW', 'tel:+250788383383'],
    ['an international number with the 00 prefix', 'tel:00 250 788 383 383', 'RW', 'tel:+250788383383'],
    ['punctuation around the digits', 'tel:(078) 838-3383', 'RW', 'tel:+250788383383'],
    ['whitespace around the URN', '  tel:0788383383\n', 'RW', 'tel:+250788383383'],
    ['a short code', 'tel:8080', 'RW', 'tel:8080'],
    ['a short code with no country', 'tel:12345', null, 'tel:12345'],
    ['a short code that is also a fixed line number', 'tel:30303', 'DE', 'tel:30303'],
    ['an 8-digit national mobile number', 'tel:8123 4567', 'SG', 'tel:+6581234567'],
    ['a 5-digit national mobile number', 'tel:51234', 'FK', 'tel:+50051234'],
    ['a US number', 'tel:(201) 555-0123', 'US', 'tel:+12015550123'],
    ['a Telegram chat id and username', 'telegram:12345#Bobby', null, 'telegram:12345#bobby'],
    ['a Telegram group chat id', 'telegram:-1001234567890', null, 'telegram:-1001234567890'],
    ['an empty display part', 'telegram:12345#', null, 'telegram:12345'],
    ['a Twitter user id and screen name', 'twitterid:1234567890#BobbyTables', null, 'twitterid:1234567890#bobbytables'],
    ['an external id', 'ext:user-42', null, 'ext:user-42'],
    ['an external id with spaces around it', 'ext: user-42 ', null, 'ext:user-42'],
  ])('normalises %s', (_, urn, country, expected) => {
    expect(normalizeUrn(urn, country)).toBe(expected);
  });

  it.each([
    ['not a URN', '0788383383', 'RW', '"0788383383" is not a URN (expected scheme:path)'],
    ['an unknown scheme', 'mailto:bob@example.com', null, '"mailto" is not a supported URN scheme (expected one of tel, telegram, twitterid, ext)'],
    ['an empty path', 'tel:', 'RW', '"tel:" has an empty path'],
    ['a national number with no country', 'tel:0788383383', null, '"0788383383" is not a valid phone number'],
    ['a number that is not valid for the country', 'tel:0788383383', 'GB', '"0788383383" is not a valid phone number for country GB'],
    ['an unknown country', 'tel:0788383383', 'XX', '"0788383383" is not a valid phone number for country XX'],
    ['an invalid E.164 number', 'tel:+2507883', 'RW', '"+2507883" is not a valid phone number for country RW'],
    ['too few digits', 'tel:12', 'RW', '"12" is not a valid phone number for country RW'],
    ['letters', 'tel:hello', 'RW', '"hello" is not a phone number'],
    ['a sender id (only accepted from providers)', 'tel:MTN', 'RW', '"MTN" is not a phone number'],
    ['a Telegram username instead of an id', 'telegram:bobby', null, '"bobby" is not a Telegram chat id'],
    ['a negative Twitter id', 'twitterid:-12', null, '"-12" is not a Twitter user id'],
    ['an external id with a space', 'ext:user 42', null, '"user 42" is not a valid external id (1–255 characters, no spaces or \'#\')'],
    ['an external id that is too long', `ext:${'x'.repeat(256)}`, null, `"${'x'.repeat(256)}" is not a valid external id`],
    ['an external id with a display part', 'ext:a#b', null, `"a#b" contains '#': ext URNs have no display part`],
    ['an external id ending in #', 'ext:a#', null, `"a#" contains '#': ext URNs have no display part`],
    ['a phone number with a display part', 'tel:+250788383383#bob', 'RW', `"+250788383383#bob" contains '#': tel URNs have no display part`],
  ])('rejects %s', (_, urn, country, message) => {
    expect(() => normalizeUrn(urn, country)).toThrow(UrnError);
    expect(() => normalizeUrn(urn, country)).toThrow(message);
  });
});

describe('newTelUrn', () => {
  it('keeps an alphanumeric sender id when allowed', () => {
    expect(newTelUrn('MTN', 'RW', { allowSenderId: true })).toBe('tel:MTN');
    expect(newTelUrn('Bank Of Kigali', 'RW', { allowSenderId: true })).toBe('tel:Bank Of Kigali');
    expect(() => newTelUrn('MTN', 'RW')).toThrow(new UrnError('"MTN" is not a phone number'));
  });

  it('still normalises numbers when sender ids are allowed', () => {
    expect(newTelUrn('0788383383', 'RW', { allowSenderId: true })).toBe('tel:+250788383383');
  });

  it('rejects an empty number', () => {
    expect(() => newTelUrn('  ', 'RW')).toThrow(new UrnError('phone number is empty'));
  });
});

describe('URN constructors and accessors', () => {
  it('builds Telegram URNs from numeric or string ids', () => {
    expect(newTelegramUrn(12345, 'Bobby')).toBe('telegram:12345#bobby');
    expect(newTelegramUrn('-100123')).toBe('telegram:-100123');
    expect(() => newTelegramUrn('@bobby')).toThrow(new UrnError('"@bobby" is not a Telegram chat id'));
  });

  it('builds Twitter URNs with the screen name lowercased', () => {
    expect(newTwitterIdUrn('1234', 'Bobby')).toBe('twitterid:1234#bobby');
    expect(newTwitterIdUrn('1234')).toBe('twitterid:1234');
    expect(() => newTwitterIdUrn('bobby')).toThrow(UrnError);
  });

  it('builds external URNs', () => {
    expect(newExtUrn(' user-42 ')).toBe('ext:user-42');
    expect(() => newExtUrn('')).toThrow(UrnError);
    expect(() => newExtUrn('a#b')).toThrow(UrnError);
  });

  it('parses a URN into its parts', () => {
    expect(parseUrn('telegram:12345#bobby')).toEqual({ scheme: 'telegram', path: '12345', display: 'bobby' });
    expect(parseUrn('tel:+250788383383')).toEqual({ scheme: 'tel', path: '+250788383383' });
    expect(urnPath('telegram:12#bob')).toBe('12');
    expect(urnScheme('twitterid:12#bob')).toBe('twitterid');
  });
});

describe('URN properties', () => {
  const countries = getCountries().filter((country) => getExampleNumber(country, examples) !== undefined);
  const exampleOf = (country: CountryCode): PhoneNumber => getExampleNumber(country, examples)!;

  /** A number as a person might type it: its digits (and plus) with spaces, dashes, dots or parens anywhere. */
  const typed = (formatted: string) =>
    fc
      .array(fc.constantFrom('', '', '', ' ', '-', '.', '(', ')', ' - '), {
        minLength: formatted.length + 1,
        maxLength: formatted.length + 1,
      })
      .map((separators) => {
        const chars = [...formatted.replace(/[^0-9+]/g, '')];
        return separators.map((separator, i) => separator + (chars[i] ?? '')).join('');
      });

  const spelledNumber = fc
    .constantFrom(...countries)
    .chain((country) =>
      fc.record({
        country: fc.constant(country),
        national: typed(exampleOf(country).formatNational()),
        international: typed(exampleOf(country).formatInternational()),
      }),
    );

  it('gives the same E.164 URN for the national and international spellings of a number', () => {
    fc.assert(
      fc.property(spelledNumber, ({ country, national, international }) => {
        const expected = `tel:${exampleOf(country).number}`;
        expect(normalizeUrn(`tel:${national}`, country)).toBe(expected);
        expect(normalizeUrn(`tel:${international}`, country)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('checks every country with an example mobile number', () => {
    for (const country of countries) {
      const example = exampleOf(country);
      expect(normalizeUrn(`tel:${example.formatNational()}`, country), country).toBe(`tel:${example.number}`);
    }
  });

  it('normalises idempotently, and an E.164 URN is the same under any country', () => {
    const otherCountry = fc.option(fc.constantFrom(...countries), { nil: null });
    fc.assert(
      fc.property(spelledNumber, otherCountry, ({ country, national }, other) => {
        const once = normalizeUrn(`tel:${national}`, country);
        expect(normalizeUrn(once, country)).toBe(once);
        expect(normalizeUrn(once, other)).toBe(once);
      }),
    );
  });

  const anyCountry = fc.option(fc.constantFrom(...countries, 'XX', 'rw'), { nil: null });
  const urnLike = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.tuple(fc.constantFrom(...URN_SCHEMES, 'mailto', ''), fc.string()).map(([scheme, rest]) => `${scheme}:${rest}`),
    fc.tuple(fc.constantFrom('tel:', 'tel:+', 'tel:00', 'telegram:', 'twitterid:', 'telegram:-'), fc.stringMatching(/^[0-9 ().#a-zA-Z-]{0,25}$/)).map(([prefix, rest]) => prefix + rest),
  );

  it('either gives a URN that normalises to itself or throws a UrnError quoting part of the input', () => {
    fc.assert(
      fc.property(urnLike, anyCountry, (input, country) => {
        let urn: string;
        try {
          urn = normalizeUrn(input, country);
        } catch (error) {
          expect(error).toBeInstanceOf(UrnError);
          const message = (error as UrnError).message;
          if (message !== 'phone number is empty') {
            const quoted = /^"([\s\S]*)" /.exec(message)?.[1];
            expect(quoted).toBeDefined();
            expect(input).toContain(quoted);
          }
          return;
        }
        expect(normalizeUrn(urn, country)).toBe(urn);
        expect(URN_SCHEMES).toContain(parseUrn(urn).scheme);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps Telegram and Twitter ids as they are, with the display name lowercased', () => {
    const telegramId = fc.bigInt({ min: -(10n ** 13n), max: 10n ** 13n });
    const twitterId = fc.bigInt({ min: 0n, max: 2n ** 63n }).map(String);
    const name = fc.stringMatching(/^[A-Za-z0-9_]{1,32}$/);
    fc.assert(
      fc.property(telegramId, twitterId, name, (chatId, userId, display) => {
        expect(normalizeUrn(`telegram:${chatId}#${display}`, null)).toBe(`telegram:${chatId}#${display.toLowerCase()}`);
        expect(normalizeUrn(`twitterid:${userId}#${display}`, null)).toBe(`twitterid:${userId}#${display.toLowerCase()}`);
        expect(parseUrn(newTelegramUrn(chatId.toString(), display)).path).toBe(chatId.toString());
      }),
    );
  });

  it('keeps an external id as it is', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9._:@\/+=-]{1,255}$/);
    fc.assert(
      fc.property(id, (id) => {
        expect(normalizeUrn(`ext:${id}`, null)).toBe(`ext:${id}`);
        expect(urnPath(newExtUrn(id))).toBe(id);
      }),
    );
  });
});
