import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import type { Backend } from './backend.js';
import type { Channel } from './channel.js';
import { ChannelLogger, channelRedactor, dumpHttp, type ChannelLogType } from './channel-log.js';
import { RequestError, RetryLater, type ChannelHandler, type HandleResult, type HandlerRoute, type ReceiveContext } from './handler.js';
import { HttpClient } from './http-client.js';
import { BodyTooLarge, MAX_BODY_BYTES, readBody } from './read-body.js';
import { commitHandled, type ResponseItem } from './receive.js';
import type { CallbackOutcome, Metrics } from './metrics.js';
import { isUuid } from './request-fields.js';
import { requestIds, type LoggedEnv } from './request-id.js';
import { ChannelConfigError } from './send-error.js';
import { UrnError } from './urn.js';

export interface ServerDeps {
  backend: Backend;
  handlers: readonly ChannelHandler[];
  /** `HERALD_BASE_URL`, without a trailing slash. */
  baseUrl: string;
  logger: Logger;
  /** The upstream API, mounted at `/api/v1`. */
  api?: Hono<any>;
  /** Served at `/metrics`, and told about every callback. */
  metrics?: Metrics;
}

/**
 * The HTTP app: provider callbacks at `/c/{type}/{uuid}/{action}`, routed to the handler of
 * that type, the upstream API at `/api/v1`, `/health` and `/metrics`.
 *
 * @example
 * const app = createApp({ backend, handlers, baseUrl: 'http://localhost:8080', logger });
 * const res = await app.request('/c/ex/<uuid>/receive?from=%2B250788383383&text=hi');
 */
export function createApp(deps: ServerDeps): Hono<LoggedEnv> {
  const app = new Hono<LoggedEnv>();
  const handlers = new Map(deps.handlers.map((h) => [h.type, h]));
  app.use('*', requestIds(deps.logger));

  app.all('/c/:type/:uuid/:action', async (c) => {
    const response = await receive(c, deps, handlers);
    deps.metrics?.callbackHandled(c.req.param('type'), callbackOutcome(response), response.status);
    return response;
  });
  if (deps.api) app.route('/api/v1', deps.api);
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (c) => {
      const { contentType, body } = await metrics.render();
      return c.body(body, 200, { 'content-type': contentType });
    });
  }

  app.get('/health', async (c) => {
    const checks = await deps.backend.health();
    // With a spool, callbacks are still accepted while the database is down: degraded, not down.
    const down = checks.database === 'down' && (checks.spool === undefined || checks.spool === 'down');
    const degraded = Object.values(checks).some((v) => v !== 'ok' && v !== 'not_configured');
    return c.json({ status: degraded ? 'degraded' : 'ok', checks }, down ? 503 : 200);
  });

  app.notFound((c) => {
    const error = `no route for ${c.req.method} ${c.req.path}`;
    // API clients get the API's error shape (CONTRACT §3), providers the callback envelope.
    if (c.req.path.startsWith('/api/')) return c.json({ error: { code: 'not_found', message: error } }, 404);
    return c.json({ message: 'Error', data: [{ type: 'error', error }] }, 404);
  });
  app.onError((err, c) => {
    c.var.log.error({ err, path: c.req.path }, 'unhandled error');
    return c.json({ message: 'Error', data: [{ type: 'error', error: 'internal error' }] }, 500);
  });
  return app;
}

