/**
 * bun run bench — throughput and latency of the real app beside a bare baseline, in one run.
 *
 * Starts a throwaway primary + streaming replica, seeds posts, then drives load over loopback:
 *   GET /health              app vs bare Bun.serve
 *   GET /posts?limit=20      app (routed to the replica) vs bare Bun.serve + postgres-js on the replica
 *   POST /posts              app issuing the read-your-writes token vs the same app configured
 *                            without replicas (the only difference on a write: no token)
 * and prints requests/s, p50 and p99 with the ratio to the baseline. Speed is only ever judged by
 * these ratios, never by timed assertions in tests.
 *
 * Env: BENCH_DURATION_MS (default 5000 per scenario), BENCH_CONCURRENCY (default 32),
 *      BENCH_LOG_LEVEL (the app's LOG_LEVEL, default info: request logging is part of the cost).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations, DatabaseCluster, posts, users } from '../src/db';
import { parseConfig } from '../src/config/env';
import { createLogger } from '../src/lib/logger';
import { freePort } from './lib/ports';
import { clusterDown, clusterUp, findPostgresBinDir } from './lib/pg-cluster';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const secret = 'bench-secret-0123456789-0123456789-abcdef';

type Result = { name: string; rps: number; p50: number; p99: number; errors: number };

async function drive(name: string, makeRequest: () => Request): Promise<Result> {
  // Warm-up: JIT, pools and the replica's cache, not measured.
  await runLoad(makeRequest, Math.min(1_000, durationMs / 2));
  const { latencies, errors } = await runLoad(makeRequest, durationMs);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { name, rps: latencies.length / (durationMs / 1000), p50: at(0.5), p99: at(0.99), errors };
}

async function runLoad(makeRequest: () => Request, ms: number) {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        const response = await fetch(makeRequest());
        await response.arrayBuffer();
        if (!response.ok) errors += 1;
        latencies.push(performance.now() - started);
      }
    }),
  );
  return { latencies, errors };
}

function startProcess(script: string, env: Record<string, string>) {
  return Bun.spawn(['bun', script], { env: { PATH: process.env.PATH ?? '', ...env }, stdout: 'ignore', stderr: 'inherit' });
}

async function waitUntilServing(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

async function signUp(base: string): Promise<string> {
  const response = await fetch(`${base}/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `bench-${Date.now()}@example.com`, password: 'bench-password-123', name: 'Bench' }),
  });
  if (response.status !== 201) throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

const row = (r: Result) =>
  `${r.name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)}`;

async function main(): Promise<void> {
  if (!findPostgresBinDir()) throw new Error('PostgreSQL server binaries not found (install postgresql or set PG_BIN_DIR)');
  const dir = mkdtempSync(join(tmpdir(), 'bx-bench-'));
  const children: Array<ReturnType<typeof Bun.spawn>> = [];
  try {
    const cluster = await clusterUp({ dir, primaryPort: await freePort(), replicaPort: await freePort() });
    const replicaUrl = cluster.replicaUrls[0] ?? '';
    const config = parseConfig({ DATABASE_URL: cluster.databaseUrl, DATABASE_REPLICA_URLS: replicaUrl });
    const database = await DatabaseCluster.open(config.database, createLogger({ level: 'error' }));
    await applyMigrations(database.primary);
    await database.primary.insert(users).values({ id: 'bench-author', name: 'Bench Author', email: 'bench-author@example.com' });
    await database.primary.insert(posts).values(
      Array.from({ length: 500 }, (_, i) => ({ authorId: 'bench-author', title: `Post ${i}`, content: 'x'.repeat(400), published: true })),
    );
    const lsn = await database.currentWalInsertLsn();
    if (lsn !== null) await database.waitForReplicas(lsn, 30_000);
    await database.close();

    const [appPort, appNoTokenPort, basePort] = [await freePort(), await freePort(), await freePort()];
    const appEnv = {
      NODE_ENV: 'production',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      HOST: '127.0.0.1',
      DATABASE_URL: cluster.databaseUrl,
      DATABASE_REPLICA_URLS: replicaUrl,
      BETTER_AUTH_SECRET: secret,
      BETTER_AUTH_URL: 'http://127.0.0.1',
    };
    children.push(startProcess('src/index.ts', { ...appEnv, PORT: String(appPort) }));
    // Without replicas no token is issued; for a write that is the only difference.
    children.push(startProcess('src/index.ts', { ...appEnv, PORT: String(appNoTokenPort), DATABASE_REPLICA_URLS: '' }));
    children.push(startProcess('scripts/bench-baseline.ts', { BENCH_PORT: String(basePort), BENCH_DATABASE_URL: replicaUrl }));
    const app = `http://127.0.0.1:${appPort}`;
    const appNoToken = `http://127.0.0.1:${appNoTokenPort}`;
    const base = `http://127.0.0.1:${basePort}`;
    await Promise.all([waitUntilServing(`${app}/health`), waitUntilServing(`${appNoToken}/health`), waitUntilServing(`${base}/health`)]);

    console.log(`bench: ${concurrency} concurrent clients, ${durationMs} ms per scenario, loopback, 1 primary + 1 replica\n`);
    const pairs: Array<[Result, Result]> = [];
    pairs.push([
      await drive('app  GET /health', () => new Request(`${app}/health`)),
      await drive('bare GET /health', () => new Request(`${base}/health`)),
    ]);
    pairs.push([
      await drive('app  GET /posts?limit=20 (replica)', () => new Request(`${app}/posts?limit=20`)),
      await drive('bare GET /posts (replica)', () => new Request(`${base}/posts`)),
    ]);
    const cookie = await signUp(app);
    const cookieNoToken = await signUp(appNoToken);
    const write = (origin: string, sessionCookie: string) => () =>
      new Request(`${origin}/posts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: sessionCookie },
        body: JSON.stringify({ title: 'bench', content: 'a post written by the benchmark', published: true }),
      });
    pairs.push([
      await drive('app  POST /posts with LSN token', write(app, cookie)),
      await drive('app  POST /posts, no token', write(appNoToken, cookieNoToken)),
    ]);

    console.log(`${'scenario'.padEnd(34)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}`);
    for (const [measured, baseline] of pairs) {
      console.log(row(measured));
      console.log(row(baseline));
      console.log(`${'  ratio (first / second)'.padEnd(34)} ${(measured.rps / baseline.rps).toFixed(2).padStart(8)} ${(measured.p50 / baseline.p50).toFixed(2).padStart(8)} ${(measured.p99 / baseline.p99).toFixed(2).padStart(8)}\n`);
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => child.exited));
    await clusterDown({ dir, destroy: true });
  }
}

await main();
