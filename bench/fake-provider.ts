import { Worker } from 'node:worker_threads';

/**
 * The benchmarks' provider: a send API in a worker thread (its own event loop, so it does not slow
 * the load generator or the measuring script down), on 127.0.0.1. It reads each request's
 * urlencoded body, counts the `id`s it has seen (duplicates), and answers 200 at once, or, when
 * told to hold, keeps every request open until told to answer. It also logs every request (when
 * its body was read, Date.now(), and a key: the path segment after `/send/` if the URL has one,
 * else the body's `channel` field), for per-channel counts (`log()`, cleared by `reset`).
 *
 * @example const provider = await FakeProvider.start(); provider.send('hold'); … provider.send('answer');
 */
/** Every request read since the last reset, in arrival order. */
export interface ProviderLog {
  /** Date.now() when the request's body had been read. */
  times: number[];
  /** The path segment after `/send/`, else the body's `channel` field, else ''. */
  keys: string[];
}

export interface ProviderStats {
  /** Requests fully read, answered or held. */
  requests: number;
  answered: number;
  held: number;
  /** Requests whose `id` field was seen before in this run. */
  duplicates: number;
  /** Requests without an `id` field. */
  noId: number;
  bodyBytes: number;
  /** Date.now() of the last answer. */
  lastAnswer: number;
}

const PROVIDER_SOURCE = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
let hold = false;
let stats;
let seen;
const reset = () => {
  stats = { requests: 0, answered: 0, held: 0, duplicates: 0, noId: 0, bodyBytes: 0, lastAnswer: 0 };
  seen = new Set();
  log = { times: [], keys: [] };
};
let log;
reset();
const held = new Set();
const ID = /(?:^|&)id=([^&]*)/;
const CHANNEL = /(?:^|&)channel=([^&]*)/;
const keyOf = (url, body) => {
  const path = /^[/]send[/]([^/?]+)/.exec(url);
  if (path) return decodeURIComponent(path[1]);
  const channel = CHANNEL.exec(body);
  return channel ? decodeURIComponent(channel[1]) : '';
};
const answer = (res) => {
  stats.answered++;
  stats.lastAnswer = Date.now();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    log.times.push(Date.now());
    log.keys.push(keyOf(req.url, body));
    stats.requests++;
    stats.bodyBytes += Buffer.byteLength(body);
    const id = ID.exec(body);
    if (!id) stats.noId++;
    else if (seen.has(id[1])) stats.duplicates++;
    else seen.add(id[1]);
    if (!hold) return answer(res);
    held.add(res);
    res.on('close', () => held.delete(res));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m === 'hold') hold = true;
  if (m === 'reset') reset();
  if (m === 'answer') { hold = false; for (const res of held) answer(res); held.clear(); }
  if (m === 'stats') parentPort.postMessage({ ...stats, held: held.size });
  if (m === 'log') parentPort.postMessage(log);
  if (m === 'close') { server.closeAllConnections(); server.close(() => parentPort.close()); }
});`;

export class FakeProvider {
  private constructor(
    private readonly worker: Worker,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeProvider> {
    const worker = new Worker(PROVIDER_SOURCE, { eval: true });
    const { port } = await new Promise<{ port: number }>((resolve) => worker.once('message', resolve));
    return new FakeProvider(worker, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/send`;
  }

  send(command: 'hold' | 'answer' | 'reset'): void {
    this.worker.postMessage(command);
  }

  stats(): Promise<ProviderStats> {
    this.worker.postMessage('stats');
    return new Promise((resolve) => this.worker.once('message', resolve));
  }

  /** Every request's time and key since the last reset. */
  log(): Promise<ProviderLog> {
    this.worker.postMessage('log');
    return new Promise((resolve) => this.worker.once('message', resolve));
  }

  async close(): Promise<void> {
    this.worker.postMessage('close');
    await new Promise((resolve) => this.worker.once('exit', resolve));
  }
}
