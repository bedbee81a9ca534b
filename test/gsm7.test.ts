import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gsm7Length, isGsm7, smsSegments, toGsm7Lookalikes } from '../src/gsm7.js';

// GSM 03.38 written out again here, so that a slip in either copy shows up.
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION = '\f^{}\\[~]|€';

describe('isGsm7', () => {
  it('accepts every character of the default alphabet and the extension table', () => {
    expect([...GSM7_BASIC]).toHaveLength(127);
    expect(isGsm7(GSM7_BASIC)).toBe(true);
    expect(isGsm7(GSM7_EXTENSION)).toBe(true);
  });

  it.each([
    ['lowercase c cedilla (only Ç is in the table)', 'ç'],
    ['a circumflex', 'coûte'],
    ['a lowercase Greek letter', 'α'],
    ['Cyrillic', 'Привет'],
    ['an emoji', 'ok 👍'],
    ['a smart quote', 'don’t'],
    ['a backtick', '`'],
    ['the escape character itself', '\x1b'],
    ['a tab', 'a\tb'],
  ])('rejects %s', (_, text) => {
    expect(isGsm7(text)).toBe(false);
  });

  it('accepts empty text', () => {
    expect(isGsm7('')).toBe(true);
  });
});

describe('gsm7Length', () => {
  it.each([
    ['', 0],
    ['Hello', 5],
    ['5€', 3],
    ['{[~]}', 10],
    ['Ärger über Ölpreise', 19],
    ['line\r\nbreak', 11],
  ])('%j takes %i septets', (text, septets) => {
    expect(gsm7Length(text)).toBe(septets);
  });

  it('names the first character GSM-7 cannot encode', () => {
    expect(() => gsm7Length('fine until 😀')).toThrow(new RangeError('"😀" (U+1F600) is not a GSM-7 character'));
  });
});

describe('smsSegments', () => {
  const cases: { name: string; text: string; encoding: 'gsm7' | 'ucs2'; segments: number; perSegment: number }[] = [
    { name: 'empty text', text: '', encoding: 'gsm7', segments: 0, perSegment: 160 },
    { name: '1 GSM-7 character', text: 'a', encoding: 'gsm7', segments: 1, perSegment: 160 },
    { name: '160 GSM-7 characters', text: 'a'.repeat(160), encoding: 'gsm7', segments: 1, perSegment: 160 },
    { name: '161 GSM-7 characters', text: 'a'.repeat(161), encoding: 'gsm7', segments: 2, perSegment: 153 },
    { name: '306 GSM-7 characters', text: 'a'.repeat(306), encoding: 'gsm7', segments: 2, perSegment: 153 },
    { name: '307 GSM-7 characters', text: 'a'.repeat(307), encoding: 'gsm7', segments: 3, perSegment: 153 },
    { name: '80 euro signs (160 septets)', text: '€'.repeat(80), encoding: 'gsm7', segments: 1, perSegment: 160 },
    { name: '159 characters and a euro sign', text: `${'a'.repeat(159)}€`, encoding: 'gsm7', segments: 2, perSegment: 153 },
    { name: '81 euro signs (76 fit in a part)', text: '€'.repeat(81), encoding: 'gsm7', segments: 2, perSegment: 153 },
    {
      name: 'an escape pair that would straddle two parts moves to the next',
      text: `${'a'.repeat(152)}€${'a'.repeat(152)}`,
      encoding: 'gsm7',
      segments: 3,
      perSegment: 153,
    },
    { name: '70 UCS-2 characters', text: 'Ж'.repeat(70), encoding: 'ucs2', segments: 1, perSegment: 70 },
    { name: '71 UCS-2 characters', text: 'Ж'.repeat(71), encoding: 'ucs2', segments: 2, perSegment: 67 },
    { name: '134 UCS-2 characters', text: 'Ж'.repeat(134), encoding: 'ucs2', segments: 2, perSegment: 67 },
    { name: '135 UCS-2 characters', text: 'Ж'.repeat(135), encoding: 'ucs2', segments: 3, perSegment: 67 },
    { name: 'one non-GSM character makes the whole text UCS-2', text: `${'a'.repeat(70)}ç`, encoding: 'ucs2', segments: 2, perSegment: 67 },
    { name: '35 emoji (70 UTF-16 units)', text: '😀'.repeat(35), encoding: 'ucs2', segments: 1, perSegment: 70 },
    { name: '36 emoji (72 UTF-16 units)', text: '😀'.repeat(36), encoding: 'ucs2', segments: 2, perSegment: 67 },
    {
      name: 'a surrogate pair that would straddle two parts moves to the next',
      text: `${'Ж'.repeat(66)}😀${'Ж'.repeat(66)}`,
      encoding: 'ucs2',
      segments: 3,
      perSegment: 67,
    },
  ];

  it.each(cases)('$name', ({ text, encoding, segments, perSegment }) => {
    expect(smsSegments(text)).toEqual({ encoding, segments, perSegment });
  });
});

