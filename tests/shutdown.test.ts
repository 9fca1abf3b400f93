/**
 * Graceful shutdown of the real process: SIGTERM while a request is blocked in the database.
 * The request must finish with 200, new connections must be refused, and the exit code is 0.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { selectRows } from '../src/db';
import { clusterEnv, hasCluster, startTestApp, TEST_AUTH_SECRET, type TestApp } from './support/harness';
import { holdLock } from './support/locks';
import { freePort } from './support/ports';
import { waitFor } from './support/wait';

describe.skipIf(!hasCluster)('graceful shutdown', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  test('an in-flight request finishes with 200 after SIGTERM and the process exits 0', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // --no-env-file: a developer's .env (e.g. a dev cluster's URLs) must not leak into the child.
    const child = Bun.spawn(['bun', '--no-env-file', 'src/index.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        PORT: String(port),
        HOST: '127.0.0.1',
        // Primary only, so the blocked read below is certainly the one holding the lock queue.
        DATABASE_URL: clusterEnv.databaseUrl,
        BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
        SHUTDOWN_TIMEOUT_MS: '10000',
        // Without a Stripe key the server runs the local Stripe server too: on a port of its own.
        LOCAL_STRIPE_PORT: String(await freePort()),
      },
      stdout: 'ignore',
      stderr: 'pipe',
    });
    await waitFor('the server to listen', async () => (await fetch(`${base}/health`)).ok, 20_000);

    // Hold an exclusive lock on posts so GET /posts blocks inside the database.
    const lock = await holdLock(t.database.primary, sql`lock table posts in access exclusive mode`);

    try {
      const inFlight = fetch(`${base}/posts`);
      await waitFor('the request to wait on the lock', async () => {
        const rows = await selectRows(
          t.database.primary,
          sql`select count(*)::int as waiting from pg_stat_activity where application_name = 'bountyexpo-primary' and wait_event_type = 'Lock'`,
          z.object({ waiting: z.number() }),
        );
        return (rows[0]?.waiting ?? 0) > 0;
      });

      child.kill('SIGTERM');
      await waitFor('the server to stop accepting', async () => {
        try {
          await fetch(`${base}/health`);
          return false;
        } catch {
          return true;
        }
      });

      lock.release();
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await child.exited).toBe(0);
    } finally {
      lock.release();
      await lock.done;
      child.kill('SIGKILL');
    }
  });
});
