/**
 * Herald's Prometheus metrics (CONTRACT §4), served by `GET /metrics`.
 *
 * Two kinds of series:
 * - Counters and the send-latency histogram are bumped as things happen, by whoever sees them:
 *   the server for callbacks and received messages, the Sender for send attempts, the webhook
 *   dispatcher for deliveries.
 * - Queue and spool gauges are read from their sources at scrape time, so a scrape shows the
 *   state now for the price of one query, instead of a gauge update on every message. Per-channel
 *   series are rebuilt on each scrape: a channel whose queue emptied drops out. A source that
 *   throws or takes longer than `sourceTimeoutMs` leaves its gauges out of that scrape (an absent
 *   series rather than a stale one that looks healthy) and counts in
 *   `herald_metrics_source_errors_total{source}`; the scrape itself still answers.
 *
 * Each instance owns its registry rather than prom-client's global one, so tests and several
 * instances in one process never share values.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How Herald answered a provider's callback. */
export type CallbackOutcome = 'accepted' | 'ignored' | 'rejected' | 'error';

/**
 * How a send attempt ended: `wired` or `sent` (the provider took it), `errored` (retried later),
 * `failed` (for good), `throttled` (back to the head of its queue while the channel pauses).
 */
export type AttemptResult = 'sent' | 'wired' | 'errored' | 'failed' | 'throttled';

/** The outgoing messages one channel has waiting. */
export interface ChannelQueueStats {
  channelUuid: string;
  channelType: string;
  depth: number;
  oldestAgeSeconds: number;
}

export interface MetricsOptions {
  /** Waiting outgoing messages per channel, e.g. `() => queueStats(sql)`. */
  queueStats?: () => Promise<ChannelQueueStats[]>;
  /** Files in the spool waiting to be replayed into the database. */
  spoolFiles?: () => Promise<number> | number;
  /** How long a scrape waits for a source before leaving its gauges out (default 5 s). */
  sourceTimeoutMs?: number;
}

type Source = 'queue_stats' | 'spool_files';

