import type { Logger } from 'pino';
import type { Backend, OutgoingJob, SendOutcome } from './backend.js';
import { callbackUrl } from './channel.js';
import { ChannelLogger, channelRedactor, type ChannelLog } from './channel-log.js';
import { handlerMaxLength, type ChannelHandler } from './handler.js';
import { HttpClient } from './http-client.js';
import { ContactStopped, FailedWithReason, SendError, Throttled } from './send-error.js';
import type { Metrics } from './metrics.js';
import { splitText } from './split-text.js';

/** How long a channel pauses when the provider throttles without saying for how long. */
const DEFAULT_THROTTLE_MS = 1_000;

/**
 * A send of a rate-limited channel that has not started this long before the end of the second
 * it was counted in goes back to its lane instead: sent now, it would reach the provider in the
 * next second, beside that second's whole budget. (The queue already pops nothing in a second's
 * last TPS_GUARD_MS; this catches a send held up between pop and start, e.g. by a slow claim.)
 */
const LATE_START_MS = 20;

/** A send done but not recorded yet (see `Sender.attempt`). */
export interface Attempt {
  job: OutgoingJob;
  outcome: SendOutcome;
  log: ChannelLog;
  /** How long the attempt took. */
  seconds: number;
}

export interface SenderDeps {
  backend: Backend;
  handlers: ReadonlyMap<string, ChannelHandler>;
  baseUrl: string;
  logger: Logger;
  /** Told how each send attempt ended and how long it took. */
  metrics?: Metrics;
  now?: () => number;
}

/**
 * Sends one popped message through its channel's handler and records the outcome. The handler
 * only says what happened (external ids, or a SendError); the Sender decides the status:
 * wired/sent, errored (retried with back-off by the backend), failed, failed with the contact
 * stopped, or throttled (the channel pauses and the message goes back to the head of its lane).
 */
export class Sender {
  private readonly now: () => number;

  constructor(private readonly deps: SenderDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Sends one job and records its outcome; never throws, so every token is finished. */
  async send(job: OutgoingJob): Promise<SendOutcome> {
    return this.record(await this.attempt(job));
  }

  /**
   * Calls the provider for one job (or decides not to: no handler, a stopped contact, a TPS
   * second already over) and says what happened; never throws. The outcome is not recorded yet:
   * `record` must follow, or the job's token is never finished.
   */
  async attempt(job: OutgoingJob): Promise<Attempt> {
    const { channel, msg } = job;
    const handler = this.deps.handlers.get(channel.type);
    const log = new ChannelLogger('msg_send', channel.uuid, []);
    log.msgUuid = msg.uuid;
    const started = performance.now();

    let outcome: SendOutcome;
    if (!handler) {
      log.error('channel_config', `no handler for channel type "${channel.type}"`);
      outcome = { kind: 'failed', reason: 'channel_config' };
    } else if (job.contactStopped) {
      log.error('contact_stopped', 'contact is stopped; message not sent');
      outcome = { kind: 'failed', reason: 'contact_stopped' };
    } else if (this.tooLateForItsSecond(job)) {
      log.error('tps_second_passed', 'the second this send was counted in was nearly over; put back to send in a later one');
      outcome = { kind: 'throttled', until: new Date(this.now()) };
    } else {
      outcome = await this.callProvider(handler, job, log);
    }
    return { job, outcome, log: log.finish(), seconds: (performance.now() - started) / 1000 };
  }

  /** Records an attempt's outcome and finishes its token; never throws. */
  async record({ job, outcome, log, seconds }: Attempt): Promise<SendOutcome> {
    let gaveUp = false;
    try {
      ({ gaveUp } = await this.deps.backend.recordSendOutcome(job, outcome, log));
    } catch (err) {
      // The backend finishes the queue token even when it cannot write; the row keeps its lease,
      // which lapses so the reconciler queues it again, and the sent marker stops a second send.
      this.deps.logger.error({ err, msg: job.msg.uuid }, 'send outcome not recorded');
    }
    // An errored send that was its message's last try failed it for good.
    this.deps.metrics?.sendFinished(job.channel.type, gaveUp ? 'failed' : outcome.kind === 'sent' ? outcome.status : outcome.kind, seconds);
    return outcome;
  }

  private tooLateForItsSecond(job: OutgoingJob): boolean {
    if (job.channel.tps === 0 || job.poppedAt === undefined) return false;
    return this.now() >= (Math.floor(job.poppedAt / 1000) + 1) * 1000 - LATE_START_MS;
  }

  private async callProvider(handler: ChannelHandler, job: OutgoingJob, log: ChannelLogger): Promise<SendOutcome> {
    const { channel, msg } = job;
    try {
      // Inside the try: reading the channel's secrets can itself fail on a misconfigured channel.
      log.redactWith(channelRedactor(channel, (c) => handler.redact(c)));
      const parts = splitText(msg.text, handlerMaxLength(handler, channel));
      const result = await handler.send(msg, {
        channel,
        parts,
        http: new HttpClient(log),
        log,
        callbackUrl: (action) => callbackUrl(this.deps.baseUrl, channel, action),
      });
      return { kind: 'sent', status: result.status ?? 'wired', externalIds: result.externalIds };
    } catch (err) {
      return this.outcomeOf(err, log, msg.uuid);
    }
  }

  private outcomeOf(err: unknown, log: ChannelLogger, msgUuid: string): SendOutcome {
    if (!(err instanceof SendError)) {
      // A handler bug: log it for the operator, scrubbed, since its message may quote a secret.
      const error = err instanceof Error ? err : new Error(String(err));
      this.deps.logger.error({ err: { type: error.name, message: log.redact(error.message), stack: log.redact(error.stack ?? '') }, msg: msgUuid }, 'handler failed unexpectedly');
      log.error('internal_error', error.message);
      return { kind: 'errored', reason: 'internal_error' };
    }
    log.error(err instanceof FailedWithReason ? err.reasonCode : err.code, err.message);
    if (err instanceof Throttled) {
      return { kind: 'throttled', until: new Date(this.now() + (err.retryAfterMs ?? DEFAULT_THROTTLE_MS)) };
    }
    if (err instanceof ContactStopped) return { kind: 'failed', reason: 'contact_stopped', stopContact: true };
    if (err instanceof FailedWithReason) return { kind: 'failed', reason: err.reasonCode };
    return err.retryable ? { kind: 'errored', reason: err.code } : { kind: 'failed', reason: err.code };
  }
}
