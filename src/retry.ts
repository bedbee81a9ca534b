/**
 * When an `errored` message is tried again. Defaults: three retries, 5 s × 6ⁿ apart
 * (5 s, 30 s, 3 min), each with ±10 % jitter so a provider outage does not end in a stampede.
 */
export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  factor: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 3, baseDelayMs: 5_000, factor: 6 };

/**
 * The delay before retry number `errorCount` (1 for the first), or null when the message has
 * used its retries and must fail.
 *
 * @example retryDelayMs(1, DEFAULT_RETRY_POLICY) // ≈ 5000
 */
export function retryDelayMs(errorCount: number, policy: RetryPolicy, random = Math.random): number | null {
  if (errorCount > policy.maxRetries) return null;
  const base = policy.baseDelayMs * policy.factor ** (errorCount - 1);
  return Math.round(base * (0.9 + 0.2 * random()));
}
