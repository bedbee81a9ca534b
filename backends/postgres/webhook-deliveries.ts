import type { Db } from './db.js';
import type { OutboxType } from './outbox.js';
import type { WebhookEvent, WebhookTarget } from './webhook-post.js';

/** An event claimed for delivery, with where it goes (read in the claim, so both agree). */
export interface ClaimedEvent extends WebhookEvent {
  orgUuid: string;
  /** Attempts made before this one. */
  attempts: number;
  target: WebhookTarget;
}

export interface ClaimWindow {
  now: Date;
  /** Events created at or before this are past their deadline and not claimed. */
  deadline: Date;
  /** The claim's lease: the events are not due again until then. */
  leaseUntil: Date;
  limit: number;
}

interface ClaimedRow {
  id: string;
  org_uuid: string;
  type: OutboxType;
  data: unknown;
  created_on: Date;
  attempts: number;
  webhook_url: string;
  webhook_secret: string | null;
}

/**
 * Claims up to `limit` due events of orgs that have a webhook URL, earliest due first, and moves
 * their `next_attempt_at` to `leaseUntil` in the same statement. Rows another dispatcher is
 * claiming at that moment are skipped (`for update skip locked`), and once its claim commits they
 * are no longer due: two live dispatchers never claim the same event. A dispatcher that dies
 * holding a claim just lets the lease run out, and the event is due again. Only events the
 * FeedSequencer has numbered are claimed: a webhook carries the same id as the feed.
 *
 * The due events are found org by org (`outbox_to_deliver`), so the events of orgs without a URL
 * are never read; each org gives at most `limit`, which is all the overall `limit` can need.
 *
 * @example const events = await claimDueEvents(sql, { now, deadline, leaseUntil, limit: 8 });
 */
export async function claimDueEvents(db: Db, window: ClaimWindow): Promise<ClaimedEvent[]> {
  const { now, deadline, leaseUntil, limit } = window;
  const rows = await db<ClaimedRow[]>`
    with due as (
      select c.id, c.next_attempt_at, g.webhook_url, g.webhook_secret
      from orgs g
      cross join lateral (
        select o.id, o.next_attempt_at from outbox o
        where o.org_uuid = g.uuid and o.delivered_on is null and o.failed_on is null and o.seq is not null
          and o.next_attempt_at <= ${now} and o.created_on > ${deadline}
        order by o.next_attempt_at, o.id
        limit ${limit}
        for update of o skip locked
      ) c
      where g.webhook_url <> ''
      order by c.next_attempt_at, c.id
      limit ${limit}
    ), claimed as (
      update outbox o set next_attempt_at = ${leaseUntil}
      from due
      where o.id = due.id
      returning o.id, o.seq, o.org_uuid, o.type, o.data, o.created_on, o.attempts, due.next_attempt_at as due_at, due.webhook_url, due.webhook_secret
    )
    select seq::text as id, org_uuid, type, data, created_on, attempts, webhook_url, webhook_secret
    from claimed
    order by due_at, claimed.id`;
  return rows.map((r) => ({
    id: r.id,
    orgUuid: r.org_uuid,
    type: r.type,
    data: r.data,
    createdOn: r.created_on,
    attempts: r.attempts,
    target: { url: r.webhook_url, secret: r.webhook_secret },
  }));
}

/** An event given up because it came due after its deadline. */
export interface ExpiredEvent {
  orgUuid: string;
  /** 0 when it was never tried: its org had no webhook URL until after the deadline. */
  attempts: number;
}

/** `last_error` of an event given up before any attempt. */
const NEVER_ATTEMPTED = 'not attempted before its delivery deadline';

/**
 * Gives up (sets `failed_on`) up to `limit` due events of orgs with a webhook URL that were
 * created at or before `deadline`. Events are given up at their last failed attempt as a rule
 * (see webhook-retry.ts); these are the rest: a claim whose lease ran out past the deadline
 * (its dispatcher died), a retry that came due while no dispatcher ran, and the history of an
 * org that set its webhook URL after a day or more of using only the feed.
 *
 * @example const expired = await giveUpExpiredEvents(sql, { now, deadline, limit: 1000 });
 */
export async function giveUpExpiredEvents(db: Db, window: Omit<ClaimWindow, 'leaseUntil'>): Promise<ExpiredEvent[]> {
  const { now, deadline, limit } = window;
  const rows = await db<{ org_uuid: string; attempts: number }[]>`
    with expired as (
      select c.id
      from orgs g
      cross join lateral (
        select o.id from outbox o
        where o.org_uuid = g.uuid and o.delivered_on is null and o.failed_on is null
          and o.next_attempt_at <= ${now} and o.created_on <= ${deadline}
        order by o.next_attempt_at, o.id
        limit ${limit}
        for update of o skip locked
      ) c
      where g.webhook_url <> ''
      limit ${limit}
    )
    update outbox o set failed_on = ${now}, last_error = coalesce(o.last_error, ${NEVER_ATTEMPTED})
    from expired
    where o.id = expired.id
    returning o.org_uuid, o.attempts`;
  return rows.map((r) => ({ orgUuid: r.org_uuid, attempts: r.attempts }));
}

/**
 * Records an acknowledged attempt.
 *
 * @example await recordDelivered(sql, event, new Date());
 */
export async function recordDelivered(db: Db, event: Pick<ClaimedEvent, 'orgUuid' | 'id'>, now: Date): Promise<void> {
  await db`
    update outbox set delivered_on = ${now}, attempts = attempts + 1, last_error = null
    where org_uuid = ${event.orgUuid} and seq = ${event.id}::bigint and delivered_on is null`;
}

/**
 * Records a failed attempt: due again at `retryAt`, or given up (`failed_on`) when it is null.
 *
 * @example await recordFailedAttempt(sql, event, now, 'HTTP 500: oops', webhookRetryAt(1, event.createdOn, now, maxAgeMs));
 */
export async function recordFailedAttempt(
  db: Db,
  event: Pick<ClaimedEvent, 'orgUuid' | 'id'>,
  now: Date,
  error: string,
  retryAt: Date | null,
): Promise<void> {
  await db`
    update outbox set
      attempts = attempts + 1,
      last_error = ${error},
      next_attempt_at = ${retryAt ?? now},
      failed_on = ${retryAt ? null : now}
    where org_uuid = ${event.orgUuid} and seq = ${event.id}::bigint and delivered_on is null`;
}
