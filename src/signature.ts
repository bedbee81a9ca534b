import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a secret or signature a caller sent with the one expected, in time that depends on
 * neither, so a forger cannot find it byte by byte. Both are hashed first: `timingSafeEqual`
 * needs equal lengths, and comparing lengths directly would tell the forger the secret's.
 *
 * @example safeEqual(request.headers.get('x-secret') ?? '', channelSecret) // true or false
 */
export function safeEqual(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
