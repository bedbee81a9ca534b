import { describe, expect, it } from 'vitest';
import { Metrics, type ChannelQueueStats } from '../src/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function samples(body: string): Sample[] {
  return body
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** The value of the one sample with this name and these labels, undefined when absent. */
function value(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(body).filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

function names(body: string): Set<string> {
  return new Set(samples(body).map((s) => s.name));
}

const CHANNEL_A = '0191e180-7d60-7000-8000-00000000000a';
const CHANNEL_B = '0191e180-7d60-7000-8000-00000000000b';

describe('Metrics', () => {
  it('counts callbacks by channel type, outcome and status class', async () => {
    const metrics = new Metrics();
    metrics.callbackHandled('tg', 'accepted', 200);
    metrics.callbackHandled('tg', 'accepted', 200);
    metrics.callbackHandled('tg', 'rejected', 403);
    metrics.callbackHandled('kn', 'error', 503);

    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(value(body, 'herald_callbacks_total', { channel_type: 'tg', outcome: 'accepted', status_class: '2xx' })).toBe(2);
    expect(value(body, 'herald_callbacks_total', { channel_type: 'tg', outcome: 'rejected', status_class: '4xx' })).toBe(1);
    expect(value(body, 'herald_callbacks_total', { channel_type: 'kn', outcome: 'error', status_class: '5xx' })).toBe(1);
    expect(value(body, 'herald_callbacks_total', { channel_type: 'kn', outcome: 'accepted', status_class: '2xx' })).toBeUndefined();
  });

  it('counts messages received, sent (wired or sent), errored, failed and throttled per channel type', async () => {
    const metrics = new Metrics();
    metrics.msgsReceived('tg', 3);
    metrics.msgsReceived('tg', 1);
    metrics.sendFinished('tg', 'wired', 0.2);
    metrics.sendFinished('tg', 'sent', 0.3);
    metrics.sendFinished('tg', 'errored', 1.5);
    metrics.sendFinished('kn', 'failed', 0.01);
    metrics.sendFinished('kn', 'throttled', 0.02);

    const { body } = await metrics.render();
    expect(value(body, 'herald_messages_received_total', { channel_type: 'tg' })).toBe(4);
    expect(value(body, 'herald_messages_sent_total', { channel_type: 'tg' })).toBe(2);
    expect(value(body, 'herald_messages_errored_total', { channel_type: 'tg' })).toBe(1);
    expect(value(body, 'herald_messages_failed_total', { channel_type: 'kn' })).toBe(1);
    expect(value(body, 'herald_messages_throttled_total', { channel_type: 'kn' })).toBe(1);
    expect(value(body, 'herald_messages_sent_total', { channel_type: 'kn' })).toBeUndefined();
  });

  it('records send latency in buckets from 5 ms to 30 s', async () => {
    const metrics = new Metrics();
    metrics.sendFinished('tg', 'wired', 0.004);
    metrics.sendFinished('tg', 'wired', 0.2);
    metrics.sendFinished('tg', 'errored', 12);

    const { body } = await metrics.render();
    const bucket = (le: string) => value(body, 'herald_send_duration_seconds_bucket', { channel_type: 'tg', le });
    expect(bucket('0.005')).toBe(1);
    expect(bucket('0.25')).toBe(2);
    expect(bucket('10')).toBe(2);
    expect(bucket('30')).toBe(3);
    expect(bucket('+Inf')).toBe(3);
    expect(value(body, 'herald_send_duration_seconds_count', { channel_type: 'tg' })).toBe(3);
    expect(value(body, 'herald_send_duration_seconds_sum', { channel_type: 'tg' })).toBeCloseTo(12.204);
  });

  it('counts webhook deliveries and failures, final or not, starting at zero', async () => {
    const metrics = new Metrics();
    const before = (await metrics.render()).body;
    expect(value(before, 'herald_webhook_deliveries_total')).toBe(0);
    expect(value(before, 'herald_webhook_failures_total', { final: 'true' })).toBe(0);

    metrics.webhookDelivered();
    metrics.webhookDelivered();
    metrics.webhookFailed(false);
    metrics.webhookFailed(false);
    metrics.webhookFailed(true);

    const { body } = await metrics.render();
    expect(value(body, 'herald_webhook_deliveries_total')).toBe(2);
    expect(value(body, 'herald_webhook_failures_total', { final: 'false' })).toBe(2);
    expect(value(body, 'herald_webhook_failures_total', { final: 'true' })).toBe(1);
  });

  it('reads queue and spool gauges from their sources at each scrape', async () => {
    let stats: ChannelQueueStats[] = [
      { channelUuid: CHANNEL_A, channelType: 'tg', depth: 12, oldestAgeSeconds: 3.5 },
      { channelUuid: CHANNEL_B, channelType: 'kn', depth: 1, oldestAgeSeconds: 0 },
    ];
    let files = 4;
    const metrics = new Metrics({ queueStats: async () => stats, spoolFiles: () => files });

    const first = (await metrics.render()).body;
    expect(value(first, 'herald_queue_depth', { channel_uuid: CHANNEL_A, channel_type: 'tg' })).toBe(12);
    expect(value(first, 'herald_queue_oldest_age_seconds', { channel_uuid: CHANNEL_A, channel_type: 'tg' })).toBe(3.5);
    expect(value(first, 'herald_queue_depth', { channel_uuid: CHANNEL_B, channel_type: 'kn' })).toBe(1);
    expect(value(first, 'herald_spool_files')).toBe(4);

    stats = [{ channelUuid: CHANNEL_A, channelType: 'tg', depth: 2, oldestAgeSeconds: 1 }];
    files = 0;
    const second = (await metrics.render()).body;
    expect(value(second, 'herald_queue_depth', { channel_uuid: CHANNEL_A, channel_type: 'tg' })).toBe(2);
    expect(value(second, 'herald_queue_depth', { channel_uuid: CHANNEL_B, channel_type: 'kn' })).toBeUndefined();
    expect(value(second, 'herald_queue_oldest_age_seconds', { channel_uuid: CHANNEL_B, channel_type: 'kn' })).toBeUndefined();
    expect(value(second, 'herald_spool_files')).toBe(0);
  });

  it('leaves out the gauges of a failing source, counts the failure and still renders the rest', async () => {
    let queueDown = false;
    let spoolDown = false;
    const metrics = new Metrics({
      queueStats: async () => {
        if (queueDown) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return [{ channelUuid: CHANNEL_A, channelType: 'tg', depth: 5, oldestAgeSeconds: 60 }];
      },
      spoolFiles: () => {
        if (spoolDown) throw new Error('EACCES');
        return 7;
      },
    });
    metrics.msgsReceived('tg', 1);
    expect(value((await metrics.render()).body, 'herald_metrics_source_errors_total', { source: 'queue_stats' })).toBe(0);

    queueDown = true;
    spoolDown = true;
    const { body } = await metrics.render();
    expect(value(body, 'herald_queue_depth', { channel_uuid: CHANNEL_A, channel_type: 'tg' })).toBeUndefined();
    expect(value(body, 'herald_spool_files')).toBeUndefined();
    expect(value(body, 'herald_metrics_source_errors_total', { source: 'queue_stats' })).toBe(1);
    expect(value(body, 'herald_metrics_source_errors_total', { source: 'spool_files' })).toBe(1);
    expect(value(body, 'herald_messages_received_total', { channel_type: 'tg' })).toBe(1);

    queueDown = false;
    spoolDown = false;
    const recovered = (await metrics.render()).body;
    expect(value(recovered, 'herald_queue_depth', { channel_uuid: CHANNEL_A, channel_type: 'tg' })).toBe(5);
    expect(value(recovered, 'herald_spool_files')).toBe(7);
  });

  it('gives up on a source slower than the timeout', async () => {
    const metrics = new Metrics({ queueStats: () => new Promise(() => {}), sourceTimeoutMs: 50 });
    const { body } = await metrics.render();
    expect(names(body).has('herald_queue_depth')).toBe(false);
    expect(value(body, 'herald_metrics_source_errors_total', { source: 'queue_stats' })).toBe(1);
  });

  it('exposes no queue or spool gauge without a source', async () => {
    const { body } = await new Metrics().render();
    expect(body).not.toContain('herald_queue_depth');
    expect(body).not.toContain('herald_spool_files');
  });

  it('exposes the default process metrics under the herald_ prefix', async () => {
    const all = names((await new Metrics().render()).body);
    expect(all.has('herald_process_cpu_seconds_total')).toBe(true);
    expect(all.has('herald_nodejs_heap_size_used_bytes')).toBe(true);
  });

  it('keeps the values of two instances apart', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.msgsReceived('tg', 5);
    b.msgsReceived('tg', 1);
    a.webhookDelivered();

    const bodyA = (await a.render()).body;
    const bodyB = (await b.render()).body;
    expect(value(bodyA, 'herald_messages_received_total', { channel_type: 'tg' })).toBe(5);
    expect(value(bodyB, 'herald_messages_received_total', { channel_type: 'tg' })).toBe(1);
    expect(value(bodyB, 'herald_webhook_deliveries_total')).toBe(0);
  });
});
