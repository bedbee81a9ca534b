import type { Hono } from 'hono';
import { z } from 'zod';
import type { ApiEnv } from './auth.js';
import { newToken, tokenHash } from './auth.js';
import { MASK } from './channels.js';
import { ApiError } from './errors.js';
import { readJson, validate } from './request.js';
import type { ApiStore, OrgRecord } from './store.js';

export const orgCreate = z.strictObject({ name: z.string('is required').trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters') });

export const orgPatch = z.strictObject({
  webhook_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).nullable().optional(),
  webhook_secret: z.string('must be a string').min(16, 'must be at least 16 characters').max(256, 'must be at most 256 characters').nullable().optional(),
});

/**
 * `/orgs` (admin: create an org and its token) and `/org` (the caller's org: read, set where
 * its events go).
 *
 * @example orgRoutes(api, store);
 */
export function orgRoutes(api: Hono<ApiEnv>, store: ApiStore): void {
  api.post('/orgs', async (c) => {
    if (!c.get('caller').isAdmin) throw new ApiError(403, 'forbidden', 'only the admin token can create orgs');
    const body = validate(orgCreate, (await readJson(c)).value);
    const token = newToken();
    const org = await store.createOrg(body.name, tokenHash(token));
    // The only time the token is shown: only its hash is kept.
    return c.json({ uuid: org.uuid, name: org.name, token }, 201);
  });

  api.get('/org', async (c) => c.json(orgView((await store.getOrg(c.get('caller').orgUuid))!)));

  api.patch('/org', async (c) => {
    const body = validate(orgPatch, (await readJson(c)).value);
    const org = await store.updateOrg(c.get('caller').orgUuid, {
      ...(body.webhook_url !== undefined ? { webhookUrl: body.webhook_url } : {}),
      ...(body.webhook_secret !== undefined ? { webhookSecret: body.webhook_secret } : {}),
    });
    return c.json(orgView(org!));
  });
}

function orgView(org: OrgRecord) {
  return {
    uuid: org.uuid,
    name: org.name,
    webhook_url: org.webhookUrl,
    webhook_secret: org.hasWebhookSecret ? MASK : null,
    created_on: org.createdOn.toISOString(),
  };
}
