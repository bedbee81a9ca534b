/** An error's message on one line, for messages that must stay one line (logs, `.error.txt`). */
export function describeError(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
}
