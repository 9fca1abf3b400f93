/**
 * Builds app instances for tests on the real cluster the preload started (or on embedded PGlite
 * when there is none). Every instance has its own pools and replica monitor, like a separate
 * process would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { createApp } from '../../src/app';
import { type LocalStripe, startLocalStripe } from '../../src/dev/stripe-local';
import { JobQueue } from '../../src/jobs';
import { bountyFunder } from '../../src/modules/bounties/funding';
import { jobDefinitions } from '../../src/job-definitions';
import { createStripeClient } from '../../src/lib/stripe';
import { DatabaseCluster, type QueryObserver } from '../../src/db';
import { type AppConfig, LOCAL_STRIPE_SECRET_KEY, parseConfig } from '../../src/config/env';
import { type Auth, CLIENT_IP_HEADER, type CreateAuthOptions, createAuth, type SessionRevocations } from '../../src/lib/auth';
import { serveApp } from '../../src/serve';
import { createLogger, type Logger } from '../../src/lib/logger';
import { RateLimitStore } from '../../src/lib/rate-limit-store';
import { traceRequest } from '../../src/lib/telemetry';
import { createLifecycle, type Lifecycle } from '../../src/modules/health/service';
import { typingAudience } from '../../src/modules/conversations/messages';
import { EventBus } from '../../src/modules/realtime/bus';
import { SocketHub } from '../../src/modules/realtime/hub';
import { type ContractChecker, contractChecker } from './contract';
import { deliveryServers } from './delivery-servers';

export const hasCluster = Boolean(process.env.TEST_DATABASE_URL);
export const clusterEnv = {
  databaseUrl: process.env.TEST_DATABASE_URL,
  replicaUrls: process.env.TEST_DATABASE_REPLICA_URLS,
  /** Set only when the preload started the cluster itself (fault-injection tests need it). */
  clusterDir: process.env.TEST_CLUSTER_DIR,
  replicaDataDir: process.env.TEST_REPLICA_DATA_DIR,
  primaryDataDir: process.env.TEST_PRIMARY_DATA_DIR,
};

/** The same server, another database (tests that need a database of their own). */
export function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export const TEST_AUTH_SECRET = 'test-secret-for-the-bountyexpo-suite-0123456789';
/** Job retries in tests: every second, five times; an attempt whose worker died expires after 4 s. */
export const TEST_JOB_TIMING = { retryDelaySeconds: 1, retryLimit: 5, expireInSeconds: 4 };

/** Signs the local Stripe server's webhooks (and nothing else) in tests. */
export const TEST_WEBHOOK_SECRET = 'whsec_test_bountyexpo_suite';
/** The Connect endpoint's secret in tests (events of connected accounts may be signed with it). */
export const TEST_CONNECT_WEBHOOK_SECRET = 'whsec_test_bountyexpo_connect';

export function testConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  return parseConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: clusterEnv.databaseUrl,
    DATABASE_REPLICA_URLS: clusterEnv.replicaUrls,
    DATA_DIR: hasCluster ? undefined : mkdtempSync(join(tmpdir(), 'bx-pglite-')),
    BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
    BETTER_AUTH_URL: 'http://localhost:3000',
    REPLICA_PROBE_MS: '50',
    DB_CONNECT_TIMEOUT_S: '2',
    // A test key: the SDK talks to the app's local Stripe server (STRIPE_API_BASE, startTestApp).
    STRIPE_SECRET_KEY: LOCAL_STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    STRIPE_CONNECT_WEBHOOK_SECRET: TEST_CONNECT_WEBHOOK_SECRET,
    // Every test account is minutes old and deposits by card: the risk rules' new-account caps and
    // card hold would refuse most of what other tests do. Risk tests turn them on (tests/risk*.test.ts).
    ENABLE_RISK_MANAGEMENT: 'false',
    // Every request of the suite comes from one address: the per-IP and per-route limits are
    // tested on their own (tests/rate-limits.test.ts turns them on).
    RATE_LIMITS_ENABLED: 'false',
    ...overrides,
  });
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;

