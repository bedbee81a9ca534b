/**
 * The API benchmark's baseline: bare Hono routes on the same paths as Herald's message API that
 * check the bearer token, parse the JSON body with minimal hand-written checks (no zod), store the
 * message(s) in a simple table and answer 202 with what was stored. None of Herald's work: no
 * channel lookup, URN normalisation, contact, history row, queue push or read-back.
 *
 * - `POST /api/v1/messages`: one INSERT per request.
 * - `POST /api/v1/messages/batch`: one multi-row INSERT per request (`insert … select from unnest`).
 *
 * Started by bench/api.ts as its own process.
 * Env: BENCH_DATABASE_URL (required), BENCH_TOKEN (required), BENCH_PORT (0 = any; the chosen
 * port is printed as JSON).
 */
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import postgres from 'postgres';
import { v7 as uuidv7 } from 'uuid';

const sql = postgres(process.env.BENCH_DATABASE_URL!, { max: 10, onnotice: () => {} });
const token = `Bearer ${process.env.BENCH_TOKEN!}`;
await sql`create table if not exists baseline_out (
  uuid uuid primary key, channel uuid not null, urn text not null, text text not null, priority text not null,
  created_on timestamptz not null default now())`;

interface Out {
  uuid: string;
  channel: string;
  urn: string;
  text: string;
  priority: string;
}

/** The message, or the reason it is refused: string fields present, a `tel:` or other `scheme:` URN. */
function check(value: unknown, defaultPriority: string): Out | string {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const m = value as Record<string, unknown>;
  if (typeof m.channel !== 'string' || m.channel.length !== 36) return 'channel must be a uuid';
  if (typeof m.urn !== 'string' || !/^[a-z]+:\S+$/.test(m.urn)) return 'urn must be "scheme:path"';
  if (typeof m.text !== 'string' || m.text === '') return 'text must be a non-empty string';
  const priority = m.priority ?? defaultPriority;
  if (priority !== 'high' && priority !== 'bulk') return 'priority must be "high" or "bulk"';
  return { uuid: uuidv7(), channel: m.channel, urn: m.urn, text: m.text, priority };
}

async function body(c: Context): Promise<unknown> {
  try {
    return JSON.parse(await c.req.text());
  } catch {
    return undefined;
  }
}

const view = (m: Out, now: string) => ({ ...m, status: 'queued', created_on: now });

const app = new Hono();
app.use('/api/v1/*', async (c, next) => {
  if (c.req.header('authorization') !== token) return c.json({ error: { code: 'unauthorized' } }, 401);
  return next();
});

app.post('/api/v1/messages', async (c) => {
  const msg = check(await body(c), 'high');
  if (typeof msg === 'string') return c.json({ error: { code: 'invalid', message: msg } }, 400);
  await sql`insert into baseline_out (uuid, channel, urn, text, priority) values (${msg.uuid}, ${msg.channel}, ${msg.urn}, ${msg.text}, ${msg.priority})`;
  return c.json(view(msg, new Date().toISOString()), 202);
});

app.post('/api/v1/messages/batch', async (c) => {
  const parsed = (await body(c)) as { messages?: unknown } | undefined;
  if (!Array.isArray(parsed?.messages) || parsed.messages.length === 0 || parsed.messages.length > 1000) {
    return c.json({ error: { code: 'invalid', message: 'messages must be an array of 1 to 1000' } }, 400);
  }
  const checked = parsed.messages.map((m) => check(m, 'bulk'));
  const ok = checked.filter((m): m is Out => typeof m !== 'string');
  if (ok.length > 0) {
    await sql`
      insert into baseline_out (uuid, channel, urn, text, priority)
      select * from unnest(${ok.map((m) => m.uuid)}::uuid[], ${ok.map((m) => m.channel)}::uuid[], ${ok.map((m) => m.urn)}::text[],
                           ${ok.map((m) => m.text)}::text[], ${ok.map((m) => m.priority)}::text[])`;
  }
  const now = new Date().toISOString();
  return c.json({ results: checked.map((m) => (typeof m === 'string' ? { error: { code: 'invalid', message: m } } : view(m, now))) }, 202);
});

const server = serve({ fetch: app.fetch, port: Number(process.env.BENCH_PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'baseline started', port: info.port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void sql.end().then(() => process.exit(0));
});
