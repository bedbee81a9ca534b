import type { Context, Hono } from 'hono';
import type { Backend } from '../backend.js';
import { normalizeUrn, UrnError, type Urn } from '../urn.js';
import type { ApiEnv } from './auth.js';
import { ApiError, invalidFields } from './errors.js';
import type { ApiStore, ContactView } from './store.js';

/**
 * `/contacts/{urn}`: get, stop, unstop (CONTRACT §3). The URN is URL-encoded in the path; a
 * phone number must be in international form (`tel:+250788383383`), as no channel gives it a
 * country here.
 *
 * @example contactRoutes(api, { store, backend });
 */
export function contactRoutes(api: Hono<ApiEnv>, deps: { store: ApiStore; backend: Backend }): void {
  const { store, backend } = deps;

  api.get('/contacts/:urn', async (c) => c.json(await found(store, c.get('caller').orgUuid, pathUrn(c))));

  api.post('/contacts/:urn/stop', async (c) => {
    const { orgUuid } = c.get('caller');
    const urn = pathUrn(c);
    await backend.stopContact(orgUuid, urn, 'api');
    return c.json(await found(store, orgUuid, urn));
  });

  api.post('/contacts/:urn/unstop', async (c) => {
    const { orgUuid } = c.get('caller');
    const urn = pathUrn(c);
    await found(store, orgUuid, urn);
    await backend.unstopContact(orgUuid, urn);
    return c.json(await found(store, orgUuid, urn));
  });
}

function pathUrn(c: Context): Urn {
  const raw = c.req.param('urn') ?? '';
  try {
    return normalizeUrn(raw, null);
  } catch (err) {
    if (err instanceof UrnError) throw invalidFields([{ field: 'urn', message: err.message }]);
    throw err;
  }
}

async function found(store: ApiStore, orgUuid: string, urn: Urn): Promise<ContactView> {
  const contact = await store.getContact(orgUuid, urn);
  if (!contact) throw new ApiError(404, 'contact_not_found', `no contact with URN ${urn}`);
  return contact;
}
