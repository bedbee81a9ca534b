import { connect, type Socket } from 'node:net';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The `postgres` client as Herald runs it, patched (patches/postgres+3.4.9.patch, applied by
 * `npm ci`): a connection that closes while a small write is still buffered must not keep that
 * write's timer, which left every later small write on it (the next connection's start-up
 * message first) unsent until the connect timeout: after Postgres came back, Herald's writes
 * stalled for seconds. The patch also makes a write find no socket a failed query rather than a
 * TypeError thrown from a timer, which ended the process (seen under the recovery benchmark's
 * cut; not reproduced here).
 */
describe('postgres client: a connection closed with a write buffered', () => {
  const sockets: Socket[] = [];
  const sql = postgres({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'postgres',
    max: 1,
    connect_timeout: 3,
    onnotice: () => {},
    // Herald's connections are plain TCP; this one is the same, with the test holding the socket.
    socket: () => {
      const socket = connect(5432, '127.0.0.1');
      sockets.push(socket);
      return socket;
    },
    // `socket` is an option of the client its type declarations leave out.
  } as postgres.Options<{}>);
  afterAll(() => sql.end({ timeout: 1 }));

  it('reconnects at once after its connection closed with a write buffered', async () => {
    expect(await sql`select 1 as n`).toEqual([{ n: 1 }]);
    const [connection] = sockets as [Socket];
    // Another socket closing in the same turn of the event loop, just before the connection's
    // (libuv runs a turn's close callbacks last closed, first run): its close sends a query, whose
    // bytes wait for the next turn, and then the connection's own close arrives.
    const other = connect(5432, '127.0.0.1');
    await new Promise((resolve) => other.once('connect', resolve));
    let carried: Promise<unknown> | undefined;
    other.once('close', () => {
      carried = sql`select 2 as n`.execute();
    });
    connection.destroy();
    other.destroy();
    await new Promise((resolve) => connection.once('close', resolve));
    expect(carried).toBeDefined();
    await expect(carried).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });

    // Unpatched, the new connection's start-up message stayed buffered behind the stale timer:
    // CONNECT_TIMEOUT after 3 s.
    expect(await sql`select 3 as n`).toEqual([{ n: 3 }]);
    expect(sockets).toHaveLength(2);
  });
});
