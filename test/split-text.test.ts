import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitText } from '../src/split-text.js';

const codePoints = (text: string) => [...text].length;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const clustersOf = (text: string) => [...graphemes.segment(text)].map((s) => s.segment);
const hasLoneSurrogate = (text: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

const FAMILY = '👨\u200D👩\u200D👧'; // man ZWJ woman ZWJ girl: 5 code points, one grapheme
const FLAG_RW = '🇷🇼'; // two regional indicators
const EMOJI = ['😀', '👍🏽', FAMILY, FLAG_RW, '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}', '❤️', '1️⃣'];

describe('splitText examples', () => {
  const cases: { name: string; text: string; max: number; parts: string[] }[] = [
    { name: 'empty text', text: '', max: 10, parts: [] },
    { name: 'whitespace-only text', text: ' \n\t\u00A0 ', max: 2, parts: [] },
    { name: 'text within the limit, unchanged', text: '  hi there  ', max: 160, parts: ['  hi there  '] },
    { name: 'text exactly at the limit', text: 'abcde', max: 5, parts: ['abcde'] },
    { name: 'breaks at whitespace, dropping it', text: 'Hello there, how are you?', max: 12, parts: ['Hello there,', 'how are you?'] },
    { name: 'breaks at the last whitespace in the window', text: 'aaaa bbbb cccc', max: 10, parts: ['aaaa bbbb', 'cccc'] },
    { name: 'drops a run of whitespace at a break', text: 'aaaa   bbbb', max: 6, parts: ['aaaa', 'bbbb'] },
    { name: 'breaks at a newline', text: 'line one\nline two', max: 10, parts: ['line one', 'line two'] },
    { name: 'breaks at CRLF', text: 'line one\r\nline two', max: 10, parts: ['line one', 'line two'] },
    { name: 'trims the ends of a text that is split', text: '  aaaa bbbb  ', max: 6, parts: ['aaaa', 'bbbb'] },
    { name: 'breaks after punctuation when there is no whitespace', text: 'one,two,three,four', max: 10, parts: ['one,two,', 'three,four'] },
    { name: 'never breaks after an opening bracket', text: 'abcdef(ghijkl', max: 8, parts: ['abcdef(g', 'hijkl'] },
    { name: 'ignores whitespace in the first half of the window', text: 'a bcdefghijkl', max: 8, parts: ['a bcdefg', 'hijkl'] },
    { name: 'hard breaks a long word', text: 'abcdefghij', max: 4, parts: ['abcd', 'efgh', 'ij'] },
    { name: 'one code point per part', text: 'abc', max: 1, parts: ['a', 'b', 'c'] },
    { name: 'counts code points, not UTF-16 units', text: '😀😀😀', max: 2, parts: ['😀😀', '😀'] },
    { name: 'keeps a flag whole', text: `ab${FLAG_RW}`, max: 3, parts: ['ab', FLAG_RW] },
    { name: 'keeps a ZWJ sequence whole', text: `hi${FAMILY}`, max: 6, parts: ['hi', FAMILY] },
    { name: 'keeps a combining accent with its letter', text: 'cafe\u0301', max: 4, parts: ['caf', 'e\u0301'] },
    { name: 'cuts a cluster longer than the limit at code points', text: FAMILY, max: 2, parts: ['👨\u200D', '👩\u200D', '👧'] },
    // Long texts are segmented a window at a time; clusters across a window's edge stay whole.
    { name: 'keeps flags whole in a long text', text: `x${FLAG_RW.repeat(600)}`, max: 3, parts: [`x${FLAG_RW}`, ...Array<string>(599).fill(FLAG_RW)] },
    { name: 'keeps accents whole in a long text', text: `x${'e\u0301'.repeat(2000)}`, max: 2, parts: ['x', ...Array<string>(2000).fill('e\u0301')] },
    { name: 'keeps ZWJ sequences whole in a long text', text: `x${FAMILY.repeat(400)}`, max: 5, parts: ['x', ...Array<string>(400).fill(FAMILY)] },
    {
      name: 'splits a long SMS into words',
      text: 'Your appointment at the Kigali health centre is confirmed for Monday 14 March at 09:30. Please bring your card and arrive ten minutes early. Reply STOP to opt out.',
      max: 70,
      parts: [
        'Your appointment at the Kigali health centre is confirmed for Monday',
        '14 March at 09:30. Please bring your card and arrive ten minutes',
        'early. Reply STOP to opt out.',
      ],
    },
  ];

  it.each(cases)('$name', ({ text, max, parts }) => {
    expect(splitText(text, max)).toEqual(parts);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects maxLength %s', (max) => {
    expect(() => splitText('hello', max)).toThrow(RangeError);
  });
});

describe('splitText properties', () => {
  const piece = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: fc.constantFrom(' ', ' ', '  ', '\n', '\t', '\r\n', '\u00A0', '\u3000') },
    { weight: 1, arbitrary: fc.constantFrom('.', ',', '!', '?', ';', '(', ')', '—', '«', '»', '。') },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.constantFrom(...EMOJI) },
  );
  const text = fc.string({ unit: piece, maxLength: 400, size: 'large' });
  // Small limits half the time, so that most texts are split into several parts.
  const maxLength = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 200 }));
  const runs = { numRuns: 300 };

  it('gives parts of 1..maxLength code points, with no whitespace at their ends when split', () => {
    fc.assert(
      fc.property(text, maxLength, (text, max) => {
        const parts = splitText(text, max);
        for (const part of parts) {
          expect(codePoints(part)).toBeGreaterThanOrEqual(1);
          expect(codePoints(part)).toBeLessThanOrEqual(max);
          if (parts.length > 1) expect(part.trim()).toBe(part);
        }
      }),
      runs,
    );
  });

  it('gives no parts exactly when the text is blank, and the text itself when it fits', () => {
    fc.assert(
      fc.property(text, maxLength, (text, max) => {
        const parts = splitText(text, max);
        if (text.trim() === '') expect(parts).toEqual([]);
        else if (codePoints(text) <= max) expect(parts).toEqual([text]);
        else expect(parts.length).toBeGreaterThanOrEqual(1);
      }),
      runs,
    );
  });

  it('keeps every non-whitespace character, in order, dropping only whitespace between parts', () => {
    fc.assert(
      fc.property(text, maxLength, (text, max) => {
        const parts = splitText(text, max);
        let cursor = 0;
        for (const part of parts) {
          const at = text.indexOf(part, cursor);
          expect(at).toBeGreaterThanOrEqual(cursor);
          expect(text.slice(cursor, at).trim()).toBe('');
          cursor = at + part.length;
        }
        expect(text.slice(cursor).trim()).toBe('');
        expect(parts.join('').replace(/\s/gu, '')).toBe(text.replace(/\s/gu, ''));
      }),
      runs,
    );
  });

  it('never splits a surrogate pair', () => {
    fc.assert(
      fc.property(text, maxLength, (text, max) => {
        for (const part of splitText(text, max)) expect(hasLoneSurrogate(part)).toBe(false);
      }),
      runs,
    );
  });

  it('never splits a grapheme cluster that fits in a part', () => {
    const longText = fc.string({ unit: piece, maxLength: 1500, size: 'max' });
    fc.assert(
      fc.property(fc.oneof(text, longText), maxLength, (text, max) => {
        const clusters = clustersOf(text);
        // A cluster such as a space + combining accent loses its space to trimming; leave those out.
        fc.pre(clusters.every((c) => codePoints(c) <= max && (c.trim() === '' || c.trim() === c)));
        const boundaries = new Set<number>();
        let offset = 0;
        for (const cluster of clusters) boundaries.add((offset += cluster.length));
        boundaries.add(0);

        let cursor = 0;
        for (const part of splitText(text, max)) {
          const at = text.indexOf(part, cursor);
          expect(boundaries.has(at)).toBe(true);
          expect(boundaries.has(at + part.length)).toBe(true);
          cursor = at + part.length;
        }
      }),
      runs,
    );
  });
});
