/**
 * Embedded Postgres: PGlite (Postgres compiled to WASM) stored in a folder and served on
 * 127.0.0.1 over the Postgres wire protocol, so the store talks to it with the same `postgres`
 * client and the same SQL as to a real server.
 *
 * PGlite is one single-user backend: one session, one transaction at a time. Every client
 * connection is multiplexed onto it, and the rule that keeps that correct is **turns**: a
 * connection that starts talking to the backend keeps it until the backend is idle again, i.e.
 * until the last message it sent back was ReadyForQuery with status `I`. So a whole transaction
 * (`BEGIN … COMMIT`), and a whole extended-protocol exchange (Parse/Describe/Flush … Bind/
 * Execute/Sync, which shares the unnamed portal and the implicit transaction), runs without
 * another connection's statements in between. Other connections queue in arrival order.
 *
 * Why not `@electric-sql/pglite-socket`'s PGLiteSocketServer (0.2.17): it queues individual
 * protocol messages and only keeps a connection's turn while `IsTransactionBlock()` is true,
 * i.e. inside an explicit `BEGIN`. Explicit transactions are therefore serialised whole, but an
 * extended-protocol exchange is not: when a client's Bind and Execute arrive in different TCP
 * reads (a large parameter, or postgres.js's Parse/Describe/Flush before Bind/Execute/Sync),
 * another connection's Bind/Sync can run in between and destroy the first one's portal — we
 * reproduced `portal "" does not exist` with two connections — and by the same interleaving an
 * error in one exchange would make the backend skip the other's messages until a Sync. Its
 * connection limit also answers with plain text rather than a protocol error. This file serves
 * PGlite itself; the wire handling it needs is small, and because it hands PGlite every complete
 * message of a TCP read in one call (pglite-socket makes one call per message) it is also about
 * three times faster on small inserts.
 *
 * What the shared session means for callers:
 * - Transactions are serialised, never concurrent: isolation is trivially serialisable and
 *   `for update skip locked` never skips a row locked by another connection (there is none).
 *   A transaction must not wait for a query on another connection: that query waits for the
 *   transaction's turn, and both wait forever.
 * - Session state is shared: `set` (without `local`), temporary tables and session advisory
 *   locks belong to every connection. `pg_advisory_lock` succeeds at once for every caller, which
 *   is right here because the data-dir lock already guarantees a single process.
 * - Prepared statements are session-wide; each connection's are closed when it disconnects
 *   (postgres.js names them uniquely per connection, so they never clash).
 * - There is no separate backend to signal, so cancel requests are dropped, and LISTEN/NOTIFY is
 *   not supported (a notification would reach whichever connection has the turn).
 *
 * Durability: PGlite keeps its files in `dataDir/pgdata` and writes them as Postgres does.
 * `close()` stops serving, rolls back what disconnected clients left open, and shuts PGlite down
 * cleanly, so the next start needs no recovery. A lock file holding the pid keeps a second
 * process off the same folder; the lock of a dead process is taken over.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { lockFolder } from '../../spool/folder-lock.js';

export interface EmbeddedPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops serving, closes PGlite cleanly and releases the data-dir lock. */
  close(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder holding the database (in `pgdata/`) and the lock file; created if missing. */
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Client connections served at once (default 100); more are refused with SQLSTATE 53300. */
  maxConnections?: number;
}

const DEFAULT_MAX_CONNECTIONS = 100;
const LOCK_FILE = 'embedded-postgres.lock';

