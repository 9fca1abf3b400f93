/**
 * `bun run worker` with WORKER_METRICS_PORT (issue 13 review: the worker had no /metrics, so the
 * job failures it counted were never seen by Prometheus). A real worker process, a job failing in
 * it, and a scrape of its port.
 */
import { describe, expect, test } from 'bun:test';
import { z } from 'zod';
import { JobQueue } from '../src/jobs';
import { createLogger } from '../src/lib/logger';
import { DISPATCH_JOB } from '../src/modules/notifications/names';
import { hasCluster, startTestApp } from './support/harness';
import { freePort } from './support/ports';
import { raw } from './support/raw-http';
import { waitFor } from './support/wait';
import { spawnWorker } from './support/worker-process';

const TOKEN = 'worker-metrics-token-0123456789abcdef';

describe.skipIf(!hasCluster)('bun run worker: GET /metrics on WORKER_METRICS_PORT', () => {
  test('a job that failed in the worker is counted there, behind the metrics token; nothing else is served; SIGTERM closes it', async () => {
    // This app only enqueues; the worker process works the jobs.
    const t = await startTestApp({}, { work: false });
    const port = await freePort();
    let worker: ReturnType<typeof Bun.spawn> | null = null;
    try {
      worker = spawnWorker(t, { HOST: '127.0.0.1', WORKER_METRICS_PORT: String(port), METRICS_TOKEN: TOKEN });
      const url = `http://127.0.0.1:${port}/metrics`;
      const scrape = (headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => fetch(url, { headers });
      // A bound, not a speed claim: a fresh worker starts every queue first (see money-withdrawals).
      await waitFor('the worker to serve /metrics', async () => (await scrape().catch(() => null))?.status === 200, 30_000, 100);

      const anonymous = await scrape({});
      expect([anonymous.status, anonymous.headers.get('www-authenticate'), anonymous.headers.get('x-content-type-options')]).toEqual([401, 'Bearer realm="metrics"', 'nosniff']);
      expect(await anonymous.json()).toMatchObject({ success: false, error: 'METRICS_TOKEN_REQUIRED' });
      const elsewhere = await fetch(`http://127.0.0.1:${port}/health`);
      expect([elsewhere.status, elsewhere.headers.get('cache-control'), await elsewhere.json()]).toEqual([404, 'no-store', expect.objectContaining({ error: 'NOT_FOUND' })]);
      // A Host the URL cannot be built from is the API's 400, not a 500 in the worker's log (review).
      const unusable = await raw(port, 'GET /metrics HTTP/1.1\r\nhost: a/b');
      expect([unusable.status, JSON.parse(unusable.body).error]).toEqual([400, 'INVALID_HOST']);

      // An older producer enqueued a payload this version's schema refuses: it fails in the worker.
      const producer = JobQueue.create({ database: t.database, logger: createLogger({ level: 'silent' }), schema: t.jobsSchema });
      producer.define({ name: DISPATCH_JOB, payload: z.object({ eventId: z.number() }), retryLimit: 0, retryDelaySeconds: 1, retryBackoff: false, expireInSeconds: 60 });
      await producer.send(DISPATCH_JOB, { eventId: -1 });
      await producer.stop();
      const failures = new RegExp(`^job_failures_total\\{queue="${DISPATCH_JOB.replace('.', '\\.')}"\\} 1$`, 'm');
      const body = await waitFor('the failure counted', async () => {
        const text = await (await scrape()).text();
        return failures.test(text) ? text : null;
      }, 30_000, 100);
      // The worker's own pools and the queues' backlogs, as on an API instance.
      expect(body).toMatch(/^db_pool_size\{pool="primary"\} \d+$/m);
      expect(body).toMatch(/^jobs_queued\{queue="[a-z.]+"\} \d+$/m);

      worker.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(await scrape().then(() => 'answered', () => 'refused')).toBe('refused');
    } finally {
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      await t.close();
    }
  }, 75_000);
});