async function receive(c: Context<LoggedEnv>, deps: ServerDeps, handlers: Map<string, ChannelHandler>): Promise<Response> {
  const { type, uuid, action } = c.req.param() as { type: string; uuid: string; action: string };
  const logger = c.get('log');
  const handler = handlers.get(type);
  if (!handler) return envelope(404, 'Error', [{ type: 'error', error: `unknown channel type "${type}"` }]);
  let channel: Channel | null;
  try {
    channel = isUuid(uuid) ? await deps.backend.getChannel(uuid.toLowerCase()) : null;
  } catch (err) {
    logger.error({ err, channel: uuid }, 'channel lookup failed');
    return envelope(503, 'Error', [{ type: 'error', error: 'channel lookup failed; try again' }]);
  }
  if (!channel || channel.type !== type) {
    return envelope(404, 'Error', [{ type: 'error', error: `no ${handler.name} channel with uuid "${uuid}"` }]);
  }
  const log = new ChannelLogger(logTypeFor(action), channel.uuid, []);
  const request = c.req.raw;
  const url = new URL(request.url);
  const started = performance.now();
  const createdOn = new Date();
  let rawBody = '';
  let response: Response;
  try {
    log.redactWith(channelRedactor(channel, (c) => handler.redact(c)));
    const route = findRoute(handler, action, request.method);
    rawBody = await readBody(request, MAX_BODY_BYTES, (c.env as Partial<HttpBindings> | undefined)?.incoming);
    const result = await route.handle(receiveContext(request, url, rawBody, channel, log, deps));
    response = await answer(result, channel, log, deps);
  } catch (err) {
    response = rejection(err, log, logger);
  }

  log.http({
    method: request.method,
    url: publicUrl(deps.baseUrl, url),
    statusCode: response.status,
    request: dumpHttp(`${request.method} ${url.pathname}${url.search}`, request.headers, rawBody),
    response: dumpHttp(`HTTP ${response.status}`, response.headers, envelopeBodies.get(response) ?? (await response.clone().text())),
    elapsedMs: Math.round(performance.now() - started),
    createdOn,
  });
  // The provider's answer waits only for what it is about (the message, status or event); the
  // log goes into the backend's next batch, and the backend flushes pending batches on close.
  deps.backend.writeChannelLog(log.finish()).catch((err: unknown) => {
    logger.warn({ err, channel: channel.uuid }, 'channel log not written');
  });
  return response;
}

/** The route for this action and method; otherwise a 404 or 405 RouteNotFound naming what exists. */
function findRoute(handler: ChannelHandler, action: string, method: string): HandlerRoute {
  const routes = handler.routes.filter((r) => r.action === action);
  const route = routes.find((r) => r.method === method);
  if (route) return route;
  if (routes.length === 0) throw new RouteNotFound(404, `${handler.name} channels have no "${action}" route`);
  throw new RouteNotFound(405, `${action} accepts ${routes.map((r) => r.method).join(', ')}, not ${method}`);
}

class RouteNotFound extends Error {
  constructor(
    readonly status: 404 | 405,
    message: string,
  ) {
    super(message);
  }
}

async function answer(result: HandleResult, channel: Channel, log: ChannelLogger, deps: ServerDeps): Promise<Response> {
  switch (result.kind) {
    case 'reply':
      log.type = 'webhook_verify';
      return result.response;
    case 'ignored':
      return result.respond?.() ?? envelope(200, 'Ignored', [{ type: 'info', info: result.reason }]);
    case 'accepted': {
      const committed = await commitHandled(deps.backend, channel, result, new Date());
      if (committed.msgUuid) log.msgUuid = committed.msgUuid;
      const received = committed.message === 'Message Accepted' ? committed.data.filter((d) => d.type === 'msg').length : 0;
      if (received > 0) deps.metrics?.msgsReceived(channel.type, received);
      if (committed.message === 'Status Update Accepted') log.type = 'msg_status';
      else if (committed.message === 'Event Accepted') log.type = 'event_receive';
      else if (committed.message === 'Message Accepted') log.type = 'msg_receive';
      return result.respond?.(committed.items) ?? envelope(200, committed.message, committed.data);
    }
  }
}

