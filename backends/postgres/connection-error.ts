/** Error codes of a database that cannot be reached, as Node and the `postgres` client name them. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** SQLSTATEs of a server going away: admin shutdown, crash shutdown, cannot connect now. */
const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

/**
 * Whether `err` means the database could not be reached (worth spooling and retrying later),
 * as opposed to a statement it rejected (a constraint or syntax error, which retrying repeats).
 *
 * @example isConnectionError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })) // true
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || code === 'CONNECT_TIMEOUT' || code === 'COMMIT_TIMEOUT' || code.startsWith('CONNECTION_')) return true;
    if (SHUTDOWN_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (/terminating connection|connection terminated|timeout exceeded when trying to connect/i.test(err.message)) return true;
  return err.cause !== undefined && err.cause !== err && isConnectionError(err.cause);
}
