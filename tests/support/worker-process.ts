/**
 * `bun run worker` as an operator starts it, in a process of its own: on the test app's database,
 * its job schema and its local Stripe server, so the worker takes that app's jobs and no other's.
 */
import { clusterEnv, TEST_WEBHOOK_SECRET, type TestApp } from './harness';

export function spawnWorker(t: TestApp, env: Record<string, string> = {}): ReturnType<typeof Bun.spawn> {
  return Bun.spawn(['bun', 'src/worker.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: clusterEnv.databaseUrl,
      JOBS_SCHEMA: t.jobsSchema,
      STRIPE_SECRET_KEY: t.config.stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      STRIPE_API_BASE: t.stripeServer.url,
      BETTER_AUTH_SECRET: t.config.auth.secret,
      ...env,
    },
    stdout: 'ignore',
    stderr: 'ignore',
  });
}
