import type { MsgStatus } from './msg.js';

// How far along each status is. A report only applies if it moves the message forward.
const RANK: Record<MsgStatus, number> = {
  pending: 0,
  queued: 1,
  errored: 2,
  wired: 3,
  sent: 4,
  delivered: 5,
  read: 6,
  failed: 6,
};

const FINAL: ReadonlySet<MsgStatus> = new Set(['failed', 'read']);

/**
 * Whether a message in status `from` may move to `to`: statuses only move forward, a late
 * `sent` never overwrites `delivered`, and `failed`/`delivered`/`read` are not undone except
 * `delivered → read`. `errored` may be retried back to `queued` (and err again), and a provider
 * may still report `failed` for a message it had accepted.
 *
 * @example canTransition('delivered', 'sent') // false
 */
export function canTransition(from: MsgStatus, to: MsgStatus): boolean {
  // Each failed attempt is its own change, so the history shows every retry.
  if (from === 'errored' && to === 'errored') return true;
  if (from === to) return false;
  if (FINAL.has(from)) return false;
  if (from === 'delivered') return to === 'read';
  if (to === 'failed') return true;
  if (from === 'errored' && to === 'queued') return true;
  return RANK[to] > RANK[from];
}

/**
 * Whether a provider's status report moves a message: as `canTransition`, except that `errored`
 * reported for a message already `errored` changes nothing. Only the Sender's own failed attempts
 * are each recorded; a report repeated by the provider, or replayed from the spool, is not.
 *
 * @example reportApplies('errored', 'errored') // false
 */
export function reportApplies(from: MsgStatus, to: MsgStatus): boolean {
  return !(from === 'errored' && to === 'errored') && canTransition(from, to);
}
