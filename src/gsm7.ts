/**
 * SMS encodings (GSM 03.38 / 3GPP TS 23.038) and how many parts a text takes.
 *
 * A text made only of GSM-7 characters is sent in 7-bit septets: 160 in a single SMS, 153 in each
 * part of a concatenated one (the user data header takes the rest). Characters from the extension
 * table cost two septets (an escape, then the character), and the pair is never split across parts.
 * Any other character makes the whole text UCS-2: 70 UTF-16 code units in a single SMS, 67 per
 * part, and a surrogate pair (an emoji, say) is never split across parts.
 */

export type SmsEncoding = 'gsm7' | 'ucs2';

export interface SmsSegments {
  encoding: SmsEncoding;
  /** How many SMS the text is sent as; 0 for empty text. */
  segments: number;
  /** How many septets (GSM-7) or UTF-16 code units (UCS-2) each of those SMS can hold. */
  perSegment: number;
}

// The default alphabet in septet order, 16 to a row; 0x1B is the escape to the extension table.
const ESCAPE = '\x1b';
const BASIC_TABLE =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞ' + ESCAPE + 'ÆæßÉ' +
  ' !"#¤%&\'()*+,-./' +
  '0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmno' +
  'pqrstuvwxyzäöñüà';
// The extension table's characters: form feed, ^ { } \ [ ~ ] | €.
const EXTENSION_TABLE = '\f^{}\\[~]|€';

const SEPTETS = new Map<string, 1 | 2>([
  ...[...BASIC_TABLE].filter((char) => char !== ESCAPE).map((char) => [char, 1] as const),
  ...[...EXTENSION_TABLE].map((char) => [char, 2] as const),
]);

const GSM7_SINGLE = 160;
const GSM7_PER_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PER_PART = 67;

/**
 * Whether every character of `text` is in the GSM 03.38 default alphabet or its extension table.
 *
 * @example isGsm7('Price: 5€ [net]') // true
 * @example isGsm7('Ça coûte 5€') // false ('û' is not GSM-7)
 */
export function isGsm7(text: string): boolean {
  for (const char of text) {
    if (!SEPTETS.has(char)) return false;
  }
  return true;
}

/**
 * How many septets `text` takes in GSM-7: one per character, two for extension characters.
 * Throws a RangeError naming the first character that GSM-7 cannot encode.
 *
 * @example gsm7Length('5€') // 3
 */
export function gsm7Length(text: string): number {
  let septets = 0;
  for (const char of text) septets += septetsOf(char);
  return septets;
}

/**
 * The encoding a text is sent in and how many SMS it takes.
 *
 * @example smsSegments('a'.repeat(161)) // { encoding: 'gsm7', segments: 2, perSegment: 153 }
 * @example smsSegments('Привет') // { encoding: 'ucs2', segments: 1, perSegment: 70 }
 */
export function smsSegments(text: string): SmsSegments {
  if (isGsm7(text)) {
    const costs = [...text].map(septetsOf);
    return segmentsFor('gsm7', costs, GSM7_SINGLE, GSM7_PER_PART);
  }
  const costs = [...text].map((char) => char.length);
  return segmentsFor('ucs2', costs, UCS2_SINGLE, UCS2_PER_PART);
}

const LOOKALIKES: Readonly<Record<string, string>> = {
  '\u2018': "'", // ‘
  '\u2019': "'", // ’
  '\u201C': '"', // “
  '\u201D': '"', // ”
  '\u2013': '-', // –
  '\u2014': '-', // —
  '\u2026': '...', // …
  '\u00A0': ' ', // non-breaking space
};
const LOOKALIKE_PATTERN = new RegExp(`[${Object.keys(LOOKALIKES).join('')}]`, 'g');

/**
 * Replaces the common characters that have a GSM-7 look-alike (smart quotes, en and em dashes,
 * the ellipsis and the non-breaking space), so that text typed on a phone or pasted from a word
 * processor can go as GSM-7; every other character is left as it is.
 *
 * @example toGsm7Lookalikes('“Don’t” – wait…') // '"Don\'t" - wait...'
 */
export function toGsm7Lookalikes(text: string): string {
  return text.replace(LOOKALIKE_PATTERN, (char) => LOOKALIKES[char] ?? char);
}

function septetsOf(char: string): 1 | 2 {
  const septets = SEPTETS.get(char);
  if (septets === undefined) {
    const codePoint = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new RangeError(`"${char}" (U+${codePoint}) is not a GSM-7 character`);
  }
  return septets;
}

/** Fills parts in order, moving a character that would not fit whole to the next part. */
function segmentsFor(encoding: SmsEncoding, costs: number[], single: number, perPart: number): SmsSegments {
  const total = costs.reduce((sum, cost) => sum + cost, 0);
  if (total <= single) return { encoding, segments: total === 0 ? 0 : 1, perSegment: single };
  let segments = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > perPart) {
      segments++;
      used = 0;
    }
    used += cost;
  }
  return { encoding, segments, perSegment: perPart };
}
