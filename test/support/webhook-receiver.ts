import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAll } from './read-all.js';

/** An event as Herald posts it to a webhook (CONTRACT §3 "Events"). */
export interface WebhookEventBody {
  id: string;
  type: string;
  created_on: string;
  data: Record<string, any>;
}

/** One request the receiver got, and how it answered. */
export interface WebhookDelivery {
  /** The body exactly as received: what `X-Herald-Signature` signs. */
  rawBody: string;
  event: WebhookEventBody;
  /** The `X-Herald-Signature` header, when there was one. */
  signature: string | undefined;
  contentType: string | undefined;
  /** The status the receiver answered with. */
  status: number;
  /** When it arrived (ms since the epoch). */
  at: number;
}

export interface WebhookAnswer {
  status: number;
  body?: string;
}

export interface WebhookReceiver {
  url: string;
  deliveries: WebhookDelivery[];
  /** How to answer a request; by default 200. Replace it to make the receiver refuse events. */
  answer: (event: WebhookEventBody) => WebhookAnswer;
  /** The deliveries of events whose type is `type` and whose data matches `where`. */
  deliveriesOf(type: string, where?: (data: Record<string, any>) => boolean): WebhookDelivery[];
  close(): Promise<void>;
}

/**
 * An upstream app's webhook endpoint on 127.0.0.1: records every request Herald posts to it with
 * its raw body and signature, and answers as `answer` says.
 *
 * @example const receiver = await startWebhookReceiver(); // PATCH /api/v1/org { webhook_url: receiver.url }
 */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: WebhookDelivery[] = [];
  const receiver: Omit<WebhookReceiver, 'url' | 'close'> = {
    deliveries,
    answer: () => ({ status: 200 }),
    deliveriesOf(type, where = () => true) {
      return deliveries.filter((d) => d.event.type === type && where(d.event.data));
    },
  };
  const server: Server = createServer(async (req, res) => {
    const rawBody = await readAll(req);
    const event = JSON.parse(rawBody) as WebhookEventBody;
    const { status, body } = receiver.answer(event);
    deliveries.push({
      rawBody,
      event,
      signature: header(req, 'x-herald-signature'),
      contentType: header(req, 'content-type'),
      status,
      at: Date.now(),
    });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/herald-events`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
