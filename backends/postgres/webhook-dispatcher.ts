/**
 * The WebhookDispatcher delivers outbox events to their org's webhook URL (CONTRACT §3
 * "Events"): `POST` of `{"id", "type", "created_on", "data"}` signed in `X-Herald-Signature`
 * (src/webhook-signature.ts). Its state is the outbox row itself, so it survives restarts and is
 * shared by every Herald process on the database.
 *
 * - Who gets events: orgs with a webhook URL. Events of the others are left alone (no attempt,
 *   no error) for the pull feed. An org that sets a URL gets the events of the last day
 *   (`maxAgeMs`); older ones are past their deadline and given up without an attempt
 *   (`attempts` 0): replaying months of history at a new endpoint helps nobody, and the feed
 *   still has it.
 * - Unsigned when there is no secret: an org with a URL but no secret gets its events without an
 *   `X-Herald-Signature` header. A signature made with an empty key would look like proof while
 *   anyone can forge it; no header says plainly that the request is unsigned, and a receiver that
 *   insists on signatures refuses it, which is retried until the org sets a secret.
 * - Claims: a pass claims as many due events as it has free request slots (`concurrency`,
 *   default 8, across all orgs), and in the same statement moves their `next_attempt_at` past
 *   the request's timeout plus a minute to record its outcome (a lease). Two live dispatchers never claim the same event; a
 *   dispatcher that dies mid-request leaves an event that is due again when its lease ends.
 *   Claiming no more than the free slots keeps every claimed event's request starting at once,
 *   well within its lease.
 * - Order: earliest due first. A new event is due when written, so first attempts go in the order
 *   events were created; a retry takes its turn when its back-off ends. Ordering strictly by id
 *   instead would make each claim read every event a failing endpoint has in back-off.
 * - Outcomes: any 2xx acknowledges (`delivered_on`). Anything else, a network error or the
 *   timeout (default 10 s) is a failed attempt: `attempts` and `last_error` are recorded and the
 *   event is due again after a back-off (webhook-retry.ts), or given up (`failed_on`) when that
 *   would be more than `maxAgeMs` (default 24 h) after its `created_on`. Events that come due
 *   past their deadline some other way (a lease or a retry that ended while no dispatcher ran)
 *   are given up at the next pass.
 * - At least once, not exactly once: an endpoint that answered but whose answer this process
 *   could not record (database down, process killed) gets the event again after the lease.
 *   Receivers deduplicate by `id`.
 * - Polling: every `pollMs` (default 1 s) while idle. While work keeps coming due it does not
 *   sleep: a pass that filled every free slot is followed by another as soon as a slot frees.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type postgres from 'postgres';
import type { Logger } from 'pino';
import {
  claimDueEvents,
  giveUpExpiredEvents,
  recordDelivered,
  recordFailedAttempt,
  type ClaimedEvent,
  type ExpiredEvent,
} from './webhook-deliveries.js';
import { postWebhook } from './webhook-post.js';
import { webhookRetryAt } from './webhook-retry.js';

export interface WebhookDispatcherOptions {
  sql: postgres.Sql;
  logger?: Logger;
  /** Requests in flight at once, across all orgs; default 8. */
  concurrency?: number;
  /** How long an idle dispatcher waits before looking for due events again; default 1000 ms. */
  pollMs?: number;
  /** A request not answered by then is a failed attempt; default 10 000 ms. */
  timeoutMs?: number;
  /** An event not acknowledged this long after its `created_on` is given up; default 24 h. */
  maxAgeMs?: number;
  fetch?: typeof fetch;
  now?: () => Date;
  /** Told of each acknowledged event. */
  onDelivered?: (orgUuid: string) => void;
  /**
   * Told of each failed attempt, `finalFailure` when the event is given up with it, and of each
   * event given up past its deadline after attempts (always final).
   */
  onFailed?: (orgUuid: string, finalFailure: boolean) => void;
}

/** How long a claim outlives its request's timeout: time to record the outcome. */
const LEASE_MARGIN_MS = 60_000;
/** Expired events given up per statement. */
const EXPIRE_BATCH = 1_000;

interface ClaimResult {
  /** One promise per claimed event, true when it was acknowledged. */
  deliveries: Promise<boolean>[];
  /** The claim took all it could: more events may be due already. */
  moreDue: boolean;
}

export class WebhookDispatcher {
  private readonly sql: postgres.Sql;
  private readonly logger: Logger | undefined;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private readonly maxAgeMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => Date;
  private readonly onDelivered: ((orgUuid: string) => void) | undefined;
  private readonly onFailed: ((orgUuid: string, finalFailure: boolean) => void) | undefined;
  private readonly limit: LimitFunction;
  private readonly inFlight = new Set<Promise<boolean>>();
  /** Claims run one after another, so two never count the same free slots. */
  private claims: Promise<unknown> = Promise.resolve();
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** The last pass filled every slot: a delivery that ends wakes the loop for the next one. */
  private waitingForSlot = false;

