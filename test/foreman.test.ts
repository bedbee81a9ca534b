import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/backend.js';
import { MemoryQueue } from '../backends/memory/queue.js';
import type { Channel } from '../src/channel.js';
import { Foreman } from '../src/foreman.js';
import type { ChannelHandler, SendResult } from '../src/handler.js';
import type { MsgOut, Priority } from '../src/msg.js';
import { ConnectionFailed, Throttled } from '../src/send-error.js';
import { Sender } from '../src/sender.js';
import { testLogger } from './harness/logger.js';
import { Metrics } from '../src/metrics.js';

interface SendRecord {
  channel: string;
  text: string;
  at: number;
}

/** A handler whose sends take `delayMs` and whose outcome each test scripts. */
function scriptedHandler(opts: { delayMs?: number; outcome?: (msg: MsgOut, attempt: number) => SendResult | Error }) {
  const sent: SendRecord[] = [];
  const attempts = new Map<string, number>();
  const handler: ChannelHandler = {
    type: 'fk',
    name: 'Fake',
    schemes: ['tel'],
    maxLength: 160,
    redact: () => [],
    checkConfig: () => {},
    routes: [],
    async send(msg) {
      const attempt = (attempts.get(msg.uuid) ?? 0) + 1;
      attempts.set(msg.uuid, attempt);
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 1));
      const result = opts.outcome?.(msg, attempt) ?? { externalIds: [`ext-${msg.uuid}`] };
      if (result instanceof Error) throw result;
      sent.push({ channel: msg.channelUuid, text: msg.text, at: Date.now() });
      return result;
    },
  };
  return { handler, sent, attempts };
}

