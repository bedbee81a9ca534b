import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { Backend } from '../backend.js';
import type { ChannelHandler } from '../handler.js';
import { authenticate, type ApiEnv } from './auth.js';
import { channelRoutes } from './channels.js';
import { contactRoutes } from './contacts.js';
import { ApiError } from './errors.js';
import { eventRoutes } from './events.js';
import { messageRoutes } from './messages.js';
import { openApiDocument } from './openapi.js';
import { orgRoutes } from './orgs.js';
import type { ApiStore } from './store.js';

export interface ApiDeps {
  store: ApiStore;
  backend: Backend;
  handlers: readonly ChannelHandler[];
  /** `HERALD_BASE_URL`, for callback URLs. */
  baseUrl: string;
  /** `HERALD_ADMIN_TOKEN` (or the one generated on first start). */
  adminToken: string;
  logger: Logger;
  /** Whether the database answers; a failed call while it does not is a 503, not a 500. */
  databaseDown?: (err: unknown) => boolean;
}

/**
 * The upstream API (CONTRACT §3), to mount at `/api/v1`: every route but the OpenAPI document
 * needs a bearer token, and every error is `{"error": {"code", "message", "details"?}}`.
 *
 * @example app.route('/api/v1', createApi({ store, backend, handlers, baseUrl, adminToken, logger }));
 */
export function createApi(deps: ApiDeps): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  const handlers = new Map(deps.handlers.map((h) => [h.type, h]));

  const document = openApiDocument(deps.baseUrl);
  api.get('/openapi.json', (c) => c.json(document));

  api.use('*', authenticate(deps.store, deps.adminToken));
  channelRoutes(api, { store: deps.store, handlers, baseUrl: deps.baseUrl });
  messageRoutes(api, { store: deps.store, backend: deps.backend, handlers });
  contactRoutes(api, { store: deps.store, backend: deps.backend });
  orgRoutes(api, deps.store);
  eventRoutes(api, deps.store);

  api.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.toJSON(), err.status);
    if (deps.databaseDown?.(err)) {
      return c.json(new ApiError(503, 'unavailable', 'the database cannot be reached; try again shortly').toJSON(), 503);
    }
    (c.var.log ?? deps.logger).error({ err, method: c.req.method, path: c.req.path }, 'API request failed');
    return c.json({ error: { code: 'internal_error', message: 'internal error' } }, 500);
  });
  return api;
}
