/** The largest provider request Herald reads: 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
}

/**
 * Reads a request body as UTF-8 text, from the Node request when the server hands it over
 * (`incoming`: much cheaper than the Fetch body stream, which is then never created), refusing (BodyTooLarge) once it passes `limit` bytes,
 * whether or not the client declared its length, without buffering more than that.
 */
export async function readBody(request: Request, limit = MAX_BODY_BYTES, incoming?: AsyncIterable<Buffer>): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limit) throw new BodyTooLarge(`request body is ${declared} bytes; the limit is ${limit}`);
  if (incoming) return readNodeStream(incoming, limit);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new BodyTooLarge(`request body is over the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

async function readNodeStream(incoming: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of incoming) {
    total += chunk.byteLength;
    // Leaving the loop destroys the stream: nothing more of an oversized body is read.
    if (total > limit) throw new BodyTooLarge(`request body is over the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
