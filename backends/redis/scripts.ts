import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { TPS_GUARD_MS, TPS_MAX_SKEW_SECONDS } from '../../src/queue.js';

/** The queue's operations, one Lua script each (`<file>.lua` beside this file). */
const files = {
  push: 'push',
  pop: 'pop',
  complete: 'complete',
  putBack: 'put-back',
  pause: 'pause',
  size: 'size',
  clear: 'clear',
} as const;

export type QueueOperation = keyof typeof files;

/** The queue-wide keys every script receives as KEYS, in this order (see library.lua). */
export const QUEUE_KEYS = ['ready', 'parked', 'leases', 'tokens', 'seq', 'total'] as const;

const read = (file: string): string => readFileSync(new URL(`./${file}.lua`, import.meta.url), 'utf8');
// The queue-wide constants the scripts share with the memory queue, defined ahead of the library.
const library = `local TPS_GUARD_MS, TPS_MAX_SKEW_SECONDS = ${TPS_GUARD_MS}, ${TPS_MAX_SKEW_SECONDS}\n${read('library')}`;
/** Each operation's full source, read once when this module loads. */
const sources = Object.fromEntries(
  Object.entries(files).map(([operation, file]) => [operation, `${library}\n${read(file)}`]),
) as Record<QueueOperation, string>;

const commandName = (operation: QueueOperation): string => `heraldQueue_${operation}`;

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Runs one queue operation as one round trip: ioredis sends EVALSHA, and the script source only
 * when the server does not have it yet.
 */
export type RunScript = (operation: QueueOperation, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Defines the queue's scripts on a client (with `defineCommand`; defining them again is harmless,
 * the source is the same for every queue) and returns how to run them.
 *
 * @example
 * const run = defineQueueScripts(redis);
 * await run('size', keys, ['herald:q:', Date.now()]);
 */
export function defineQueueScripts(redis: Redis): RunScript {
  const commands = redis as unknown as Record<string, ScriptCommand>;
  for (const operation of Object.keys(files) as QueueOperation[]) {
    if (typeof commands[commandName(operation)] !== 'function') {
      redis.defineCommand(commandName(operation), { lua: sources[operation], numberOfKeys: QUEUE_KEYS.length });
    }
  }
  return (operation, keys, args) => commands[commandName(operation)]!.call(redis, ...keys, ...args);
}
