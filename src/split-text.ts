const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const SEGMENTER_WINDOW = 1024; // UTF-16 units

const WHITESPACE_ONLY = /^\s+$/u;
// Breaking after these keeps a sentence's or clause's end with it; never after an opening bracket.
const BREAK_AFTER = /^[\p{Po}\p{Pe}\p{Pf}\p{Pd}]/u;

/**
 * Splits a message's text into parts of at most `maxLength` characters, counted as Unicode code
 * points. A part ends at the last whitespace in the second half of its window (the whitespace is
 * dropped), else after the last punctuation there, else at `maxLength`. Emoji, flags and accented
 * letters are never cut in two unless one alone is longer than `maxLength`.
 * Empty or whitespace-only text gives no parts; text within the limit is returned unchanged.
 *
 * @example splitText('Hello there, how are you?', 12) // ['Hello there,', 'how are you?']
 */
export function splitText(text: string, maxLength: number): string[] {
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError(`maxLength must be a whole number of at least 1, got ${maxLength}`);
  }
  if (text.trim() === '') return [];
  if (codePointCount(text) <= maxLength) return [text];

  const units = breakableUnits(text.trim(), maxLength);
  const lengths = units.map(codePointCount);
  const minPartLength = Math.ceil(maxLength / 2);
  const parts: string[] = [];
  let start = 0;
  while (start < units.length) {
    while (WHITESPACE_ONLY.test(units[start]!)) start++;

    let end = start;
    let windowLength = 0;
    while (end < units.length && windowLength + lengths[end]! <= maxLength) windowLength += lengths[end++]!;
    if (end === units.length) {
      parts.push(units.slice(start).join('').trim());
      break;
    }

    const { partEnd, next } = chooseBreak(units, lengths, start, end, minPartLength);
    parts.push(units.slice(start, partEnd).join('').trim());
    start = next;
  }
  return parts;
}

/**
 * Where to end the part that may hold `units[start..end)`: before the last whitespace (which is
 * dropped) or after the last punctuation that leaves the part at least `minPartLength` long,
 * else at `end`.
 */
function chooseBreak(
  units: string[],
  lengths: number[],
  start: number,
  end: number,
  minPartLength: number,
): { partEnd: number; next: number } {
  let offset = 0;
  const offsets: number[] = [];
  for (let i = start; i <= end; i++) {
    offsets.push(offset);
    offset += lengths[i]!;
  }
  for (let i = end; i > start && offsets[i - start]! >= minPartLength; i--) {
    if (WHITESPACE_ONLY.test(units[i]!)) return { partEnd: i, next: i + 1 };
  }
  for (let i = end - 1; i >= start && offsets[i + 1 - start]! >= minPartLength; i--) {
    if (BREAK_AFTER.test(units[i]!)) return { partEnd: i + 1, next: i + 1 };
  }
  return { partEnd: end, next: end };
}

/** The text's grapheme clusters, with any cluster longer than `maxLength` cut into code points. */
function breakableUnits(text: string, maxLength: number): string[] {
  const units: string[] = [];
  for (const cluster of graphemeClusters(text)) {
    if (codePointCount(cluster) <= maxLength) units.push(cluster);
    else units.push(...cluster);
  }
  return units;
}

/**
 * Node 20's segmenter slows down sharply on long strings (80,000 characters take seconds), so it
 * is given a window at a time. The window's end may cut its last cluster short, so that cluster is
 * left for the next window, which starts at a true boundary. A window never ends inside a surrogate
 * pair: the segmenter decides each boundary from the code point after it.
 */
function* graphemeClusters(text: string): Generator<string> {
  let start = 0;
  let size = SEGMENTER_WINDOW;
  while (start < text.length) {
    let end = start + size;
    if (isHighSurrogate(text.charCodeAt(end - 1))) end++; // the segmenter must see whole code points
    const clusters = Array.from(graphemes.segment(text.slice(start, end)), ({ segment }) => segment);
    if (end >= text.length) {
      yield* clusters;
      return;
    }
    if (clusters.length < 2) {
      size *= 2;
      continue;
    }
    clusters.pop();
    for (const cluster of clusters) {
      yield cluster;
      start += cluster.length;
    }
    size = SEGMENTER_WINDOW;
  }
}

function isHighSurrogate(codeUnit: number): boolean {
  return codeUnit >= 0xd800 && codeUnit <= 0xdbff;
}

function codePointCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