  /**
   * @example
   * const dispatcher = new WebhookDispatcher({ sql, logger, onFailed: (org, final) => metrics.webhookFailed(org, final) });
   * dispatcher.start();
   * // on shutdown, before sql.end():
   * await dispatcher.stop();
   */
  constructor(opts: WebhookDispatcherOptions) {
    this.sql = opts.sql;
    this.logger = opts.logger;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.pollMs = opts.pollMs ?? 1_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxAgeMs = opts.maxAgeMs ?? 24 * 60 * 60_000;
    this.fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.now = opts.now ?? (() => new Date());
    this.onDelivered = opts.onDelivered;
    this.onFailed = opts.onFailed;
    this.limit = pLimit(this.concurrency);
  }

  /** Starts polling; a no-op when already started. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops polling, then waits for every request in flight and the recording of its outcome. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Delivers every event due now, waits for the outcomes, and answers how many were acknowledged.
   * Events that fail are due again after their back-off, not within this call.
   *
   * @example await insertOutbox(sql, [event]); expect(await dispatcher.deliverDue()).toBe(1);
   */
  async deliverDue(): Promise<number> {
    const deliveries: Promise<boolean>[] = [];
    for (;;) {
      const claim = await this.claim();
      deliveries.push(...claim.deliveries);
      if (!claim.moreDue) break;
      if (this.freeSlots() === 0) await Promise.race(this.inFlight);
    }
    return (await Promise.all(deliveries)).filter(Boolean).length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let moreDue = false;
      try {
        moreDue = (await this.claim()).moreDue;
      } catch (err) {
        this.logger?.error({ err }, 'could not claim webhook events');
      }
      if (!this.running) break;
      this.waitingForSlot = moreDue;
      if (moreDue && this.freeSlots() > 0) continue;
      await this.idle();
    }
  }

  /** Waits `pollMs`, or less when stopped or (after a full pass) when a slot frees. */
  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeUp?.(), this.pollMs);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  private freeSlots(): number {
    return this.concurrency - this.limit.activeCount - this.limit.pendingCount;
  }

  private claim(): Promise<ClaimResult> {
    const next = this.claims.then(() => this.claimNow());
    this.claims = next.catch(() => {});
    return next;
  }

  /** Gives up what is past its deadline, then claims due events for the free slots and starts them. */
  private async claimNow(): Promise<ClaimResult> {
    const now = this.now();
    const deadline = new Date(now.getTime() - this.maxAgeMs);
    const expired = await giveUpExpiredEvents(this.sql, { now, deadline, limit: EXPIRE_BATCH });
    this.reportExpired(expired);
    const free = this.freeSlots();
    if (free === 0) return { deliveries: [], moreDue: true };
    const leaseUntil = new Date(now.getTime() + this.timeoutMs + LEASE_MARGIN_MS);
    const events = await claimDueEvents(this.sql, { now, deadline, leaseUntil, limit: free });
    const deliveries = events.map((event) =>
      this.track(
        this.limit(() => this.deliver(event)).catch((err: unknown) => {
          this.logger?.error({ err, event: event.id }, 'webhook delivery failed unexpectedly');
          return false;
        }),
      ),
    );
    return { deliveries, moreDue: expired.length === EXPIRE_BATCH || events.length === free };
  }

  private track(delivery: Promise<boolean>): Promise<boolean> {
    this.inFlight.add(delivery);
    void delivery.finally(() => {
      this.inFlight.delete(delivery);
      if (this.waitingForSlot) this.wakeUp?.();
    });
    return delivery;
  }

  /** One attempt, its outcome recorded; answers whether it was acknowledged. */
  private async deliver(event: ClaimedEvent): Promise<boolean> {
    const failure = await postWebhook(event.target, event, { fetch: this.fetch, timeoutMs: this.timeoutMs, now: this.now() });
    const now = this.now();
    const retryAt = failure ? webhookRetryAt(event.attempts + 1, event.createdOn, now, this.maxAgeMs) : null;
    try {
      if (failure) await recordFailedAttempt(this.sql, event, now, failure.message, retryAt);
      else await recordDelivered(this.sql, event, now);
    } catch (err) {
      this.logger?.error({ err, event: event.id }, 'webhook outcome not recorded; the event is due again when its lease ends');
      return false;
    }
    if (!failure) {
      this.onDelivered?.(event.orgUuid);
      return true;
    }
    const log = { event: event.id, org: event.orgUuid, code: failure.code, error: failure.message, attempts: event.attempts + 1 };
    if (retryAt) this.logger?.debug({ ...log, retryAt }, 'webhook attempt failed; will retry');
    else this.logger?.warn(log, 'webhook event given up');
    this.onFailed?.(event.orgUuid, !retryAt);
    return false;
  }

  private reportExpired(expired: readonly ExpiredEvent[]): void {
    if (expired.length === 0) return;
    const attempted = expired.filter((e) => e.attempts > 0);
    this.logger?.warn({ count: expired.length, attempted: attempted.length }, 'webhook events past their deadline given up');
    for (const e of attempted) this.onFailed?.(e.orgUuid, true);
  }
}
