import type { Hono } from 'hono';
import type { ApiEnv } from './auth.js';
import { invalidFields } from './errors.js';
import { limitParam } from './request.js';
import type { ApiStore } from './store.js';

/**
 * `/events`: the caller's org's upstream events, oldest first after a cursor, each with how its
 * webhook delivery went (CONTRACT §3).
 *
 * @example eventRoutes(api, store); // GET /api/v1/events?after=120&limit=100
 */
export function eventRoutes(api: Hono<ApiEnv>, store: ApiStore): void {
  api.get('/events', async (c) => {
    const after = c.req.query('after');
    if (after !== undefined && !/^[0-9]{1,18}$/.test(after)) throw invalidFields([{ field: 'after', message: 'must be an event id (the previous page\'s "next")' }]);
    const limit = limitParam(c, 100, 1000);
    const results = await store.listEvents(c.get('caller').orgUuid, { limit, ...(after ? { after } : {}) });
    return c.json({ results, next: results.length === limit ? results[results.length - 1]!.id : null });
  });
}