describe('toGsm7Lookalikes', () => {
  it.each([
    ['“Don’t” – wait…', '"Don\'t" - wait...'],
    ['‘single’ — quotes', "'single' - quotes"],
    ['10\u00A0000 RWF', '10 000 RWF'],
    ['plain text stays', 'plain text stays'],
    ['Привет «мир» 😀', 'Привет «мир» 😀'],
  ])('%j → %j', (text, expected) => {
    expect(toGsm7Lookalikes(text)).toBe(expected);
  });
});

describe('GSM-7 properties', () => {
  const gsmChar = fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...GSM7_BASIC) }, fc.constantFrom(...GSM7_EXTENSION));
  const gsmText = fc.string({ unit: gsmChar, maxLength: 600, size: 'large' });
  const anyText = fc.string({ unit: fc.oneof(gsmChar, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 400, size: 'large' });
  const extensionCount = (text: string) => [...text].filter((c) => GSM7_EXTENSION.includes(c)).length;

  it('counts one septet per character and two per extension character', () => {
    fc.assert(
      fc.property(gsmText, (text) => {
        expect(isGsm7(text)).toBe(true);
        expect(gsm7Length(text)).toBe([...text].length + extensionCount(text));
      }),
    );
  });

  it('fills GSM-7 parts to 153 septets, or 152 when an escape pair does not fit', () => {
    fc.assert(
      fc.property(gsmText, (text) => {
        const septets = gsm7Length(text);
        const { encoding, segments, perSegment } = smsSegments(text);
        expect(encoding).toBe('gsm7');
        if (septets <= 160) {
          expect({ segments, perSegment }).toEqual({ segments: septets === 0 ? 0 : 1, perSegment: 160 });
        } else {
          expect(perSegment).toBe(153);
          expect(septets).toBeLessThanOrEqual(segments * 153);
          expect(septets).toBeGreaterThan((segments - 1) * 152);
          if (extensionCount(text) === 0) expect(segments).toBe(Math.ceil(septets / 153));
        }
      }),
    );
  });

  it('fills UCS-2 parts to 67 units, or 66 when a surrogate pair does not fit', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        fc.pre(!isGsm7(text));
        const { encoding, segments, perSegment } = smsSegments(text);
        expect(encoding).toBe('ucs2');
        if (text.length <= 70) {
          expect({ segments, perSegment }).toEqual({ segments: 1, perSegment: 70 });
        } else {
          expect(perSegment).toBe(67);
          expect(text.length).toBeLessThanOrEqual(segments * 67);
          expect(text.length).toBeGreaterThan((segments - 1) * 66);
          if (text.length === [...text].length) expect(segments).toBe(Math.ceil(text.length / 67));
        }
      }),
    );
  });

  it('makes GSM-7 text of GSM-7 characters and their look-alikes, and leaves GSM-7 text alone', () => {
    const lookalike = fc.constantFrom('\u2018', '\u2019', '\u201C', '\u201D', '\u2013', '\u2014', '\u2026', '\u00A0');
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(gsmChar, lookalike), maxLength: 300 }), gsmText, (mixed, gsm) => {
        expect(isGsm7(toGsm7Lookalikes(mixed))).toBe(true);
        expect(toGsm7Lookalikes(gsm)).toBe(gsm);
      }),
    );
  });
});
