import { parseAttachment, type Attachment } from './msg.js';

/**
 * For providers that carry only text (SMS gateways): the message's text parts with each
 * attachment's URL added on a line of its own after the text. A URL joins the last part while
 * that part stays within `maxLength` characters, else it starts a new part. The text is split
 * before the URLs are added, so a URL is never cut in two: one longer than `maxLength` is sent
 * whole as a part of its own, and the provider's own concatenation carries it.
 *
 * @example withAttachmentUrls(['See this'], ['image/jpeg:https://x.io/a.jpg'], 160)
 * // ['See this\nhttps://x.io/a.jpg']
 */
export function withAttachmentUrls(parts: readonly string[], attachments: readonly Attachment[], maxLength: number): string[] {
  const out = [...parts];
  for (const attachment of attachments) {
    const { url } = parseAttachment(attachment);
    const last = out.at(-1);
    if (last !== undefined && codePoints(last) + 1 + codePoints(url) <= maxLength) out[out.length - 1] = `${last}\n${url}`;
    else out.push(url);
  }
  return out;
}

function codePoints(text: string): number {
  return [...text].length;
}