/** From 5 ms (a provider next door) to 30 s (the HTTP client's longest timeout). */
const SEND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  private readonly registry = new Registry();
  private readonly sourceTimeoutMs: number;
  private readonly queueStats: (() => Promise<ChannelQueueStats[]>) | undefined;
  private readonly spoolFiles: (() => Promise<number> | number) | undefined;

  private readonly callbacks: Counter<'channel_type' | 'outcome' | 'status_class'>;
  private readonly received: Counter<'channel_type'>;
  private readonly sent: Counter<'channel_type'>;
  private readonly errored: Counter<'channel_type'>;
  private readonly failed: Counter<'channel_type'>;
  private readonly throttled: Counter<'channel_type'>;
  private readonly sendDuration: Histogram<'channel_type'>;
  private readonly webhookDeliveries: Counter;
  private readonly webhookFailures: Counter<'final'>;
  private readonly sourceErrors: Counter<'source'>;
  private readonly queueDepth: Gauge<'channel_uuid' | 'channel_type'> | undefined;
  private readonly queueOldestAge: Gauge<'channel_uuid' | 'channel_type'> | undefined;
  private readonly spooled: Gauge | undefined;

  /**
   * Registers Herald's series and the default process metrics (`herald_process_*`,
   * `herald_nodejs_*`). A gauge whose source is not given is not exposed at all.
   *
   * @example const metrics = new Metrics({ queueStats: () => queueStats(sql), spoolFiles: () => spool.size().files });
   */
  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.sourceTimeoutMs = opts.sourceTimeoutMs ?? 5_000;
    this.queueStats = opts.queueStats;
    this.spoolFiles = opts.spoolFiles;
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });

    this.callbacks = new Counter({
      name: 'herald_callbacks_total',
      help: 'Provider callbacks answered, by channel type, outcome and HTTP status class.',
      labelNames: ['channel_type', 'outcome', 'status_class'],
      registers,
    });
    this.received = new Counter({
      name: 'herald_messages_received_total',
      help: 'Incoming messages accepted from providers.',
      labelNames: ['channel_type'],
      registers,
    });
    this.sent = new Counter({
      name: 'herald_messages_sent_total',
      help: 'Outgoing messages a provider took (wired or sent).',
      labelNames: ['channel_type'],
      registers,
    });
    this.errored = new Counter({
      name: 'herald_messages_errored_total',
      help: 'Send attempts that failed for now; the message is retried after a back-off.',
      labelNames: ['channel_type'],
      registers,
    });
    this.failed = new Counter({
      name: 'herald_messages_failed_total',
      help: 'Outgoing messages that failed for good.',
      labelNames: ['channel_type'],
      registers,
    });
    this.throttled = new Counter({
      name: 'herald_messages_throttled_total',
      help: 'Send attempts the provider throttled; the message waits at the head of its queue.',
      labelNames: ['channel_type'],
      registers,
    });
    this.sendDuration = new Histogram({
      name: 'herald_send_duration_seconds',
      help: "Duration of send attempts, the provider's HTTP calls included, whatever their result.",
      labelNames: ['channel_type'],
      buckets: SEND_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'herald_webhook_deliveries_total',
      help: 'Events delivered to upstream webhooks.',
      registers,
    });
    this.webhookFailures = new Counter({
      name: 'herald_webhook_failures_total',
      help: 'Webhook delivery attempts that failed; final="true" when the event is given up on.',
      labelNames: ['final'],
      registers,
    });
    this.webhookFailures.inc({ final: 'false' }, 0);
    this.webhookFailures.inc({ final: 'true' }, 0);
    this.sourceErrors = new Counter({
      name: 'herald_metrics_source_errors_total',
      help: 'Scrapes that left gauges out because their source failed or was too slow.',
      labelNames: ['source'],
      registers,
    });

    if (this.queueStats) {
      this.queueDepth = new Gauge({
        name: 'herald_queue_depth',
        help: 'Outgoing messages waiting to be sent (queued or errored), per channel.',
        labelNames: ['channel_uuid', 'channel_type'],
        registers,
      });
      this.queueOldestAge = new Gauge({
        name: 'herald_queue_oldest_age_seconds',
        help: 'How long the oldest waiting outgoing message has waited (since created, or since its send_at), per channel.',
        labelNames: ['channel_uuid', 'channel_type'],
        registers,
      });
      this.sourceErrors.inc({ source: 'queue_stats' }, 0);
    }
    if (this.spoolFiles) {
      this.spooled = new Gauge({
        name: 'herald_spool_files',
        help: 'Spool files waiting to be replayed into the database.',
        registers,
      });
      this.sourceErrors.inc({ source: 'spool_files' }, 0);
    }
  }

  /**
   * Counts a provider callback once it is answered.
   *
   * @example metrics.callbackHandled('tg', 'accepted', 200);
   */
  callbackHandled(channelType: string, outcome: CallbackOutcome, status: number): void {
    this.callbacks.inc({ channel_type: channelType, outcome, status_class: `${Math.floor(status / 100)}xx` });
  }

  /**
   * Counts incoming messages once they are stored (or spooled).
   *
   * @example metrics.msgsReceived('tg', 1);
   */
  msgsReceived(channelType: string, count: number): void {
    this.received.inc({ channel_type: channelType }, count);
  }

  /**
   * Counts a finished send attempt under its result and records how long it took.
   *
   * @example metrics.sendFinished('tg', 'wired', 0.182);
   */
  sendFinished(channelType: string, result: AttemptResult, seconds: number): void {
    const labels = { channel_type: channelType };
    this.counterFor(result).inc(labels);
    this.sendDuration.observe(labels, seconds);
  }

  /**
   * Counts an event delivered to an upstream webhook.
   *
   * @example metrics.webhookDelivered();
   */
  webhookDelivered(): void {
    this.webhookDeliveries.inc();
  }

  /**
   * Counts a failed webhook delivery attempt; `final` when the event will not be tried again.
   *
   * @example metrics.webhookFailed(false);
   */
  webhookFailed(final: boolean): void {
    this.webhookFailures.inc({ final: String(final) });
  }

  /**
   * The exposition for `GET /metrics`, gauges read from their sources now. Never rejects because
   * of a source.
   *
   * @example const { contentType, body } = await metrics.render(); return c.body(body, 200, { 'content-type': contentType });
   */
  async render(): Promise<{ contentType: string; body: string }> {
    const [stats, files] = await Promise.all([this.read('queue_stats', this.queueStats), this.read('spool_files', this.spoolFiles)]);
    // Set synchronously after both reads, so a concurrent scrape never sees half an update.
    this.queueDepth?.reset();
    this.queueOldestAge?.reset();
    for (const s of stats ?? []) {
      const labels = { channel_uuid: s.channelUuid, channel_type: s.channelType };
      this.queueDepth?.set(labels, s.depth);
      this.queueOldestAge?.set(labels, s.oldestAgeSeconds);
    }
    if (files === undefined) this.spooled?.remove();
    else this.spooled?.set(files);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private counterFor(result: AttemptResult): Counter<'channel_type'> {
    switch (result) {
      case 'sent':
      case 'wired':
        return this.sent;
      case 'errored':
        return this.errored;
      case 'failed':
        return this.failed;
      case 'throttled':
        return this.throttled;
    }
  }

  /** A source's answer, or undefined (counted) when it throws or outlasts the timeout. */
  private async read<T>(source: Source, fn: (() => Promise<T> | T) | undefined): Promise<T | undefined> {
    if (!fn) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${source} took over ${this.sourceTimeoutMs} ms`)), this.sourceTimeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve().then(fn), timeout]);
    } catch {
      this.sourceErrors.inc({ source });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
