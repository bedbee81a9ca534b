import { describe, expect, it } from 'vitest';
import { MemoryBackend, type StoredMsgOut } from '../../backends/memory/backend.js';
import { MemoryQueue } from '../../backends/memory/queue.js';
import type { Popped, Queue } from '../../src/queue.js';
import type { SendOutcome } from '../../src/backend.js';
import type { Channel } from '../../src/channel.js';
import type { ChannelLog } from '../../src/channel-log.js';
import type { ChannelHandler } from '../../src/handler.js';
import type { MsgStatus, Priority } from '../../src/msg.js';
import { Sender } from '../../src/sender.js';
import type { Urn } from '../../src/urn.js';
import { addChannels, type ChannelSpec } from './channels.js';
import { TEST_BASE_URL, expectNoSecretsInLogs } from './incoming.js';
import { testLogger } from './logger.js';
import { requestDifferences, type Exchange, type FakeProvider } from './provider.js';

/** The message every outgoing case starts from; a case overrides what it needs. */
export const DEFAULT_OUTGOING_UUID = '0191e180-7d60-7000-8000-000000000001';

/** One outgoing message, the provider's replies, and what Herald must record. */
export interface OutgoingCase {
  label: string;
  channel?: string;
  msg: {
    uuid?: string;
    urn?: Urn;
    text?: string;
    attachments?: string[];
    quickReplies?: string[];
    priority?: Priority;
    metadata?: Record<string, unknown>;
  };
  /** Each request the handler must make, in order, with the provider's reply to it. */
  exchanges: Exchange[];
  /** The message's status afterwards; `queued` for a throttled send put back in the queue. */
  status: MsgStatus;
  externalIds?: string[];
  /** `failed_reason` of a failed message, or the reason of the last `errored` change. */
  reason?: string;
  /** The contact ends up stopped. Default false. */
  contactStopped?: boolean;
  /** Error codes the channel log must carry. */
  logErrors?: string[];
  check?: (result: { outcome: SendOutcome; msg: StoredMsgOut; log: ChannelLog; backend: MemoryBackend }) => void;
}

export interface OutgoingTable {
  handler: ChannelHandler;
  channels: Record<string, ChannelSpec>;
  provider: FakeProvider;
  cases: OutgoingCase[];
}

/**
 * Runs a handler's table of outgoing cases: queues the message on the mock backend, sends it
 * through the real Sender against the fake provider, and checks the exact requests made, the
 * status recorded, the external ids, and that no secret reached the channel log.
 */
export function runOutgoingCases(table: OutgoingTable): void {
  describe(`${table.handler.name} (${table.handler.type}) outgoing`, () => {
    for (const c of table.cases) it(c.label, () => runOutgoingCase(table, c));
  });
}

async function runOutgoingCase(table: OutgoingTable, c: OutgoingCase): Promise<void> {
  const queue = new TokenTrackingQueue(new MemoryQueue());
  const backend = new MemoryBackend({ queue });
  const channels = addChannels(backend, table.handler.type, table.channels);
  const channel: Channel | undefined = channels.get(c.channel ?? 'default');
  if (!channel) throw new Error(`case "${c.label}" names channel "${c.channel}", not in the table`);
  const queued = await backend.queueOutgoing({
    uuid: c.msg.uuid ?? DEFAULT_OUTGOING_UUID,
    channel,
    urn: c.msg.urn ?? 'tel:+250788383383',
    text: c.msg.text ?? 'Simple message ☺',
    attachments: c.msg.attachments ?? [],
    quickReplies: c.msg.quickReplies ?? [],
    priority: c.msg.priority ?? 'high',
    ...(c.msg.metadata ? { metadata: c.msg.metadata } : {}),
  });
  const job = await backend.popNextOutgoing();
  if (!job) throw new Error('the queued message was not popped');

  table.provider.expect(c.exchanges.map((e) => e.reply));
  const sender = new Sender({
    backend,
    handlers: new Map([[table.handler.type, table.handler]]),
    baseUrl: TEST_BASE_URL,
    logger: testLogger,
  });
  const outcome = await sender.send(job);

  expect(table.provider.mismatches, 'requests to unexpected URLs').toEqual([]);
  expect(table.provider.requests.length, 'number of provider requests').toBe(c.exchanges.length);
  c.exchanges.forEach((exchange, i) => {
    const actual = table.provider.requests[i];
    if (exchange.request && actual) expect(requestDifferences(exchange.request, actual), `request ${i + 1}`).toEqual([]);
  });

  const msg = backend.outgoing.get(queued.uuid)!;
  expect(msg.status, `status (outcome ${JSON.stringify(outcome)})`).toBe(c.status);
  if (c.externalIds) expect(msg.externalIds).toEqual(c.externalIds);
  if (c.reason !== undefined) {
    const lastReason = [...msg.history].reverse().find((h) => h.reason)?.reason;
    expect(msg.failedReason ?? lastReason).toBe(c.reason);
  }
  expect(await backend.isContactStopped(channel.orgUuid, msg.urn), 'contact stopped').toBe(c.contactStopped ?? false);
  expect(backend.events.map((e) => e.type), 'channel events').toEqual(c.contactStopped ? ['stop_contact'] : []);
  expect([...queue.unfinished], 'queue tokens left unfinished').toEqual([]);
  if (c.status === 'queued') expect(await backend.queue.size(channel.uuid), 'put back in the queue').toBe(1);

  const log = backend.logs.at(-1)!;
  expect(log.type).toBe('msg_send');
  expect(log.msgUuid).toBe(queued.uuid);
  expect(log.httpLogs.length, 'one log entry per provider request').toBe(c.exchanges.length);
  if (c.logErrors) expect(log.errors.map((e) => e.code)).toEqual(c.logErrors);
  expectNoSecretsInLogs(backend, table.handler, [...channels.values()]);

  c.check?.({ outcome, msg, log, backend });
}

/** A queue that remembers which popped tokens were never completed or put back. */
class TokenTrackingQueue implements Queue {
  readonly unfinished = new Set<string>();

  constructor(private readonly inner: Queue) {}

  push(...args: Parameters<Queue['push']>): Promise<void> {
    return this.inner.push(...args);
  }
  async pop(): Promise<Popped | null> {
    const popped = await this.inner.pop();
    if (popped) this.unfinished.add(popped.token);
    return popped;
  }
  async popMany(max: number): Promise<Popped[]> {
    const popped = await this.inner.popMany(max);
    for (const { token } of popped) this.unfinished.add(token);
    return popped;
  }
  complete(token: string): Promise<void> {
    this.unfinished.delete(token);
    return this.inner.complete(token);
  }
  putBack(token: string, until: Date): Promise<void> {
    this.unfinished.delete(token);
    return this.inner.putBack(token, until);
  }
  pause(channel: string, until: Date): Promise<void> {
    return this.inner.pause(channel, until);
  }
  size(channel?: string): Promise<number> {
    return this.inner.size(channel);
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
  markSent(id: string, ttlMs: number): Promise<void> {
    return this.inner.markSent(id, ttlMs);
  }
  wasSent(id: string): Promise<boolean> {
    return this.inner.wasSent(id);
  }
  rememberExternalIds(channel: string, externalIds: readonly string[], id: string, ttlMs: number): Promise<void> {
    return this.inner.rememberExternalIds(channel, externalIds, id, ttlMs);
  }
  findExternalIds(channel: string, externalIds: readonly string[]): Promise<Array<string | null>> {
    return this.inner.findExternalIds(channel, externalIds);
  }
}
