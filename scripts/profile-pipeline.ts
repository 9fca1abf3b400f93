/**
 * bun scripts/profile-pipeline.ts — what each stage of the request pipeline costs, in process.
 *
 * Builds the app's Elysia pipeline one plugin at a time (bare route, + request id and log line,
 * + CORS, + error handler/body parser, + OpenAPI, + database session, + auth macro, the whole app)
 * and times N `app.handle()` calls of GET /health against each, so the difference between two
 * rows is what the added stage costs per request. Then the same for GET /posts?limit=20 and
 * GET /posts/:id on the whole app against a real replica, with and without response validation.
 * In-process timing, no sockets: it isolates our per-request work from the HTTP server's.
 *
 * Env: PROFILE_REQUESTS (default 20000), PROFILE_LOG_LEVEL (default info: the log line is a stage).
 */
import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyElysia, Elysia } from 'elysia';
import pino from 'pino';
import { createApp } from '../src/app';
import { EventBus } from '../src/modules/realtime/bus';
import { parseConfig } from '../src/config/env';
import { applyMigrations, DatabaseCluster, posts, users } from '../src/db';
import { JobQueue } from '../src/jobs';
import { authCookieNames, createAuth, createSessionReader } from '../src/lib/auth';
import { createLogger, type Logger } from '../src/lib/logger';
import { RateLimitStore } from '../src/lib/rate-limit-store';
import { authPlugin } from '../src/plugins/auth';
import { corsPlugin } from '../src/plugins/cors';
import { databasePlugin } from '../src/plugins/database';
import { errorHandler } from '../src/plugins/error-handler';
import { openapiPlugin } from '../src/plugins/openapi';
import { requestContext } from '../src/plugins/request-context';
import { clusterDown, clusterUp } from './lib/pg-cluster';
import { freePort } from './lib/ports';

const REQUESTS = Number(process.env.PROFILE_REQUESTS ?? 20_000);
const LOG_LEVEL = process.env.PROFILE_LOG_LEVEL ?? 'info';

type Handler = { handle: (request: Request) => Promise<Response> | Response };

/** Mean microseconds per request over REQUESTS sequential calls (after a warm-up). */
async function time(app: Handler, makeRequest: () => Request, requests = REQUESTS): Promise<number> {
  for (let i = 0; i < Math.min(2_000, requests); i += 1) await (await app.handle(makeRequest())).arrayBuffer();
  const started = performance.now();
  for (let i = 0; i < requests; i += 1) await (await app.handle(makeRequest())).arrayBuffer();
  return ((performance.now() - started) * 1000) / requests;
}