function setup(handler: ChannelHandler, opts: { maxWorkers: number; backend?: MemoryBackend; metrics?: Metrics }) {
  const backend = opts.backend ?? new MemoryBackend();
  const sender = new Sender({
    backend,
    handlers: new Map([[handler.type, handler]]),
    baseUrl: 'http://localhost',
    logger: testLogger,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
  const foreman = new Foreman({ backend, sender, maxWorkers: opts.maxWorkers, logger: testLogger, idleWaitMs: 20 });
  backend.onOutgoingQueued(() => foreman.wake());
  return { backend, foreman };
}

async function queueMsgs(backend: MemoryBackend, channel: Channel, count: number, priority: Priority, prefix: string) {
  const msgs = [];
  for (let i = 0; i < count; i++) {
    msgs.push(await backend.queueOutgoing({ channel, urn: `tel:+25078838${String(i).padStart(4, '0')}`, text: `${prefix}${i}`, priority }));
  }
  return msgs;
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function statuses(backend: MemoryBackend): string[] {
  return [...backend.outgoing.values()].map((m) => m.status);
}

describe('Foreman and Senders', () => {
  it('serves a channel with one reply while another has a large bulk backlog', async () => {
    const { handler, sent } = scriptedHandler({ delayMs: 5 });
    const { backend, foreman } = setup(handler, { maxWorkers: 4 });
    const big = backend.addChannel({ type: 'fk' });
    const small = backend.addChannel({ type: 'fk' });
    await queueMsgs(backend, big, 300, 'bulk', 'big');
    foreman.start();
    await until(() => sent.length >= 20);
    await queueMsgs(backend, small, 3, 'high', 'small');
    const queuedAt = sent.length;
    await until(() => sent.filter((s) => s.channel === small.uuid).length === 3);
    await foreman.stop();
    const lastSmall = sent.findLastIndex((s) => s.channel === small.uuid);
    // The small channel waits only for the big channel's sends already in flight (4) and the
    // few that fill slots freed while its own three are out, not for the 280-message backlog.
    expect(lastSmall - queuedAt).toBeLessThanOrEqual(3 + 4 + 4);
    expect(sent.filter((s) => s.channel === big.uuid).length).toBeLessThan(300);
  });

  it('never exceeds a channel TPS limit in any wall-clock second', async () => {
    // Record the second each pop was charged to, read from the queue's own clock.
    let clock = 0;
    const queue = new MemoryQueue({ now: () => (clock = Date.now()) });
    const popSeconds: number[] = [];
    const pop = queue.pop.bind(queue);
    queue.pop = async () => {
      const popped = await pop();
      if (popped) popSeconds.push(Math.floor(clock / 1000));
      return popped;
    };
    const { handler, sent } = scriptedHandler({ delayMs: 1 });
    const { backend, foreman } = setup(handler, { maxWorkers: 32, backend: new MemoryBackend({ queue }) });
    const limited = backend.addChannel({ type: 'fk', tps: 5 });
    await queueMsgs(backend, limited, 14, 'high', 'm');
    foreman.start();
    await until(() => sent.length === 14);
    await foreman.stop();
    const perSecond = new Map<number, number>();
    for (const second of popSeconds) perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    expect(popSeconds).toHaveLength(14);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(5);
    // 14 sends at 5 a second need at least three seconds.
    expect(perSecond.size).toBeGreaterThanOrEqual(3);
  });

  it('a throttled send pauses the channel and keeps the order of messages', async () => {
    let throttledOnce = false;
    const { handler, sent } = scriptedHandler({
      outcome: (msg) => {
        if (msg.text === 'm3' && !throttledOnce) {
          throttledOnce = true;
          return new Throttled('slow down', 150);
        }
        return { externalIds: ['x'] };
      },
    });
    const { backend, foreman } = setup(handler, { maxWorkers: 1 });
    const channel = backend.addChannel({ type: 'fk' });
    await queueMsgs(backend, channel, 8, 'high', 'm');
    foreman.start();
    await until(() => sent.length === 8);
    await foreman.stop();
    expect(sent.map((s) => s.text)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    const m3 = [...backend.outgoing.values()].find((m) => m.text === 'm3')!;
    expect(m3.status).toBe('wired');
    expect(m3.errorCount).toBe(0);
    // The pause held: m3 went out at least the provider's retry-after after m2.
    expect(sent[3]!.at - sent[2]!.at).toBeGreaterThanOrEqual(140);
  });

  it('retries an errored message with back-off, then fails it after the last retry', async () => {
    const { handler, attempts } = scriptedHandler({ outcome: () => new ConnectionFailed('provider answered HTTP 503') });
    const backend = new MemoryBackend({ retry: { maxRetries: 3, baseDelayMs: 20, factor: 2 } });
    const metrics = new Metrics();
    const { foreman } = setup(handler, { maxWorkers: 2, backend, metrics });
    const channel = backend.addChannel({ type: 'fk' });
    const [msg] = await queueMsgs(backend, channel, 1, 'high', 'm');
    foreman.start();
    await until(() => backend.outgoing.get(msg!.uuid)!.status === 'failed');
    await foreman.stop();
    const stored = backend.outgoing.get(msg!.uuid)!;
    expect(attempts.get(msg!.uuid)).toBe(4);
    expect(stored.errorCount).toBe(4);
    expect(stored.history.map((h) => h.status)).toEqual(['queued', 'errored', 'errored', 'errored', 'failed']);
    expect(stored.failedReason).toContain('connection_failed');
    expect(await backend.queue.size()).toBe(0);
    // Three errored attempts, then the last one failed the message.
    const exposed = (await metrics.render()).body;
    expect(exposed).toContain('herald_messages_errored_total{channel_type="fk"} 3');
    expect(exposed).toContain('herald_messages_failed_total{channel_type="fk"} 1');
  });

  it('graceful shutdown finishes in-flight sends and leaves the rest queued, losing nothing', async () => {
    const { handler, sent } = scriptedHandler({ delayMs: 30 });
    const { backend, foreman } = setup(handler, { maxWorkers: 8 });
    const channel = backend.addChannel({ type: 'fk' });
    await queueMsgs(backend, channel, 60, 'bulk', 'm');
    foreman.start();
    await until(() => sent.length >= 10);
    await foreman.stop();

    const done = statuses(backend).filter((s) => s === 'wired').length;
    const waiting = statuses(backend).filter((s) => s === 'queued').length;
    expect(done).toBe(sent.length);
    expect(done + waiting).toBe(60);
    expect([...backend.outgoing.values()].some((m) => m.claimed)).toBe(false);
    expect(await backend.queue.size()).toBe(waiting);

    // A new Foreman on the same store sends the rest, each exactly once.
    const again = setup(handler, { maxWorkers: 8, backend });
    again.foreman.start();
    await until(() => sent.length === 60);
    await again.foreman.stop();
    expect(new Set(sent.map((s) => s.text)).size).toBe(60);
    expect(statuses(backend).every((s) => s === 'wired')).toBe(true);
  });

  it('fails a message whose channel config cannot be read, instead of crashing the sender', async () => {
    const { handler, sent } = scriptedHandler({});
    const broken: ChannelHandler = {
      ...handler,
      redact: (ch) => [ch.config.requireString('api_key')],
    };
    const { backend, foreman } = setup(broken, { maxWorkers: 2 });
    const channel = backend.addChannel({ type: 'fk' });
    foreman.start();
    await queueMsgs(backend, channel, 1, 'high', 'm');
    await until(() => statuses(backend)[0] === 'failed');
    await foreman.stop();
    const msg = [...backend.outgoing.values()][0]!;
    expect(msg.failedReason).toBe('channel_config');
    expect(sent).toHaveLength(0);
    expect(backend.logs.at(-1)!.errors[0]).toEqual({ code: 'channel_config', message: 'channel config "api_key" is required' });
    expect(await backend.queue.size()).toBe(0);
  });

  it('fails a message to a stopped contact without calling the provider', async () => {
    const { handler, sent } = scriptedHandler({});
    const { backend, foreman } = setup(handler, { maxWorkers: 2 });
    const channel = backend.addChannel({ type: 'fk' });
    const [msg] = await queueMsgs(backend, channel, 1, 'high', 'm');
    await backend.stopContact(channel.orgUuid, msg!.urn, 'test');
    foreman.start();
    await until(() => backend.outgoing.get(msg!.uuid)!.status === 'failed');
    await foreman.stop();
    expect(sent).toEqual([]);
    expect(backend.outgoing.get(msg!.uuid)!.failedReason).toBe('contact_stopped');
  });

  it('puts back a rate-limited send whose second is nearly over instead of sending it late', async () => {
    const { handler, sent } = scriptedHandler({});
    const backend = new MemoryBackend();
    let now = Date.UTC(2025, 0, 6, 9, 0, 0, 500);
    const sender = new Sender({ backend, handlers: new Map([[handler.type, handler]]), baseUrl: 'http://localhost', logger: testLogger, now: () => now });
    const channel = backend.addChannel({ type: 'fk', tps: 5 });
    const [msg] = await queueMsgs(backend, channel, 1, 'high', 'm');
    const job = (await backend.popNextOutgoing())!;

    // Popped at 09:00:00.500 and started at .985: it would reach the provider in the next second.
    now = Date.UTC(2025, 0, 6, 9, 0, 0, 985);
    expect(await sender.send({ ...job, poppedAt: Date.UTC(2025, 0, 6, 9, 0, 0, 500) })).toMatchObject({ kind: 'throttled' });
    expect(sent).toEqual([]);
    expect(backend.outgoing.get(msg!.uuid)!.status).toBe('queued');

    // Popped again and started within its second: sent.
    const again = (await backend.popNextOutgoing())!;
    expect(again.msg.uuid).toBe(msg!.uuid);
    now = Date.UTC(2025, 0, 6, 9, 0, 1, 100);
    expect(await sender.send({ ...again, poppedAt: Date.UTC(2025, 0, 6, 9, 0, 1, 20) })).toMatchObject({ kind: 'sent' });
    expect(sent).toHaveLength(1);
  });
});
