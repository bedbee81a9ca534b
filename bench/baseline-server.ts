/**
 * The receive benchmark's baseline: a bare Hono route that does one INSERT per request into
 * Postgres and answers 200, with none of Herald's work (no channel lookup, validation, contact,
 * dedupe, channel log or outbox). Started by bench/receive.ts as its own process.
 *
 * Env: BENCH_DATABASE_URL (required), BENCH_PORT (0 = any; the chosen port is printed as JSON).
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { v7 as uuidv7 } from 'uuid';

const sql = postgres(process.env.BENCH_DATABASE_URL!, { max: 10, onnotice: () => {} });
await sql`create table if not exists baseline_msgs (uuid uuid primary key, sender text not null, text text not null, created_on timestamptz not null default now())`;

const app = new Hono();
// The same path Herald serves, so both runs send identical requests.
app.post('/c/:type/:uuid/:action', async (c) => {
  const form = new URLSearchParams(await c.req.text());
  await sql`insert into baseline_msgs (uuid, sender, text) values (${uuidv7()}, ${form.get('from') ?? ''}, ${form.get('text') ?? ''})`;
  return c.json({ message: 'Message Accepted' });
});

const server = serve({ fetch: app.fetch, port: Number(process.env.BENCH_PORT ?? 0), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: 'baseline started', port: info.port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void sql.end().then(() => process.exit(0));
});
