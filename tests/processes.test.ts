/**
 * The real server process (`bun src/index.ts`), one and several (issue 8):
 * - the log is written asynchronously, yet the last request's line is in it after SIGTERM;
 * - WEB_CONCURRENCY=2 runs two server processes on one port, both answer, and one SIGTERM stops
 *   them all gracefully.
 */
import { describe, expect, test } from 'bun:test';
import { clusterEnv, hasCluster, TEST_AUTH_SECRET } from './support/harness';
import { freePort } from './support/ports';
import { waitFor } from './support/wait';

type LogLine = { msg?: string; requestId?: string; route?: string; worker?: number };

function start(env: Record<string, string>) {
  // --no-env-file: a developer's .env must not leak into the child.
  return Bun.spawn(['bun', '--no-env-file', '--max-http-header-size=65536', 'src/index.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      DATABASE_URL: clusterEnv.databaseUrl ?? '',
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
      SHUTDOWN_TIMEOUT_MS: '5000',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'inherit',
  });
}

const parseLines = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

describe.skipIf(!hasCluster)('the server process', () => {
  test('the last request before SIGTERM is in the log, though lines are written asynchronously', async () => {
    const port = await freePort();
    // Without a Stripe key the server runs the local Stripe server too: on a port of its own.
    const child = start({ PORT: String(port), LOCAL_STRIPE_PORT: String(await freePort()) });
    const output = new Response(child.stdout).text();
    await waitFor('the server to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok, 20_000);
    const response = await fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-request-id': 'the-last-request' } });
    expect(response.status).toBe(200);
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    const lines = parseLines(await output);
    expect(lines.filter((line) => line.requestId === 'the-last-request').map((line) => line.route)).toEqual(['/health']);
    expect(lines.at(-1)?.msg).toBe('shutdown complete');
  }, 30_000);

  test('WEB_CONCURRENCY=2: two processes share the port, both answer, one SIGTERM stops both', async () => {
    const port = await freePort();
    const child = start({ PORT: String(port), WEB_CONCURRENCY: '2', LOCAL_STRIPE_PORT: String(await freePort()) });
    const output = new Response(child.stdout).text();
    await waitFor('the server to listen', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok, 20_000);
    await Bun.sleep(500); // both processes up
    for (let index = 0; index < 60; index += 1) {
      const answer = await fetch(`http://127.0.0.1:${port}/health`, { headers: { connection: 'close', 'x-request-id': `spread-${index}` } });
      expect(answer.status).toBe(200);
    }
    child.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    const lines = parseLines(await output);
    const workers = new Set(lines.filter((line) => line.requestId?.startsWith('spread-')).map((line) => line.worker));
    expect([...workers].sort()).toEqual([0, 1]);
    expect(lines.filter((line) => line.requestId?.startsWith('spread-')).length).toBe(60);
    expect(lines.filter((line) => line.msg === 'shutdown complete').map((line) => line.worker).sort()).toEqual([0, 1]);
    expect(await fetch(`http://127.0.0.1:${port}/health`).then(() => 'answered', () => 'refused')).toBe('refused');
  }, 30_000);
});
