import type { MsgStatus } from './msg.js';

/**
 * A change of status reported by a provider (or decided by a Sender). The message is named by
 * its uuid when the provider echoes it back (External, Twilio, Kannel DLR URLs), otherwise by the
 * provider's external id.
 */
export interface StatusUpdate {
  channelUuid: string;
  msgUuid?: string;
  externalId?: string;
  status: MsgStatus;
  /** Why, for `errored` and `failed`: the provider's error code or words. */
  reason?: string;
  receivedOn: Date;
}