/** The production logger settings (asynchronous, 4 KiB batches), writing to /dev/null: the write is part of the cost. */
const devNullLogger = (level = LOG_LEVEL, redact = true): Logger =>
  createLogger({ level, redact, destination: pino.destination({ fd: openSync('/dev/null', 'w'), sync: false, minLength: 4096 }) });

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-profile-'));
  const cluster = await clusterUp({ dir, primaryPort: await freePort(), replicaPort: await freePort() });
  try {
    const config = parseConfig({
      NODE_ENV: 'production',
      LOG_LEVEL,
      DATABASE_URL: cluster.databaseUrl,
      DATABASE_REPLICA_URLS: cluster.replicaUrls.join(','),
      BETTER_AUTH_SECRET: 'profile-secret-0123456789-0123456789-abcdef',
      BETTER_AUTH_URL: 'http://localhost:3000',
    });
    const logger = devNullLogger();
    const requestLogger = devNullLogger(LOG_LEVEL, false);
    const database = await DatabaseCluster.open(config.database, logger);
    // Never started: nothing here enqueues.
    const jobs = JobQueue.create({ database, logger });
    await applyMigrations(database.primary);
    await database.primary.insert(users).values({ id: 'profile-author', name: 'Author', email: 'profile@example.com' });
    const [first] = await database.primary
      .insert(posts)
      .values(Array.from({ length: 200 }, (_, i) => ({ authorId: 'profile-author', title: `Post ${i}`, content: 'x'.repeat(400), published: true })))
      .returning({ id: posts.id });
    const lsn = await database.currentWalInsertLsn();
    if (lsn !== null) await database.waitForReplicas(lsn, 30_000);

    const rateLimitStore = RateLimitStore.overCluster(database, logger);
    const auth = createAuth({ config, database, logger, rateLimitStore });
    const db = databasePlugin({ database, tokenSecret: config.auth.secret, tokenTtlS: 300, debugHeaders: false, secureCookies: false });
    const health = () => ({ status: 'ok' as const, uptime: 1, version: '0.1.0' });
    const healthRequest = () => new Request('http://localhost/health');
    // Cumulative: each row is the app's plugins up to and including its own, in the app's order.
    const plugins: Array<[string, AnyElysia]> = [
      ['+ request id, log line', requestContext({ logger: requestLogger })],
      ['+ CORS', corsPlugin(config.corsOrigins)],
      ['+ error handler, body parser', errorHandler({ logger, isProduction: true, bodyLimitBytes: config.bodyLimitBytes, unparsedRoutes: new Elysia() })],
      ['+ OpenAPI plugin', openapiPlugin({ modules: [], version: '0.1.0', enabled: false, sessionCookie: 'x' })],
      ['+ database session', db],
      [
        '+ auth macro',
        authPlugin(auth, createSessionReader({ secret: config.auth.secret, cookies: authCookieNames(config), authDatabase: database.authPrimary, cacheEnabled: true }), database.operationBoundMs),
      ],
    ];
    const stages: Array<[string, Handler]> = [
      ['bare Elysia route', new Elysia().get('/health', health)],
      ['+ request id, hooks (log level silent)', new Elysia().use(requestContext({ logger: devNullLogger('silent') })).get('/health', health)],
      ...plugins.map(([name], index): [string, Handler] => {
        const app = new Elysia();
        for (const [, plugin] of plugins.slice(0, index + 1)) app.use(plugin);
        return [name, app.get('/health', health)];
      }),
      ['the whole app', createApp({ config, database, logger, requestLogger, auth, rateLimitStore, jobs, bus: new EventBus(database, logger, 'profile') })],
    ];
    const app = createApp({ config, database, logger, requestLogger, auth, rateLimitStore, jobs, bus: new EventBus(database, logger, 'profile') });
    console.log(`profile: ${REQUESTS} sequential app.handle() calls per row, LOG_LEVEL=${LOG_LEVEL}\n`);
    console.log(`${'GET /health'.padEnd(40)} ${'µs/req'.padStart(8)} ${'stage'.padStart(8)}`);
    let previous = 0;
    for (const [name, handler] of stages) {
      const us = await time(handler, healthRequest);
      console.log(`${name.padEnd(40)} ${us.toFixed(1).padStart(8)} ${(previous ? us - previous : us).toFixed(1).padStart(8)}`);
      previous = us;
    }
    // The same stages behind a real Bun.serve under wrk (one connection pool, 20 connections):
    // what a stage costs once sockets, headers and the log write are in the picture.
    if (Bun.which('wrk')) {
      console.log(`\n${'GET /health over HTTP (wrk -c20, 3 s)'.padEnd(40)} ${'req/s'.padStart(8)} ${'µs/req'.padStart(8)}`);
      const bare = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json(health()) });
      const served: Array<[string, { url: URL; stop: (force?: boolean) => Promise<void> }]> = [['bare Bun.serve', bare]];
      for (const [name, handler] of stages) served.push([name, Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => handler.handle(request) })]);
      for (const [name, server] of served) {
        // Asynchronously: the servers answer from this same event loop.
        const wrk = Bun.spawn(['wrk', '-t1', '-c20', '-d3s', `${server.url.origin}/health`], { stdout: 'pipe' });
        const output = await new Response(wrk.stdout).text();
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
        console.log(`${name.padEnd(40)} ${rps.toFixed(0).padStart(8)} ${(rps ? 1e6 / rps : 0).toFixed(1).padStart(8)}`);
        await server.stop(true);
      }
    }
    console.log('');
    for (const [name, path] of [
      ['GET /posts?limit=20 (replica)', '/posts?limit=20'],
      ['GET /posts/:id (replica)', `/posts/${first?.id ?? ''}`],
    ] as const) {
      console.log(`${name.padEnd(40)} ${(await time(app, () => new Request(`http://localhost${path}`))).toFixed(1).padStart(8)}`);
    }
    // Signed in: the session cookie set by sign-up (the read-your-writes cookie left out, so reads
    // stay on the replica once it has the account), within the cookie cache for GETs.
    const signUp = await app.handle(
      new Request('http://localhost/auth/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'profile-reader@example.com', password: 'profile-password', name: 'Reader' }),
      }),
    );
    const cookie = signUp.headers
      .getSetCookie()
      .map((header) => header.split(';')[0] ?? '')
      .filter((pair) => !pair.startsWith('db_lsn='))
      .join('; ');
    const signedIn = (path: string, init: RequestInit = {}) => () => new Request(`http://localhost${path}`, { ...init, headers: { cookie, ...init.headers } });
    console.log(`${'GET /posts/:id signed in (cookie cache)'.padEnd(40)} ${(await time(app, signedIn(`/posts/${first?.id ?? ''}`))).toFixed(1).padStart(8)}`);
    const write = signedIn('/posts', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'p', content: 'c', published: true }) });
    console.log(`${'POST /posts signed in'.padEnd(40)} ${(await time(app, write, Math.min(REQUESTS, 3_000))).toFixed(1).padStart(8)}`);
    await database.close();
  } finally {
    await clusterDown({ dir, destroy: true });
  }
}

await main();