/**
 * Starts PGlite stored in `dataDir` and serves it on 127.0.0.1 over the Postgres wire protocol.
 *
 * @example
 * const pg = await startEmbeddedPostgres({ dataDir: './data/db' });
 * const sql = postgres(pg.url, { max: 10 });
 * await sql`select 1`;
 * await sql.end();
 * await pg.close();
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const releaseLock = lockFolder(options.dataDir, LOCK_FILE, 'embedded Postgres data dir');
  let db: PGlite | undefined;
  try {
    db = await PGlite.create({ dataDir: join(options.dataDir, 'pgdata') });
    const server = new WireServer(db, options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    const port = await server.listen(options.port ?? 0);
    const open = db;
    let closing: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      close: () =>
        (closing ??= (async () => {
          try {
            await server.close();
            await open.close();
          } finally {
            releaseLock();
          }
        })()),
    };
  } catch (error) {
    if (db && !db.closed) await db.close();
    releaseLock();
    throw error;
  }
}

/** Serves one PGlite to many client connections, one turn at a time (see the file comment). */
class WireServer {
  private readonly server: Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly refused = new Set<Socket>();
  private owner: ClientConnection | undefined;
  private readonly waiting: Array<{ connection: ClientConnection; start: () => void }> = [];

  constructor(
    readonly db: PGlite,
    private readonly maxConnections: number,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address === null || typeof address === 'string') {
          reject(new Error(`embedded Postgres listens on an unexpected address: ${address}`));
        } else {
          resolve(address.port);
        }
      });
    });
  }

  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.refused) socket.destroy();
    const finished = [...this.connections].map((connection) => connection.destroy());
    await Promise.all([stopped, ...finished]);
  }

  /** Resolves when `connection` may use the backend; it keeps it until `endTurn`. */
  takeTurn(connection: ClientConnection): Promise<void> {
    if (this.owner === undefined || this.owner === connection) {
      this.owner = connection;
      return Promise.resolve();
    }
    return new Promise((start) => this.waiting.push({ connection, start }));
  }

  endTurn(connection: ClientConnection): void {
    if (this.owner !== connection) return;
    const next = this.waiting.shift();
    this.owner = next?.connection;
    next?.start();
  }

  forget(connection: ClientConnection): void {
    this.connections.delete(connection);
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      this.refused.add(socket);
      socket.on('close', () => this.refused.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.end(
        errorResponse('53300', `too many connections (embedded Postgres allows ${this.maxConnections})`),
        () => socket.destroy(),
      );
      return;
    }
    this.connections.add(new ClientConnection(this, socket));
  }
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const READY_FOR_QUERY = 0x5a; // 'Z'
const IDLE = 0x49; // 'I'
const PARSE = 0x50; // 'P'
const TERMINATE = 0x58; // 'X'

/** One client socket: frames its messages and runs them on the backend during its turns. */
class ClientConnection {
  private input: Buffer = Buffer.alloc(0);
  private startedUp = false;
  private closed = false;
  /** Batches run one after another, in the order the client sent them. */
  private work: Promise<void> = Promise.resolve();
  private readonly statements = new Set<string>();
  private readonly backend = new BackendMessages();
  private readonly done: Promise<void>;

