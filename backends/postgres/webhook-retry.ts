/** The first retry's delay; each later one doubles it. */
const FIRST_DELAY_MS = 10_000;
const MAX_DELAY_MS = 60 * 60_000;

/**
 * When a webhook event is tried again after its `attempts`-th failed attempt (1 for the first):
 * 10 s, doubling each time up to 1 h, each delay drawn between three quarters of that and all
 * of it, so the events an endpoint outage piled up do not all come back in the same second.
 * Null when that time would fall after the event's deadline (`createdOn` + `maxAgeMs`): the
 * event is then given up at this attempt rather than left waiting for one it will not get.
 *
 * @example webhookRetryAt(1, createdOn, now, 86_400_000) // 7.5 to 10 s after now, or null past the deadline
 */
export function webhookRetryAt(attempts: number, createdOn: Date, now: Date, maxAgeMs: number, random = Math.random): Date | null {
  const delay = Math.min(FIRST_DELAY_MS * 2 ** Math.max(0, attempts - 1), MAX_DELAY_MS) * (0.75 + 0.25 * random());
  const at = now.getTime() + Math.round(delay);
  return at > createdOn.getTime() + maxAgeMs ? null : new Date(at);
}
