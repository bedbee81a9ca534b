import { createHmac, randomBytes } from 'node:crypto';

/**
 * OAuth 1.0a request signing with HMAC-SHA1 (RFC 5849 §3.4), which X's v1.1 API requires of
 * every call made on behalf of an account. Pure functions: the caller gives the nonce and the
 * timestamp, so a signature can be checked against X's worked example.
 * https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature
 */

/** The app's consumer key and secret, and the account's access token and secret. */
export interface OAuthCredentials {
  consumerKey: string;
  consumerSecret: string;
  token: string;
  tokenSecret: string;
}

export interface OAuthRequest {
  method: string;
  /** The full URL; its query parameters are signed. */
  url: string;
  /** The fields of a form-encoded body, which are signed too. A JSON body is not. */
  bodyParams?: Iterable<readonly [string, string]>;
}

/**
 * Percent-encodes as RFC 3986 does: everything but `A-Z a-z 0-9 - . _ ~`, in UTF-8.
 *
 * @example percentEncode('Ladies + Gentlemen!') // 'Ladies%20%2B%20Gentlemen%21'
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The string that is signed: the method, the URL without its query (scheme and host lowercased,
 * default port dropped), and every query, body and `oauth_*` parameter encoded and sorted.
 *
 * @example signatureBaseString('GET', 'https://api.x.com/1.1/a.json?b=1', [['oauth_nonce', 'n']])
 * // 'GET&https%3A%2F%2Fapi.x.com%2F1.1%2Fa.json&b%3D1%26oauth_nonce%3Dn'
 */
export function signatureBaseString(method: string, url: string, params: Iterable<readonly [string, string]>): string {
  const parsed = new URL(url);
  const encoded = [...parsed.searchParams, ...params].map(([key, value]) => [percentEncode(key), percentEncode(value)] as const);
  encoded.sort(([aKey, aValue], [bKey, bValue]) => compare(aKey, bKey) || compare(aValue, bValue));
  const paramString = encoded.map(([key, value]) => `${key}=${value}`).join('&');
  const baseUrl = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  return [method.toUpperCase(), percentEncode(baseUrl), percentEncode(paramString)].join('&');
}

/**
 * The HMAC-SHA1 of a base string keyed by `consumer secret&token secret`, in base64.
 *
 * @example hmacSha1Signature(baseString, consumerSecret, tokenSecret) // 'hCtSmYh+iHYCEqBWrE7C7hYmtUk='
 */
export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
  const key = `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString, 'utf8').digest('base64');
}

/**
 * The `Authorization` header of a signed request: `OAuth ` and the `oauth_*` parameters with
 * the signature, each encoded and quoted, in name order.
 *
 * @example
 * oauthAuthorization({ method: 'POST', url }, credentials, { nonce: newNonce(), timestamp: Math.floor(Date.now() / 1000) })
 * // 'OAuth oauth_consumer_key="…", oauth_nonce="…", oauth_signature="…", …'
 */
export function oauthAuthorization(
  request: OAuthRequest,
  credentials: OAuthCredentials,
  once: { nonce: string; timestamp: number },
): string {
  const oauthParams: [string, string][] = [
    ['oauth_consumer_key', credentials.consumerKey],
    ['oauth_nonce', once.nonce],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', String(once.timestamp)],
    ['oauth_token', credentials.token],
    ['oauth_version', '1.0'],
  ];
  const baseString = signatureBaseString(request.method, request.url, [...oauthParams, ...(request.bodyParams ?? [])]);
  const signature = hmacSha1Signature(baseString, credentials.consumerSecret, credentials.tokenSecret);
  const fields = [...oauthParams, ['oauth_signature', signature] as [string, string]].sort(([a], [b]) => compare(a, b));
  return `OAuth ${fields.map(([key, value]) => `${percentEncode(key)}="${percentEncode(value)}"`).join(', ')}`;
}

/** A fresh nonce: 32 random hex characters, unique to one request. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