  constructor(
    private readonly server: WireServer,
    private readonly socket: Socket,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (data) => this.receive(data));
    socket.on('error', () => socket.destroy());
    this.done = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.work = this.work.then(() => this.cleanUp()).catch(() => undefined).finally(() => {
          server.forget(this);
          resolve();
        });
      }),
    );
  }

  destroy(): Promise<void> {
    this.socket.destroy();
    return this.done;
  }

  private receive(data: Buffer): void {
    this.input = this.input.length === 0 ? data : Buffer.concat([this.input, data]);
    const batch: Buffer[] = [];
    while (!this.closed) {
      if (!this.startedUp) {
        const startup = this.nextStartupPacket();
        if (startup === undefined) break;
        // PGlite treats a batch that begins with a start-up packet as only that packet.
        this.run(startup);
        continue;
      }
      const message = this.nextMessage();
      if (message === undefined) break;
      if (message[0] === TERMINATE) {
        this.socket.end();
        break;
      }
      const statement = message[0] === PARSE ? cString(message, 5) : '';
      if (statement !== '') this.statements.add(statement);
      batch.push(message);
    }
    if (batch.length > 0) this.run(Buffer.concat(batch));
  }

  /** Before start-up: answers SSL/GSS requests with "no", drops cancel requests. */
  private nextStartupPacket(): Buffer | undefined {
    for (;;) {
      if (this.input.length < 8) return undefined;
      const length = this.input.readInt32BE(0);
      if (this.input.length < length) return undefined;
      const code = this.input.readInt32BE(4);
      const packet = this.input.subarray(0, length);
      this.input = this.input.subarray(length);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write('N');
      } else if (code === CANCEL_REQUEST) {
        this.socket.end();
        return undefined;
      } else if (code === PROTOCOL_3) {
        this.startedUp = true;
        return packet;
      } else {
        this.socket.end(errorResponse('08P01', `unsupported protocol version ${code}`));
        return undefined;
      }
    }
  }

  private nextMessage(): Buffer | undefined {
    if (this.input.length < 5) return undefined;
    const length = 1 + this.input.readInt32BE(1);
    if (this.input.length < length) return undefined;
    const message = this.input.subarray(0, length);
    this.input = this.input.subarray(length);
    return message;
  }

  private run(batch: Buffer): void {
    this.work = this.work
      .then(async () => {
        await this.server.takeTurn(this);
        if (this.closed) return;
        await this.execute(batch, (data) => this.socket.write(data));
        if (this.backend.idle) this.server.endTurn(this);
      })
      // PGlite failed on this batch: drop the client; its clean-up ends the turn.
      .catch(() => {
        this.socket.destroy();
      });
  }

  /** After a disconnect: rolls back what the client left open and closes its statements. */
  private async cleanUp(): Promise<void> {
    if (this.backend.idle && this.statements.size === 0) {
      this.server.endTurn(this);
      return;
    }
    await this.server.takeTurn(this);
    try {
      const messages: Buffer[] = [];
      if (!this.backend.idle) messages.push(protocolMessage('S'), protocolMessage('Q', cStrings('rollback')));
      for (const name of this.statements) messages.push(protocolMessage('C', Buffer.from('S'), cStrings(name)));
      messages.push(protocolMessage('S'));
      await this.execute(Buffer.concat(messages), () => undefined);
    } finally {
      this.server.endTurn(this);
    }
  }

  private execute(batch: Buffer, reply: (data: Buffer) => void): Promise<void> {
    const db = this.server.db;
    return db.runExclusive(() =>
      db.execProtocolRawStream(batch, {
        onRawData: (data) => {
          const copy = Buffer.from(data);
          this.backend.read(copy);
          reply(copy);
        },
      }),
    );
  }
}

/** Follows the backend's message stream just far enough to know whether it ended idle. */
class BackendMessages {
  idle = true;
  private header: number[] = [];
  private type = 0;
  private remaining = 0;

  read(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      if (this.remaining === 0) {
        this.header.push(data[at++]!);
        if (this.header.length === 5) {
          const [type, a, b, c, d] = this.header as [number, number, number, number, number];
          this.type = type;
          this.remaining = ((a << 24) | (b << 16) | (c << 8) | d) - 4;
          this.header = [];
        }
        this.idle = false;
        continue;
      }
      const take = Math.min(this.remaining, data.length - at);
      at += take;
      this.remaining -= take;
      if (this.remaining === 0) this.idle = this.type === READY_FOR_QUERY && data[at - 1] === IDLE;
    }
  }
}

function protocolMessage(type: string, ...body: Buffer[]): Buffer {
  const content = Buffer.concat(body);
  const message = Buffer.alloc(5 + content.length);
  message.write(type, 0, 'latin1');
  message.writeInt32BE(4 + content.length, 1);
  content.copy(message, 5);
  return message;
}

function errorResponse(code: string, text: string): Buffer {
  return protocolMessage(
    'E',
    Buffer.from('S'), cStrings('FATAL'),
    Buffer.from('V'), cStrings('FATAL'),
    Buffer.from('C'), cStrings(code),
    Buffer.from('M'), cStrings(text),
    Buffer.from([0]),
  );
}

function cStrings(...values: string[]): Buffer {
  return Buffer.concat(values.map((value) => Buffer.from(`${value}\0`, 'utf8')));
}

function cString(buffer: Buffer, from: number): string {
  const end = buffer.indexOf(0, from);
  return buffer.toString('utf8', from, end === -1 ? buffer.length : end);
}