/** A random private IPv4, so rate-limit buckets never collide by accident. */
export const randomIp = (): string =>
  `10.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;

export type StartOptions = {
  /** Build the app's Better-Auth instance yourself (e.g. `advanced.disableOriginCheck: false`). */
  auth?: (deps: Omit<CreateAuthOptions, 'advanced'>) => Auth;
  /** Capture the app's log lines (e.g. tests/support/logs.ts); default: a logger at LOG_LEVEL. */
  logger?: Logger;
  /** The store Better-Auth's limiter and the app's count in (one, as src/app.ts builds it); default over this app's cluster. */
  rateLimitStore?: RateLimitStore;
  /** Sees every statement the request pools send (tests/query-plans.test.ts EXPLAINs them). */
  observeQueries?: QueryObserver;
  /**
   * Start the job queue: `true` with its workers (payouts, webhook reconciliation), `false` to
   * enqueue only. Left out, the queue is not started (tests of outages need no pg-boss schema).
   */
  work?: boolean;
  /** The clock webhook signatures are judged by. */
  now?: () => number;
  /** The marketplace's clock (deadlines, timers): see testClock(). */
  clock?: () => Date;
  /** The app's record of ended sessions and bans (src/lib/auth/revocations.ts), e.g. with a clock of the test's. */
  revocations?: SessionRevocations;
};

/** A clock a test moves by hand: the marketplace's timers are tested by moving it, never by sleeping. */
export function testClock(start: Date = new Date()) {
  let current = start.getTime();
  return {
    now: (): Date => new Date(current),
    advance(ms: number): Date {
      current += ms;
      return new Date(current);
    },
    advanceDays(days: number): Date {
      current += days * 86_400_000;
      return new Date(current);
    },
    set(at: Date): void {
      current = at.getTime();
    },
  };
}
export type TestClock = ReturnType<typeof testClock>;

export async function startTestApp(overrides: Record<string, string | undefined> = {}, options: StartOptions = {}) {
  // Each app has a local Stripe-compatible server of its own; its webhooks go to this app.
  const stripeServer: LocalStripe = await startLocalStripe({ port: 0, webhookSecret: TEST_WEBHOOK_SECRET });
  // Push and email go to the process's local Expo and SMTP servers (tests/support/delivery-servers.ts):
  // expo-server-sdk takes one base URL per process, so every app of the run shares them.
  const delivery = await deliveryServers();
  const config = testConfig({ STRIPE_API_BASE: stripeServer.url, ...delivery.overrides, ...overrides });
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = await DatabaseCluster.open(config.database, logger, options.observeQueries ? { observeQueries: options.observeQueries } : {});
  const lifecycle: Lifecycle = createLifecycle();
  const rateLimitStore = options.rateLimitStore ?? RateLimitStore.overCluster(database, logger);
  const auth = (options.auth ?? createAuth)({ config, database, logger, rateLimitStore });
  const stripe = createStripeClient(config.stripe);
  // A pg-boss schema per app: a worker here never takes another test file's jobs.
  const jobsSchema = `pgboss_t${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const jobs = JobQueue.create({ database, logger, schema: jobsSchema, pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
  // Short retries and expiries: a test waits seconds, not the minutes production backs off for.
  for (const definition of jobDefinitions({ stripe, marketplace: config.marketplace, notifications: config.notifications, conversations: config.conversations, risk: config.risk, analytics: config.analytics, retry: TEST_JOB_TIMING, ...(options.clock ? { now: options.clock } : {}) })) {
    jobs.define(definition);
  }
  if (hasCluster && options.work !== undefined) await jobs.start({ work: options.work });
  const clock = options.clock ?? (() => new Date());
  /** This app's NOTIFY bus; its LISTEN connection is `bountyexpo-listen-<instanceId>`. */
  const instanceId = `t${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const bus = new EventBus(database, logger, instanceId);
  /** This app's WebSockets (served by `listen()`). */
  const hub = new SocketHub({ database, logger, settings: config.sockets, typingAudience });
  const app = createApp({
    config, database, logger, lifecycle, auth, rateLimitStore, jobs, stripe, clock, bus, hub,
    ...(options.now ? { now: options.now } : {}),
    ...(options.revocations ? { revocations: options.revocations } : {}),
  });
  // The primary's first connection opened now: a subscriber's onListen write (the outbox relay's
  // sweep) would otherwise open it, and a test closing within milliseconds destroyed postgres-js's
  // type fetch on it, an unhandled rejection that failed the test. Best effort and bounded: tests
  // of outages start apps on a primary that hangs or is down.
  await Promise.race([database.primary.execute(sql`select 1`).catch(() => undefined), Bun.sleep(250)]);
  await bus.start();
  /** What the payment webhook calls to open a bounty paid by card (for tests that run the sweep themselves). */
  const fundBounty = bountyFunder({ marketplace: { settings: config.marketplace }, now: clock });
  stripeServer.setWebhookTarget((request) => app.handle(request));
  /** What src/serve.ts stamps from the socket; here each app has its own "client" address. */
  const clientIp = randomIp();
  let contract: Promise<ContractChecker | null> | null = null;
  /** The app's own API document, as a contract every response below is checked against. */
  const loadContract = async (): Promise<ContractChecker | null> => {
    if (!config.swaggerEnabled) return null;
    const response = await app.handle(new Request('http://localhost/swagger/json'));
    return response.ok ? contractChecker(await response.text()) : null;
  };
  /**
   * A request through app.handle; the base must be a real-looking host (Elysia's router needs it).
   * The response must conform to the API document (tests/support/contract.ts), else it throws.
   */
  const request = async (path: string, init: RequestInit & { json?: unknown; skipContract?: boolean } = {}) => {
    const { json, skipContract, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined) headers.set('content-type', 'application/json');
    if (!headers.has(CLIENT_IP_HEADER)) headers.set(CLIENT_IP_HEADER, clientIp);
    const outgoing = new Request(`http://localhost${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
    // In the request's root span when tracing is on, as src/serve.ts runs it (tests/tracing.test.ts).
    const response = await traceRequest(outgoing, () => app.handle(outgoing));
    if (skipContract) return response;
    contract ??= loadContract();
    const checker = await contract;
    const problems = checker ? await checker.check(outgoing.method, new URL(outgoing.url).pathname, response) : [];
    if (problems.length > 0) throw new Error(`the response breaks the API document:\n${problems.join('\n')}`);
    return response;
  };
  const servers: Array<ReturnType<typeof Bun.serve>> = [];
  /**
   * A real listening server, wired like src/server.ts (src/serve.ts: its checks in front, Bun's body
   * ceiling, WebSockets with their bounds). Sockets upgrade on the latest one listened.
   */
  const listen = () => {
    const server = serveApp({
      app,
      hub,
      trustedProxies: config.auth.trustedProxies,
      logger,
      publicUrl: config.auth.baseUrl,
      bodyLimitBytes: config.bodyLimitBytes,
      sockets: config.sockets,
      port: 0,
      hostname: '127.0.0.1',
    });
    servers.push(server);
    return server;
  };
  /**
   * Waits until the replicas have replayed everything committed so far: for reads by a client
   * that holds no read-your-writes token for those writes (anonymous, or another user).
   */
  const settle = async () => {
    const lsn = await database.currentWalInsertLsn();
    if (lsn === null) return;
    const { pending } = await database.waitForReplicas(lsn, 10_000);
    if (pending.length > 0) throw new Error(`replicas did not catch up: ${pending.join(', ')}`);
  };
  return {
    app,
    auth,
    config,
    database,
    jobs,
    jobsSchema,
    bus,
    hub,
    instanceId,
    stripe,
    clock,
    fundBounty,
    stripeServer,
    lifecycle,
    request,
    listen,
    settle,
    close: async () => {
      hub.stop();
      await Promise.all(servers.map((server) => server.stop(true)));
      await stripeServer.stop();
      await jobs.stop({ timeoutMs: 2_000 });
      await bus.stop();
      await database.close();
      // Without a cluster each app ran on its own throwaway PGlite directory (and only that one
      // is ever removed: never a developer's DATA_DIR).
      if (database.mode === 'embedded' && config.database.dataDir.startsWith(join(tmpdir(), 'bx-pglite-'))) {
        rmSync(config.database.dataDir, { recursive: true, force: true });
      }
    },
  };
}
