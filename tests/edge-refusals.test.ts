/**
 * Refusals a client causes at the edge, over a real socket (issue 7):
 * - defect 7: client mistakes (an oversized body to Better-Auth, a refused Origin) logged as
 *   server errors, plus better-call's raw "# SERVER_ERROR" on stderr;
 * - defect 8: Bun's own empty 413 / 431 instead of our error format;
 * - defect 9: routing by a path cut at the wrong offset when the Host header is short.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createAuth } from '../src/lib/auth';
import { signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { raw, type RawResponse } from './support/raw-http';

/** A chunked body of `size` bytes, in 64 KiB chunks. */
function chunked(size: number): Uint8Array {
  const parts: string[] = [];
  for (let sent = 0; sent < size; sent += 65_536) {
    const length = Math.min(65_536, size - sent);
    parts.push(`${length.toString(16)}\r\n${'a'.repeat(length)}\r\n`);
  }
  parts.push('0\r\n\r\n');
  return new TextEncoder().encode(parts.join(''));
}

const errorCode = (response: RawResponse): unknown => {
  try {
    return (JSON.parse(response.body) as { error?: unknown }).error;
  } catch {
    return `not JSON: ${JSON.stringify(response.body.slice(0, 80))}`;
  }
};

describe.skipIf(!hasCluster)('refusals at the edge, over a real socket', () => {
  let t: TestApp;
  let port: number;
  let member: TestAccount;
  const logs = captureLogs('debug');
  beforeAll(async () => {
    // Origin check on (Better-Auth skips it under NODE_ENV=test): a refused Origin must be logged.
    t = await startTestApp({}, { logger: logs.logger, auth: (deps) => createAuth({ ...deps, advanced: { disableOriginCheck: false } }) });
    port = t.listen().port ?? 0;
    member = await signUp(t, 'edge');
  });
  afterAll(() => t.close());

  // Regression (issue 7, defect 9): with "Host: x" GET /posts was 404 and /zzzzz/health answered
  // from /health: Elysia cut the path at a fixed offset that assumed a long host.
  test('requests route by their real path whatever the Host; an unusable Host is a 400', async () => {
    for (const host of ['x', 'ab', 'abc', 'x:1', 'localhost']) {
      const outcomes = await Promise.all(
        ['/posts', '/health', '/zzzzz/health', '/zzzzz/users'].map(async (path) => [path, (await raw(port, `GET ${path} HTTP/1.1\r\nhost: ${host}`)).status]),
      );
      expect([host, ...outcomes]).toEqual([host, ['/posts', 200], ['/health', 200], ['/zzzzz/health', 404], ['/zzzzz/users', 404]]);
    }
    const from = logs.lines.length;
    const unusable = await raw(port, 'GET /health HTTP/1.1\r\nhost: a/b');
    expect([unusable.status, errorCode(unusable)]).toEqual([400, 'INVALID_HOST']);
    // Refused before the app, and still a request id and a log line.
    const requestId = /x-request-id: ([\w-]+)/i.exec(unusable.headers)?.[1];
    expect(logs.lines.slice(from).filter((line) => line.msg === 'request' && line.requestId === requestId).map((line) => line.status)).toEqual([400]);
  });

  // Regression (issue 7, defect 8): bodies over 1,049,600 bytes got Bun's own empty 413.
  test('oversized bodies, declared or chunked, get our 413 on our routes and on Better-Auth\'s', async () => {
    const size = 1_100_000;
    const cookie = member.jar.header();
    for (const path of ['/posts', '/api/auth/sign-in/email']) {
      const declared = await raw(port, `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncookie: ${cookie}\r\ncontent-type: application/json\r\ncontent-length: ${size}`, 'a'.repeat(size));
      expect([path, 'declared', declared.status, errorCode(declared)]).toEqual([path, 'declared', 413, 'PAYLOAD_TOO_LARGE']);
      const streamed = await raw(port, `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncookie: ${cookie}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked`, chunked(size));
      expect([path, 'chunked', streamed.status, errorCode(streamed)]).toEqual([path, 'chunked', 413, 'PAYLOAD_TOO_LARGE']);
    }
  });

  test('oversized headers get our 431 (Bun answers alone only past its own header limit)', async () => {
    const response = await raw(port, `GET /health HTTP/1.1\r\nhost: localhost\r\nx-padding: ${'p'.repeat(13_000)}`);
    expect([response.status, errorCode(response)]).toEqual([431, 'HEADERS_TOO_LARGE']);
  });

  // Regression (issue 7, defect 7): a 1.1 MB chunked body to /api/auth/sign-in/email was a 413 for
  // the client but an error log ("Better-Auth endpoint failed") plus "# SERVER_ERROR" on stderr;
  // refused Origins were logged at error.
  test('client mistakes are logged below error, and nothing reaches stderr', async () => {
    const printed: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => printed.push(args);
    const from = logs.lines.length;
    try {
      await raw(port, 'POST /api/auth/sign-in/email HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked', chunked(1_100_000));
      const evil = await fetch(`http://127.0.0.1:${port}/api/auth/sign-out`, {
        method: 'POST',
        headers: { cookie: member.jar.header(), origin: 'https://evil.example', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(evil.status).toBe(403);
      const callback = await fetch(`http://127.0.0.1:${port}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: member.email, password: member.password, callbackURL: 'https://evil.example/steal' }),
      });
      expect(callback.status).toBe(403);
    } finally {
      console.error = consoleError;
    }
    const lines = logs.lines.slice(from);
    expect(lines.some((line) => line.level === LOG_LEVELS.warn && String(line.msg).startsWith('Invalid origin'))).toBe(true);
    expect(lines.filter((line) => line.level >= LOG_LEVELS.error).map((line) => line.msg)).toEqual([]);
    expect(printed).toEqual([]);
  });
});
