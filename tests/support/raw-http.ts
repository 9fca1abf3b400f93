/** HTTP/1.1 written byte for byte, for what fetch would not send (a broken Host, say). */
import { connect } from 'node:net';

export type RawResponse = { status: number; headers: string; body: string };

/** One HTTP/1.1 exchange written byte for byte (fetch would fix the Host header for us). */
export function raw(port: number, head: string, body: string | Uint8Array = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const headers = split >= 0 ? text.slice(0, split) : text;
      resolve({ status: Number(headers.split(' ')[1]), headers, body: split >= 0 ? text.slice(split + 4) : '' });
    });
    socket.write(`${head}\r\nconnection: close\r\n\r\n`);
    // No half-close: the server closes after answering (connection: close).
    if (body.length > 0) socket.write(body);
  });
}
