import { createHmac } from 'node:crypto';
import { safeEqual } from './signature.js';

/**
 * The `X-Herald-Signature` header of a webhook request (CONTRACT §3 "Events"):
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The timestamp is signed
 * with the body, so a captured request cannot be replayed later with a fresh `t`.
 *
 * @example signWebhook('whsec', '{"id":"1"}', 1717000000) // 't=1717000000,v1=d69a2935…'
 */
export function signWebhook(secret: string, rawBody: string | Uint8Array, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmacHex(secret, unixSeconds, rawBody)}`;
}

export interface VerifyWebhookOptions {
  /** How far `t` may be from `now`, either way; default 300 s. */
  toleranceSeconds?: number;
  /** Default: the current time. */
  now?: Date;
}

/**
 * Checks a webhook request as its receiver should: the header parses, its timestamp is within
 * the tolerance of `now`, and one of its `v1` signatures (a header may carry several while a
 * secret is being rotated) matches the raw body as received, compared in constant time.
 *
 * @example
 * const raw = await request.text();
 * if (!verifyWebhookSignature(secret, raw, request.headers.get('x-herald-signature') ?? '')) return new Response(null, { status: 400 });
 */
export function verifyWebhookSignature(
  secret: string,
  rawBody: string | Uint8Array,
  header: string,
  opts: VerifyWebhookOptions = {},
): boolean {
  const parsed = parseSignatureHeader(header);
  if (!parsed) return false;
  const nowSeconds = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(nowSeconds - parsed.t) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = hmacHex(secret, parsed.t, rawBody);
  // Every candidate is compared, so the time taken does not tell which one matched.
  return parsed.v1.map((given) => safeEqual(given, expected)).includes(true);
}

function hmacHex(secret: string, unixSeconds: number, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${unixSeconds}.`, 'utf8').update(rawBody).digest('hex');
}

/** `t=…,v1=…[,v1=…]`, or null when there is no integer `t` or no `v1`; unknown keys are ignored. */
function parseSignatureHeader(header: string): { t: number; v1: string[] } | null {
  let t: number | null = null;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && value !== '') v1.push(value.toLowerCase());
  }
  return t === null || v1.length === 0 ? null : { t, v1 };
}
