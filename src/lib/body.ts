/**
 * Reads a request body up to a limit. The limit is ours, not Bun's: Bun's own refusal past
 * `maxRequestBodySize` is a bare 413 with no body, and a chunked body cut off by Bun surfaced as a
 * stream error inside Better-Auth (a logged "server error" for a client's mistake, issue 7).
 * src/server.ts therefore sets Bun's limit well above ours, and every body is read through here.
 */
import { HttpError } from './errors';

export const payloadTooLarge = (limitBytes: number): HttpError =>
  new HttpError(413, 'PAYLOAD_TOO_LARGE', `The body is larger than ${limitBytes} bytes`);

/** Refuses up front when Content-Length already says too much (no byte is read). */
export function assertDeclaredLength(request: Request, limitBytes: number): void {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > limitBytes) throw payloadTooLarge(limitBytes);
}

/**
 * The body's bytes, or 413 PAYLOAD_TOO_LARGE as soon as more than `limitBytes` arrived (chunked
 * bodies declare no length). A stream that breaks off mid-body is the client's: 400.
 */
export async function readBodyCapped(request: Request, limitBytes: number): Promise<Uint8Array> {
  assertDeclaredLength(request, limitBytes);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limitBytes) {
        void reader.cancel().catch(() => {});
        throw payloadTooLarge(limitBytes);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, 'MALFORMED_BODY', 'The body could not be read');
  }
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