function rejection(err: unknown, log: ChannelLogger, logger: Logger): Response {
  log.type = 'request_rejected';
  if (err instanceof RequestError) {
    log.error(err.status === 403 ? 'signature_invalid' : 'request_invalid', err.message);
    return envelope(err.status, 'Error', [{ type: 'error', error: err.message }]);
  }
  if (err instanceof RouteNotFound) {
    log.error('route_not_found', err.message);
    return envelope(err.status, 'Error', [{ type: 'error', error: err.message }]);
  }
  if (err instanceof RetryLater) {
    // Something the provider can fix by trying again later (a media file not reachable yet).
    log.error(err.code, err.message);
    return envelope(503, 'Error', [{ type: 'error', error: err.message }]);
  }
  if (err instanceof BodyTooLarge) {
    log.error('body_too_large', err.message);
    return envelope(413, 'Error', [{ type: 'error', error: err.message }]);
  }
  if (err instanceof UrnError) {
    log.error('request_invalid', err.message);
    return envelope(400, 'Error', [{ type: 'error', error: err.message }]);
  }
  if (err instanceof ChannelConfigError) {
    // The operator's mistake, not the provider's: 503 so the provider keeps the request and
    // retries once the channel is fixed, rather than dropping it on a 4xx.
    log.error('channel_config', err.message);
    logger.warn({ channel: log.channelUuid, problem: err.message }, 'channel misconfigured');
    return envelope(503, 'Error', [{ type: 'error', error: `channel is misconfigured: ${err.message}` }]);
  }
  logger.error({ err }, 'receive failed');
  log.error('internal_error', err instanceof Error ? err.message : String(err));
  // 5xx so the provider retries: nothing was lost, nothing was acknowledged.
  return envelope(503, 'Error', [{ type: 'error', error: 'could not store the request; try again' }]);
}

function receiveContext(request: Request, url: URL, rawBody: string, channel: Channel, log: ChannelLogger, deps: ServerDeps): ReceiveContext {
  let params: URLSearchParams | undefined;
  let parsed: { value: unknown } | undefined;
  return {
    channel,
    request,
    url,
    rawBody,
    baseUrl: deps.baseUrl,
    publicUrl: publicUrl(deps.baseUrl, url),
    http: new HttpClient(log),
    log,
    params() {
      params ??= formParams(request, url, rawBody);
      return params;
    },
    json() {
      if (!parsed) {
        if (rawBody.trim() === '') throw new RequestError(400, 'request body is empty; expected JSON');
        try {
          parsed = { value: JSON.parse(rawBody) };
        } catch (err) {
          throw new RequestError(400, `request body is not valid JSON: ${(err as Error).message}`);
        }
      }
      return parsed.value;
    },
  };
}

/** Query parameters, overlaid with the body's fields when the body is form-encoded. */
function formParams(request: Request, url: URL, rawBody: string): URLSearchParams {
  const params = new URLSearchParams(url.search);
  const contentType = request.headers.get('content-type') ?? '';
  const isForm = contentType.includes('application/x-www-form-urlencoded') || (contentType === '' && request.method === 'POST');
  if (isForm && rawBody !== '') {
    const body = new URLSearchParams(rawBody);
    for (const key of body.keys()) params.delete(key);
    for (const [key, value] of body) params.append(key, value);
  }
  return params;
}

function publicUrl(baseUrl: string, url: URL): string {
  return `${baseUrl}${url.pathname}${url.search}`;
}

function logTypeFor(action: string): ChannelLogType {
  return action === 'receive' ? 'msg_receive' : 'msg_status';
}

function callbackOutcome(response: Response): CallbackOutcome {
  if (response.status >= 500) return 'error';
  if (response.status >= 400) return 'rejected';
  return envelopeBodies.get(response)?.startsWith('{"message":"Ignored"') ? 'ignored' : 'accepted';
}

/** The body of each envelope this server made, so logging it needs no clone of the response. */
const envelopeBodies = new WeakMap<Response, string>();

function envelope(status: number, message: string, data: ResponseItem[]): Response {
  const body = JSON.stringify({ message, data });
  const response = new Response(body, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
  envelopeBodies.set(response, body);
  return response;
}
