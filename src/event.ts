import type { Urn } from './urn.js';

export type ChannelEventType = 'new_conversation' | 'stop_contact' | 'referral' | 'welcome_message';

/** Something a person did on a channel that is not a message: started a chat, blocked the bot. */
export interface ChannelEvent {
  uuid: string;
  channelUuid: string;
  type: ChannelEventType;
  urn: Urn;
  contactName?: string;
  extra?: Record<string, string>;
  receivedOn: Date;
}
