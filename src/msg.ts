import type { Urn } from './urn.js';

/** Where a message is in its life. Statuses only move forward (see `status-rules.ts`). */
export type MsgStatus = 'pending' | 'queued' | 'wired' | 'sent' | 'delivered' | 'read' | 'errored' | 'failed';

/** Every status, in the order a message usually goes through them. */
export const MSG_STATUSES: readonly MsgStatus[] = ['pending', 'queued', 'wired', 'sent', 'delivered', 'read', 'errored', 'failed'];

/** `high` for replies and single sends, `bulk` for broadcasts; high always drains first. */
export type Priority = 'high' | 'bulk';

export type Direction = 'in' | 'out';

/**
 * An attachment is `content-type:url`, e.g. `image/jpeg:https://example.com/a.jpg`.
 * A handler that cannot tell the type uses a bare type family such as `image`.
 */
export type Attachment = string;

/** Splits `image/jpeg:https://…` into its content type and URL. */
export function parseAttachment(attachment: Attachment): { contentType: string; url: string } {
  const match = /^([a-z]+(?:\/[a-z0-9.+-]+)?):(.+)$/i.exec(attachment);
  if (!match || !/^(https?:|geo:)/i.test(match[2]!)) return { contentType: '', url: attachment };
  return { contentType: match[1]!.toLowerCase(), url: match[2]! };
}

/** A message received from a provider, stored with the uuid Herald gave it. */
export interface MsgIn {
  uuid: string;
  channelUuid: string;
  urn: Urn;
  text: string;
  attachments: Attachment[];
  externalId?: string;
  contactName?: string;
  receivedOn: Date;
}

/** A message queued by an upstream app, as a Sender sees it. */
export interface MsgOut {
  uuid: string;
  channelUuid: string;
  urn: Urn;
  text: string;
  attachments: Attachment[];
  quickReplies: string[];
  priority: Priority;
  status: MsgStatus;
  externalId?: string;
  errorCount: number;
  contactName?: string;
  metadata?: Record<string, unknown>;
  sendAt?: Date;
  createdOn: Date;
}

/**
 * Text as it can be stored: without NUL characters, which Postgres text and JSON cannot hold
 * (a provider that sends one would otherwise have its request refused forever).
 *
 * @example storableText('hi\u0000there') // 'hithere'
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}
